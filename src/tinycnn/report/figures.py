"""The aggregate's figures: one plotting function per kind, and :func:`write_figures`.

The plotting functions take the aggregate's tables (see :mod:`tinycnn.report.aggregate`) and return
a matplotlib :class:`~matplotlib.figure.Figure` sized for an A4 column (16 cm wide, fonts of 8 pt
and more at that size). Every figure draws an experiment in the same style
(:func:`experiment_styles`: its model's colour, shaded for further experiments of a model),
validation solid and training dashed, and the paper's numbers in grey.
:func:`write_figures` saves them as PNG and returns their figures.json entries.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    EngFormatter,
    FixedLocator,
    LogLocator,
    MaxNLocator,
    MultipleLocator,
    NullFormatter,
)

from tinycnn.config import beyond_paper
from tinycnn.report import facts
from tinycnn.report.formatting import fmt_acc, fmt_short, fmt_stated
from tinycnn.report.sentences import text
from tinycnn.shared.contract import FIGURE_KEYS
from tinycnn.shared.files import atomic_path

WIDTH = 16 / 2.54  # inches
DPI = 200
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.4,
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    # Tick labels say the value itself: 2.3031, never "1e-5 + 2.303" and an offset to add.
    "axes.formatter.useoffset": False,
}
PAPER_COLOR = "0.45"
# (column prefix, line style): validation solid, training dashed, in every figure. Every word
# a figure draws (titles, axes, legends) is the paper source's sentences/figures.html.j2.
SPLITS = (("val", "-"), ("train", "--"))
MARKERS = ("o", "s", "^", "D", "P", "X")
# How the k-th experiment of a model shades the model's colour: toward black (< 0) or white.
SHADES = (0.0, -0.4, 0.45, -0.65, 0.7)
# Series that coincide must not hide each other: the k-th of n series of a plot is drawn wider
# (and with bigger markers) than those drawn after it, so that a later one that lies on it shows
# inside it, and it shows around the later one. (Widths in points, markers in points.)
WIDEST, NARROWEST = 3.0, 1.1
BIGGEST, SMALLEST = 7.5, 3.5
# Markers of runs at one x (the runs of one model share its parameter count) are set apart by
# this factor along a log axis, around the shared value.
DODGE = 1.09


class Style(NamedTuple):
    color: str
    marker: str


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A fixed colour for each model, from the config's model order: tab10's, its grey (the
    paper's colour alone, PAPER_COLOR) replaced by a dark blue; past ten, tab20's without its
    greys."""
    if len(models) <= 10:
        palette = [to_hex(c) for c in mpl.colormaps["tab10"].colors]
        palette = [NOT_GREY if _grey(c) else c for c in palette]
    else:
        palette = [to_hex(c) for c in mpl.colormaps["tab20"].colors if not _grey(to_hex(c))]
    return {m: palette[i % len(palette)] for i, m in enumerate(models)}


NOT_GREY = "#393b79"  # tab20b's dark blue, in tab10's grey slot


def _grey(color: str) -> bool:
    """Whether ``color`` has no hue to tell it from the paper's grey."""
    red, green, blue = mpl.colors.to_rgb(color)
    return max(red, green, blue) - min(red, green, blue) < 0.05


def experiment_styles(config: Mapping[str, Any]) -> dict[str, Style]:
    """Colour and marker of every experiment, the same in all figures: its model's colour,
    shaded darker or lighter and with another marker for each further experiment of the same
    model (in the config's order)."""
    colors = model_colors(list(config["models"]))
    count: Counter[str] = Counter()
    styles = {}
    for name, exp in {**config["experiments"], **beyond_paper.experiments(config)}.items():
        k = count[exp["model"]]
        count[exp["model"]] += 1
        rgb = np.array(to_rgb(colors[exp["model"]]))
        mix = SHADES[k % len(SHADES)]
        shaded = rgb + (1 - rgb) * mix if mix > 0 else rgb * (1 + mix)
        styles[name] = Style(to_hex(shaded), MARKERS[k % len(MARKERS)])
    return styles


def _styled(plot: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under :data:`STYLE` without touching the global rcParams."""

    @functools.wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def _per_epoch(epochs: pd.DataFrame, experiment: str, column: str) -> pd.DataFrame:
    """Mean and standard deviation (NaN with one seed) of ``column`` over seeds, per epoch."""
    rows = epochs[epochs["experiment"] == experiment]
    return rows.groupby("epoch")[column].agg(["mean", "std"])


def _layer(k: int, n: int) -> dict[str, float]:
    """Line width and marker size of the k-th of n series drawn on one axes: the first
    widest, the last narrowest (see :data:`WIDEST`)."""
    t = k / (n - 1) if n > 1 else 1.0
    return {
        "lw": WIDEST + (NARROWEST - WIDEST) * t,
        "markersize": BIGGEST + (SMALLEST - BIGGEST) * t,
    }


def _curve(ax: Axes, stats: pd.DataFrame, color: str, **line: Any) -> None:
    """A mean line, with a ± std band where there are several seeds; markers for very short
    runs (a single epoch draws no line)."""
    if len(stats) < 3:  # solid (validation) lines get circles, dashed (training) squares
        line.setdefault("marker", "o" if line.get("ls", "-") == "-" else "s")
    ax.plot(stats.index, stats["mean"], color=color, **line)
    if stats["std"].notna().any():
        low, high = stats["mean"] - stats["std"], stats["mean"] + stats["std"]
        ax.fill_between(stats.index, low, high, color=color, alpha=0.2, linewidth=0)


def _axis(key: str) -> str:
    return text("figures", "axis", key)


def _legend(key: str, value: Any = None) -> str:
    return text("figures", "legend", key, value)


def _epoch_axes(axes: Sequence[Axes]) -> None:
    for ax, ylabel in zip(axes, ("accuracy", "loss"), strict=True):
        ax.set_xlabel(_axis("epoch"))
        ax.set_ylabel(_axis(ylabel))
        low, high = ax.get_xlim()
        if high - low < 2:  # one or two epochs: whole-epoch ticks, not 0.95 ... 1.05
            ax.set_xlim(min(low, 0.5), high + 0.5)
            ax.xaxis.set_major_locator(MultipleLocator(1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# Chance level (100 / classes %, what guessing reaches): a thin black line, in no colour of a
# run and unlike the paper's grey lines.
CHANCE_LINE = {"color": "black", "lw": 0.6, "ls": "-", "alpha": 0.7}


def _chance(ax: Axes, rows: pd.DataFrame, vertical: bool = False) -> list[Any]:
    """A line at each chance level the rows record (their ``chance_acc``, horizontal on an
    accuracy y axis, vertical on an accuracy x axis), and its legend handle; none where the
    rows record no chance level."""
    if "chance_acc" not in rows:
        return []
    levels = sorted({round(float(v), 6) for v in rows["chance_acc"].dropna()})
    for level in levels:
        (ax.axvline if vertical else ax.axhline)(level, **CHANCE_LINE, zorder=1.5, gid="chance")
    if not levels:
        return []
    label = _legend("chance", [f"{fmt_short(v)}%" for v in levels])
    return [Line2D([], [], **CHANCE_LINE, label=label)]


def _loss_scale(ax: Axes, rows: pd.DataFrame) -> None:
    """The loss axis read as it should be, from the rows' chance level (100 / classes %): a
    log scale where a curve blows up (past :func:`tinycnn.report.facts.blown_up_loss`, as
    :func:`tinycnn.report.facts.blew_up` reads it), so that it does not flatten the others;
    at least a tenth of ln classes tall, so that a flat curve's 10⁻⁴ wobble around a guess's
    loss does not read as a trend."""
    if "chance_acc" not in rows or rows["chance_acc"].dropna().empty:
        return
    classes = facts.classes(rows[rows["chance_acc"].notna()].iloc[0])
    guess = math.log(classes)
    high = max((max(line.get_ydata(), default=0) for line in ax.get_lines()), default=0)
    if high > facts.blown_up_loss(classes):
        ax.set_yscale("log")
        ax.set_ylabel(_axis("log_loss"))
        return
    low, top = ax.get_ylim()
    if top - low < guess / 10:
        middle = (low + top) / 2
        ax.set_ylim(middle - guess / 20, middle + guess / 20)


def _legend_below(fig: Figure, handles: Sequence[Any], ncol: int) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), ncol))


def _label(row: pd.Series) -> str:
    """How figures name an experiment: "run 2: m1_lr1e-3" (the paper's run number)."""
    run = row.get("run")
    return text("figures", "experiment", row["experiment"], run if pd.notna(run) else None)


@_styled
def plot_curves(epochs: pd.DataFrame, experiment: pd.Series, style: Style) -> Figure:
    """The paper's appendix figure for one experiment: accuracy (left) and loss (right) per
    epoch, training and validation, with the paper's reported accuracy in grey."""
    name = experiment["experiment"]
    fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
    acc_ax, loss_ax = fig.subplots(1, 2)
    for k, (prefix, ls) in enumerate(SPLITS):  # validation under training, wider
        acc = _per_epoch(epochs, name, f"{prefix}_acc")
        layer = _layer(k, len(SPLITS))
        _curve(acc_ax, acc, style.color, ls=ls, label=_legend(prefix), **layer)
        _curve(loss_ax, _per_epoch(epochs, name, f"{prefix}_loss"), style.color, ls=ls, **layer)
    last_epoch = acc.index.max()  # the same for both splits
    accuracy = experiment["paper_accuracy"]
    if pd.notna(accuracy):
        how = fmt_stated(accuracy, experiment["paper_stated"])
        acc_ax.axhline(accuracy, color=PAPER_COLOR, ls=":", label=_legend("paper_validation", how))
        peak = experiment["paper_best_epoch"]
        if pd.notna(peak) and peak <= last_epoch:
            acc_ax.plot(
                peak, accuracy, "*", markersize=9, color=PAPER_COLOR, label=_legend("paper_peak")
            )
    train = experiment["paper_train_accuracy"]
    if pd.notna(train):
        label = _legend("paper_training", fmt_short(train))
        acc_ax.axhline(train, color=PAPER_COLOR, ls="-.", label=label)
    chance = _chance(acc_ax, pd.DataFrame([experiment]))
    _epoch_axes((acc_ax, loss_ax))
    _loss_scale(loss_ax, pd.DataFrame([experiment]))
    _legend_below(fig, acc_ax.get_legend_handles_labels()[0] + chance, ncol=3)
    return fig


@_styled
def plot_comparison(
    epochs: pd.DataFrame, experiments: pd.DataFrame, styles: Mapping[str, Style]
) -> Figure:
    """The experiments of ``experiments`` side by side: validation and training accuracy
    (left) and loss (right) per epoch."""
    fig = Figure(figsize=(WIDTH, 3.2), layout="constrained")
    acc_ax, loss_ax = fig.subplots(1, 2)
    handles: list[Any] = []
    n = len(experiments) * len(SPLITS)
    for i, (_, row) in enumerate(experiments.iterrows()):
        name, style = row["experiment"], styles[row["experiment"]]
        for j, (prefix, ls) in enumerate(SPLITS):
            line = {"ls": ls, "marker": style.marker, **_layer(i * len(SPLITS) + j, n)}
            _curve(acc_ax, _per_epoch(epochs, name, f"{prefix}_acc"), style.color, **line)
            _curve(loss_ax, _per_epoch(epochs, name, f"{prefix}_loss"), style.color, **line)
        handles.append(Line2D([], [], color=style.color, marker=style.marker, label=_label(row)))
    _epoch_axes((acc_ax, loss_ax))
    _loss_scale(loss_ax, experiments)
    handles += [Line2D([], [], color="black", ls=ls, label=_legend(p)) for p, ls in SPLITS]
    _legend_below(fig, handles + _chance(acc_ax, experiments), ncol=4)
    return fig


def _annotate(ax: Axes, text: str, x: float, y: float) -> None:
    ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)


@_styled
def plot_paper_vs_ours(experiments: pd.DataFrame, styles: Mapping[str, Style]) -> Figure:
    """Best validation accuracy of every experiment (coloured bars, ± std over seeds) beside
    the paper's (grey): solid when stated exactly, hatched when approximate ("~"), an arrow
    from the bound for an upper bound ("below")."""
    n = len(experiments)
    fig = Figure(figsize=(WIDTH, 1.4 + 0.34 * n), layout="constrained")
    ax = fig.subplots()
    for y, (_, row) in enumerate(experiments.iterrows()):
        ours, std = row["best_val_acc_mean"], row["best_val_acc_std"]
        several = row["n_seeds"] > 1
        ax.barh(
            y - 0.2,
            ours,
            height=0.38,
            color=styles[row["experiment"]].color,
            xerr=std if several else None,
            error_kw={"elinewidth": 0.8, "capsize": 2},
        )
        _annotate(ax, fmt_acc(ours, std, 2 if several else 1), ours + std, y - 0.2)
        paper, how = row["paper_accuracy"], row["paper_stated"]
        if pd.isna(paper):
            continue
        if how == "below":
            ax.errorbar(
                paper, y + 0.2, xerr=min(6.0, paper), xuplims=True, fmt="|", color=PAPER_COLOR
            )
        else:
            ax.barh(
                y + 0.2,
                paper,
                height=0.38,
                color="0.8" if how == "exact" else "white",
                edgecolor=PAPER_COLOR,
                hatch="////" if how == "approx" else None,
                linewidth=0.8,
            )
        _annotate(ax, fmt_stated(paper, how).removesuffix("%"), paper, y + 0.2)
    ax.set_yticks(range(n), [_label(row) for _, row in experiments.iterrows()])
    ax.invert_yaxis()
    ax.set_xlabel(_axis("best_accuracy"))
    right = (experiments["best_val_acc_mean"] + experiments["best_val_acc_std"]).max()
    ax.set_xlim(0, 1.15 * np.nanmax([right, experiments["paper_accuracy"].max()]))
    ax.grid(axis="y", visible=False)
    handles = [
        Patch(color=styles[experiments["experiment"].iloc[0]].color, label=_legend("this_run")),
        Patch(facecolor="0.8", edgecolor=PAPER_COLOR, label=_legend("paper")),
        Patch(
            facecolor="white", edgecolor=PAPER_COLOR, hatch="////", label=_legend("paper_approx")
        ),
        Line2D([], [], color=PAPER_COLOR, marker="<", label=_legend("paper_bound")),
        *_chance(ax, experiments, vertical=True),
    ]
    _legend_below(fig, handles, ncol=4)
    return fig


def _accuracy_scatter(
    experiments: pd.DataFrame, x: str, styles: Mapping[str, Style], xerr: str | None = None
) -> tuple[Figure, Axes, list[Any], dict[str, float]]:
    """Our best validation accuracy (filled markers, ± std) against column ``x`` (log scale),
    one legend entry per experiment, and where each experiment's marker stands on the x axis
    (set apart from others at the same x, :func:`_dodged`)."""
    fig = Figure(figsize=(WIDTH, 3.6), layout="constrained")
    ax = fig.subplots()
    handles = []
    at = dict(zip(experiments["experiment"], _dodged(experiments[x]), strict=True))
    for _, row in experiments.iterrows():
        x_at = at[row["experiment"]]
        style, several = styles[row["experiment"]], row["n_seeds"] > 1
        handles.append(
            ax.errorbar(
                x_at,
                row["best_val_acc_mean"],
                yerr=row["best_val_acc_std"] if several else None,
                xerr=row[xerr] if xerr and several else None,
                fmt=style.marker,
                markersize=6,
                color=style.color,
                elinewidth=0.8,
                capsize=2,
                label=_label(row),
            )
        )
    ax.set_xscale("log")
    _log_ticks(ax)
    ax.set_ylabel(_axis("best_accuracy"))
    return fig, ax, handles + _chance(ax, experiments), at


def _dodged(values: pd.Series) -> list[float]:
    """``values`` with the markers that would fall on one x set apart by :data:`DODGE` around
    it (in the order given), so that none hides another."""
    groups = values.groupby(values.round(6)).groups
    out = list(values.astype(float))
    for members in groups.values():
        m = len(members)
        for k, index in enumerate(members):
            out[values.index.get_loc(index)] *= DODGE ** (k - (m - 1) / 2)
    return out


def _log_ticks(ax: Axes, least: int = 3) -> None:
    """Readable major ticks on a log x axis, labelled 10, 20, 500k, 1M: at 1, 2 and 5 of each
    decade; at every digit where that leaves fewer than ``least`` inside the axis (a range of
    less than a decade); else ``least`` round values spread over the range."""
    low, high = ax.get_xlim()
    for subs in ((1.0, 2.0, 5.0), tuple(float(d) for d in range(1, 10))):
        ticks = [t for t in LogLocator(subs=subs).tick_values(low, high) if low <= t <= high]
        if len(ticks) >= least:
            ax.xaxis.set_major_locator(LogLocator(subs=subs))
            break
    else:
        spread = np.geomspace(low, high, least + 2)[1:-1]
        ax.xaxis.set_major_locator(FixedLocator([float(f"{v:.2g}") for v in spread]))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())


@_styled
def plot_accuracy_vs_parameters(experiments: pd.DataFrame, styles: Mapping[str, Style]) -> Figure:
    """Best validation accuracy against the parameter count (log x), with the paper's accuracy
    of the same run as a hollow marker joined to ours (an arrow down for an upper bound)."""
    fig, ax, handles, at = _accuracy_scatter(experiments, "parameters", styles)
    for _, row in experiments[experiments["paper_accuracy"].notna()].iterrows():
        style, x, paper = styles[row["experiment"]], at[row["experiment"]], row["paper_accuracy"]
        ax.plot([x, x], [paper, row["best_val_acc_mean"]], color=style.color, lw=0.6, alpha=0.6)
        below = row["paper_stated"] == "below"
        ax.errorbar(
            x,
            paper,
            yerr=3.0 if below else None,
            uplims=below,
            fmt=style.marker,
            markersize=6,
            mfc="white",
            color=style.color,
            elinewidth=0.8,
        )
    ax.set_xlabel(_axis("parameters"))
    handles += [
        Line2D([], [], color="black", marker="o", ls="none", label=_legend("this_run")),
        Line2D([], [], color="black", marker="o", mfc="white", ls="none", label=_legend("paper")),
    ]
    fig.legend(handles=handles, loc="outside right upper")
    return fig


@_styled
def plot_accuracy_vs_time(experiments: pd.DataFrame, styles: Mapping[str, Style]) -> Figure:
    """Best validation accuracy against the wall time of training (log x)."""
    fig, ax, handles, _ = _accuracy_scatter(
        experiments, "wall_seconds_mean", styles, xerr="wall_seconds_std"
    )
    ax.set_xlabel(_axis("wall_time"))
    fig.legend(handles=handles, loc="outside right upper")
    return fig


def save_png(fig: Figure, path: Path) -> None:
    """Save ``fig`` atomically as a PNG at :data:`DPI`, without a timestamp or version."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})


def write_figures(
    runs: pd.DataFrame,
    experiments: pd.DataFrame,
    epochs: pd.DataFrame,
    config: Mapping[str, Any],
    out_dir: Path,
    beyond_rows: pd.DataFrame | None = None,
    beyond_epochs: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Save every figure under ``out_dir/figures`` and return the figures.json entries.

    A comparison of ``report.comparisons`` is left out unless all its experiments have runs;
    without any experiment (no run yet), so are the figures of all experiments. With rows of
    beyond.csv (``beyond_rows``, their runs' epochs in ``beyond_epochs``), the figure
    ``beyond`` sets their curves side by side.
    """
    styles = experiment_styles(config)
    entries: list[dict[str, Any]] = []

    def save(fig: Figure, name: str, kind: str, title: str, **keys: Any) -> None:
        save_png(fig, Path(out_dir) / "figures" / f"{name}.png")
        entry = {"file": f"figures/{name}.png", "kind": kind, "title": title}
        entries.append({k: entry.get(k, keys.get(k)) for k in FIGURE_KEYS})

    for _, row in experiments.iterrows():
        name = row["experiment"]
        save(
            plot_curves(epochs, row, styles[name]),
            f"curves_{name}",
            "curves",
            text("figures", "title", "curves", name),
            experiment=name,
        )
    if experiments.empty:  # nothing measured: no figure of the paper's runs
        return _beyond_figure(entries, save, beyond_rows, beyond_epochs, styles)
    save(
        plot_paper_vs_ours(experiments, styles),
        "paper_vs_ours",
        "paper_vs_ours",
        text("figures", "title", "paper_vs_ours"),
    )
    by_name = experiments.set_index("experiment", drop=False)
    for comparison in config["report"].get("comparisons", []):
        names = comparison["experiments"]
        if not set(names) <= set(by_name.index):
            continue
        shown = by_name.loc[names]
        save(
            plot_comparison(epochs, shown, styles),
            f"comparison_{comparison['id']}",
            "comparison",
            comparison["title"],
            comparison=comparison["id"],
        )
    save(
        plot_accuracy_vs_parameters(experiments, styles),
        "accuracy_vs_parameters",
        "accuracy_vs_parameters",
        text("figures", "title", "accuracy_vs_parameters"),
    )
    save(
        plot_accuracy_vs_time(experiments, styles),
        "accuracy_vs_time",
        "accuracy_vs_time",
        text("figures", "title", "accuracy_vs_time"),
    )
    return _beyond_figure(entries, save, beyond_rows, beyond_epochs, styles)


def _beyond_figure(
    entries: list[dict[str, Any]],
    save: Callable[..., None],
    rows: pd.DataFrame | None,
    epochs: pd.DataFrame | None,
    styles: Mapping[str, Style],
) -> list[dict[str, Any]]:
    """The figure ``beyond`` of beyond.csv's rows, where it has rows; ``entries`` with it."""
    if rows is not None and not rows.empty:
        save(
            plot_comparison(epochs, rows, styles),
            "beyond",
            "beyond",
            text("figures", "title", "beyond"),
        )
    return entries
