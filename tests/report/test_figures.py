"""Figures: one colour per model in every figure, the paper's statements drawn honestly, and
the style kept out of matplotlib's global settings. Tables are small and written by hand;
test_aggregate_*.py check the files aggregate writes."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tinycnn.report.elements import Figure as PaperFigure
from tinycnn.report.figure_records import curves_about
from tinycnn.report.figures import (
    DODGE,
    experiment_styles,
    model_colors,
    plot_accuracy_vs_parameters,
    plot_accuracy_vs_time,
    plot_comparison,
    plot_curves,
    plot_paper_vs_ours,
)
from tinycnn.report.formatting import fmt_stated as stated
from tinycnn.report.render import environment
from tinycnn.report.source import paper_source


def curves_caption(row: dict) -> str:
    """The caption of ``row``'s curves as the paper's template words it."""
    captions = environment(paper_source()).get_template("captions.html.j2").module
    figure = PaperFigure("f", "Figure A1", [], "curves", about=curves_about(row))
    return captions.curves(figure).striptags()  # as read: entities unescaped, spaces one


CONFIG = {
    "models": {"M1": {"arch": "m1"}, "M4": {"arch": "m4"}, "AlexNet": {"arch": "alexnet"}},
    "experiments": {
        "m1_a": {"model": "M1"},
        "m4": {"model": "M4"},
        "m1_b": {"model": "M1"},
        "alexnet": {"model": "AlexNet"},
    },
}
EXPERIMENTS = pd.DataFrame(
    {
        "experiment": ["m1_a", "m1_b", "alexnet"],
        "run": pd.array([1, 2, None], dtype="Int64"),
        "model": ["M1", "M1", "AlexNet"],
        "n_seeds": [2, 1, 1],
        "best_val_acc_mean": [30.0, 25.0, 15.0],
        "best_val_acc_std": [1.5, 0.0, 0.0],
        "parameters": [535_290, 535_290, 61_110_850],
        "wall_seconds_mean": [100.0, 90.0, 2000.0],
        "wall_seconds_std": [5.0, 0.0, 0.0],
        "paper_accuracy": [29.5, 22.0, 20.0],
        "paper_stated": ["exact", "approx", "below"],
        "paper_best_epoch": pd.array([2, None, None], dtype="Int64"),
        "paper_train_accuracy": [55.0, np.nan, np.nan],
    }
)
EPOCHS = pd.DataFrame(
    [
        {
            "experiment": name,
            "seed": seed,
            "epoch": epoch,
            "train_acc": 10.0 * epoch + seed,
            "val_acc": 8.0 * epoch - seed,
            "train_loss": 3.0 / epoch,
            "val_loss": 3.5 / epoch + seed,
        }
        for name, seeds in (("m1_a", 2), ("m1_b", 1), ("alexnet", 1))
        for seed in range(seeds)
        for epoch in (1, 2, 3)
    ]
)


def test_model_colors_follow_the_config_order() -> None:
    colors = model_colors(["M1", "M4", "AlexNet"])
    tab10 = [to_hex(c) for c in mpl.colormaps["tab10"].colors]
    assert list(colors.values()) == tab10[:3]
    # A model keeps its colour whichever models come after it.
    assert model_colors(["M1", "M4"]) == {k: colors[k] for k in ("M1", "M4")}
    assert len(set(model_colors([f"m{i}" for i in range(15)]).values())) == 15


@pytest.mark.parametrize("n", [10, 18])
def test_no_model_is_drawn_in_the_paper_s_grey(n: int) -> None:
    """Grey is the paper's alone: tab10's eighth colour (the tenth model's, ResNet18-64 in the
    config) and tab20's greys are no model's."""
    from matplotlib.colors import to_rgb

    from tinycnn.report.figures import PAPER_COLOR

    colors = list(model_colors([f"m{i}" for i in range(n)]).values())
    assert len(set(colors)) == n
    for color in [*colors, *(s.color for s in experiment_styles(CONFIG).values())]:
        red, green, blue = to_rgb(color)
        assert max(red, green, blue) - min(red, green, blue) > 0.1, color
    assert to_rgb(PAPER_COLOR) == (0.45, 0.45, 0.45)


def test_experiment_styles() -> None:
    styles = experiment_styles(CONFIG)
    colors = model_colors(list(CONFIG["models"]))
    assert styles["m1_a"] == (colors["M1"], "o")
    assert styles["m4"] == (colors["M4"], "o")
    assert styles["alexnet"] == (colors["AlexNet"], "o")
    # A second experiment of M1: another shade of the same hue, another marker.
    assert styles["m1_b"].color != colors["M1"] and styles["m1_b"].marker == "s"
    assert mpl.colors.rgb_to_hsv(mpl.colors.to_rgb(styles["m1_b"].color))[0] == pytest.approx(
        mpl.colors.rgb_to_hsv(mpl.colors.to_rgb(colors["M1"]))[0], abs=0.01
    )


def _line_colors(fig: Figure) -> set[str]:
    return {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}


def test_an_experiment_has_one_colour_in_every_figure() -> None:
    styles = experiment_styles(CONFIG)
    m1_a, m1_b = styles["m1_a"].color, styles["m1_b"].color
    curves = plot_curves(EPOCHS, EXPERIMENTS.iloc[0], styles["m1_a"])
    assert m1_a in _line_colors(curves)
    comparison = plot_comparison(EPOCHS, EXPERIMENTS.iloc[:2], styles)
    assert {m1_a, m1_b} <= _line_colors(comparison)
    bars = plot_paper_vs_ours(EXPERIMENTS, styles)
    faces = [to_hex(p.get_facecolor()) for p in bars.axes[0].patches]
    assert faces[0] == m1_a
    for plot in (plot_accuracy_vs_parameters, plot_accuracy_vs_time):
        assert {m1_a, m1_b} <= _line_colors(plot(EXPERIMENTS, styles))


def test_paper_vs_ours_marks_how_the_paper_states_it() -> None:
    fig = plot_paper_vs_ours(EXPERIMENTS, experiment_styles(CONFIG))
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    # Three bars of ours, and paper bars only for the exact and the approximate value:
    # "below 20%" is an arrow, not a bar.
    assert len(bars) == 5
    hatched = [p for p in bars if p.get_hatch()]
    assert [p.get_width() for p in hatched] == [22.0]
    labels = [t.get_text() for t in ax.texts]
    assert {"30.0 ± 1.5", "25.0", "29.5", "~22", "below 20"} <= set(labels)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["run 1: m1_a", "run 2: m1_b", "alexnet"]


def test_curves_show_the_paper_and_a_band_for_several_seeds() -> None:
    fig = plot_curves(EPOCHS, EXPERIMENTS.iloc[0], experiment_styles(CONFIG)["m1_a"])
    acc_ax, loss_ax = fig.axes
    assert acc_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy (%)"
    assert loss_ax.get_ylabel() == "loss (cross-entropy)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "validation",
        "training",
        "paper: validation 29.5%",
        "paper: peak",
        "paper: training 55%",
    ]
    assert len(acc_ax.collections) == 2  # ± std bands of validation and training
    one_seed = plot_curves(EPOCHS, EXPERIMENTS.iloc[1], experiment_styles(CONFIG)["m1_b"])
    assert not one_seed.axes[0].collections


def test_accuracy_figures_draw_chance_level_where_the_rows_record_it() -> None:
    """Every figure with an accuracy axis draws a thin black line at chance level (100 /
    classes %, the rows' chance_acc), named in its legend; without chance_acc, none."""
    styles = experiment_styles(CONFIG)
    rows = EXPERIMENTS.assign(chance_acc=0.5)

    def chance_lines(fig: Figure) -> list[tuple[list, list]]:
        return [
            (list(ln.get_xdata()), list(ln.get_ydata()))
            for ax in fig.axes
            for ln in ax.get_lines()
            if ln.get_gid() == "chance"
        ]

    def legend(fig: Figure) -> list[str]:
        return [t.get_text() for leg in fig.legends for t in leg.get_texts()]

    horizontal = [([0, 1], [0.5, 0.5])]
    for fig in (
        plot_curves(EPOCHS, rows.iloc[0], styles["m1_a"]),
        plot_comparison(EPOCHS, rows.iloc[:2], styles),
        plot_accuracy_vs_parameters(rows, styles),
        plot_accuracy_vs_time(rows, styles),
    ):
        assert chance_lines(fig) == horizontal
        assert "chance level (0.5%)" in legend(fig)
    bars = plot_paper_vs_ours(rows, styles)
    assert chance_lines(bars) == [([0.5, 0.5], [0, 1])]  # accuracy on x: a vertical line
    assert "chance level (0.5%)" in legend(bars)
    assert not chance_lines(plot_curves(EPOCHS, EXPERIMENTS.iloc[0], styles["m1_a"]))


def test_style_stays_local() -> None:
    before = dict(mpl.rcParams)
    plot_accuracy_vs_time(EXPERIMENTS, experiment_styles(CONFIG))
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize(
    ("how", "text"), [("exact", "29.5%"), ("approx", "~29.5%"), ("below", "below 29.5%")]
)
def test_stated(how: str, text: str) -> None:
    assert stated(29.5, how) == text


def test_captions_print_numbers_as_the_tables_do() -> None:
    row = {
        "experiment": "alexnet", "model": "AlexNet", "sets": "set1+set2", "mode": "fixed",
        "lr": 0.001, "scheduler": "StepLR(7, 0.1)", "n_seeds": 1, "epochs": 20,
        "paper_accuracy": 20.0, "paper_stated": "below", "paper_figure": 7,
        "paper_best_epoch": None, "paper_train_accuracy": None,
    }  # fmt: skip
    caption = curves_caption(row)
    assert "learning rate 1e-3, scheduler StepLR(7, 0.1)." in caption
    assert "The paper: < 20% (its Figure 7)." in caption
    assert "0.001" not in caption and "below 20" not in caption
    approx = curves_caption({**row, "lr": 2.5e-4, "paper_accuracy": 22.0, "paper_stated": "approx"})
    assert "learning rate 2.5e-4" in approx and "The paper: ~22% at best (its Figure 7)." in approx
    # The paper's numbers of the run, not a promise of what is drawn: a star off the axis of a
    # run shorter than the paper's peak epoch is named only in the legend, where it is drawn.
    peak = curves_caption({**row, "paper_stated": "exact", "paper_best_epoch": 7})
    assert "at best (its Figure 7), at epoch 7." in peak and "star" not in peak


# --- what is plotted: the tables' numbers, in the right place -----------------------------------


def _mean(epochs: pd.DataFrame, experiment: str, column: str) -> list[float]:
    """``column`` of ``experiment`` per epoch, averaged over seeds (what a curve draws)."""
    rows = epochs[epochs["experiment"] == experiment]
    return list(rows.groupby("epoch")[column].mean())


def _curves(ax, color: str | None = None) -> dict[str, list]:
    """The epoch curves of ``ax`` (of one colour), by line style: "-" validation, "--" training;
    each as (x, y) lists."""
    out: dict[str, list] = {}
    for line in ax.get_lines():
        if line.get_gid() == "chance":  # the line at chance level, no curve
            continue
        if line.get_linestyle() in ("-", "--") and color in (None, to_hex(line.get_color())):
            assert line.get_linestyle() not in out, "one curve of each split"
            out[line.get_linestyle()] = [list(line.get_xdata()), list(line.get_ydata())]
    return out


def test_curves_plot_validation_solid_and_training_dashed_means_over_seeds() -> None:
    for i in range(len(EXPERIMENTS)):
        row = EXPERIMENTS.iloc[i]
        name = row["experiment"]
        fig = plot_curves(EPOCHS, row, experiment_styles(CONFIG)[name])
        acc_ax, loss_ax = fig.axes
        acc, loss = _curves(acc_ax), _curves(loss_ax)
        assert acc == {
            "-": [[1, 2, 3], _mean(EPOCHS, name, "val_acc")],
            "--": [[1, 2, 3], _mean(EPOCHS, name, "train_acc")],
        }, name
        assert loss == {
            "-": [[1, 2, 3], _mean(EPOCHS, name, "val_loss")],
            "--": [[1, 2, 3], _mean(EPOCHS, name, "train_loss")],
        }, name
        # the legend names the solid line validation and the dashed one training
        labels = {line.get_label(): line.get_linestyle() for line in acc_ax.get_lines()}
        assert (labels["validation"], labels["training"]) == ("-", "--")
    # m1_a has two seeds: the seeds' mean, not one seed (8 * epoch - seed: minus 0.5)
    assert _mean(EPOCHS, "m1_a", "val_acc") == [7.5, 15.5, 23.5]
    # the paper's accuracy is a grey line at its value, its best epoch a star there
    acc_ax = plot_curves(EPOCHS, EXPERIMENTS.iloc[0], experiment_styles(CONFIG)["m1_a"]).axes[0]
    lines = {line.get_label(): line for line in acc_ax.get_lines()}
    assert list(lines["paper: validation 29.5%"].get_ydata()) == [29.5, 29.5]
    assert list(lines["paper: peak"].get_xydata()[0]) == [2, 29.5]
    assert list(lines["paper: training 55%"].get_ydata()) == [55.0, 55.0]


def test_comparison_plots_each_experiment_in_its_colour() -> None:
    styles = experiment_styles(CONFIG)
    fig = plot_comparison(EPOCHS, EXPERIMENTS.iloc[:2], styles)
    acc_ax, loss_ax = fig.axes
    for name in ("m1_a", "m1_b"):
        color = styles[name].color
        assert _curves(acc_ax, color) == {
            "-": [[1, 2, 3], _mean(EPOCHS, name, "val_acc")],
            "--": [[1, 2, 3], _mean(EPOCHS, name, "train_acc")],
        }, name
        assert _curves(loss_ax, color) == {
            "-": [[1, 2, 3], _mean(EPOCHS, name, "val_loss")],
            "--": [[1, 2, 3], _mean(EPOCHS, name, "train_loss")],
        }, name


def _bars(ax) -> dict[float, float]:
    """Bar length by the bar's centre on the y axis, rounded."""
    return {
        round(p.get_y() + p.get_height() / 2, 2): p.get_width()
        for p in ax.patches
        if isinstance(p, Rectangle)
    }


def test_paper_vs_ours_bars_are_the_tables_values_in_the_labelled_rows() -> None:
    fig = plot_paper_vs_ours(EXPERIMENTS, experiment_styles(CONFIG))
    ax = fig.axes[0]
    bars = _bars(ax)
    ticks = {
        t.get_text(): round(y, 2)
        for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)
    }
    expected = {}
    for _, row in EXPERIMENTS.iterrows():
        label = f"run {row['run']}: {row['experiment']}" if pd.notna(row["run"]) else "alexnet"
        y = ticks[label]
        expected[round(y - 0.2, 2)] = row["best_val_acc_mean"]  # ours above
        if row["paper_stated"] != "below":
            expected[round(y + 0.2, 2)] = row["paper_accuracy"]  # the paper's below it
    assert bars == expected
    # the error bar of the experiment with several seeds spans mean ± std
    (segment,) = [
        c.errorbar.lines[2][0].get_segments()[0]
        for c in ax.containers
        if getattr(c, "errorbar", None) is not None
    ]
    assert [list(point) for point in segment] == [[28.5, -0.2], [31.5, -0.2]]
    # an upper bound is an arrow from the paper's number, on the row of its experiment
    arrows = [
        list(c.lines[0].get_xydata()[0])
        for c in ax.containers
        if isinstance(c, ErrorbarContainer) and c.lines[0] is not None
    ]
    assert arrows == [[20.0, ticks["alexnet"] + 0.2]]


@pytest.mark.parametrize(
    ("plot", "x"),
    [(plot_accuracy_vs_parameters, "parameters"), (plot_accuracy_vs_time, "wall_seconds_mean")],
)
def test_scatter_points_are_the_tables_values(plot, x: str) -> None:
    ax = plot(EXPERIMENTS, experiment_styles(CONFIG)).axes[0]
    points = {c.get_label(): list(c.lines[0].get_xydata()[0]) for c in ax.containers}
    for _, row in EXPERIMENTS.iterrows():
        label = f"run {row['run']}: {row['experiment']}" if pd.notna(row["run"]) else "alexnet"
        px, py = points[label]
        # at the table's value, or set apart from a run at the same x by at most DODGE
        assert py == row["best_val_acc_mean"] and row[x] / DODGE <= px <= row[x] * DODGE, label
        shared = (EXPERIMENTS[x] == row[x]).sum() > 1
        assert (px == row[x]) != shared, label


# --- nothing hidden, nothing to decode -----------------------------------------------------------

SAME = pd.DataFrame(  # two runs of one model with the same numbers everywhere
    {
        **{k: v[:2] for k, v in EXPERIMENTS.to_dict("list").items()},
        "n_seeds": [1, 1],
        "best_val_acc_mean": [10.0, 10.0],
        "best_val_acc_std": [0.0, 0.0],
        "wall_seconds_mean": [9.0, 12.0],
        "wall_seconds_std": [0.0, 0.0],
    }
)
FLAT = pd.DataFrame(  # 10% training and validation accuracy, losses a few 1e-6 apart
    [
        {"experiment": name, "seed": 0, "epoch": epoch, "train_acc": 10.0, "val_acc": 10.0,
         "train_loss": 2.303010 + 2e-6 * epoch, "val_loss": 2.303000 - 2e-6 * epoch}
        for name in ("m1_a", "m1_b")
        for epoch in (1, 2)
    ]
)  # fmt: skip


def _coinciding(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of lines with the same points where the one drawn first is not the wider (its
    line and its markers): the later one would hide it."""
    hidden = []
    for ax in fig.axes:
        lines = [
            ln for ln in ax.get_lines() if len(ln.get_xdata()) and ln.get_label()[:5] != "paper"
        ]
        for i, a in enumerate(lines):
            for b in lines[i + 1 :]:
                same = np.array_equal(a.get_xydata(), b.get_xydata())
                wider = a.get_linewidth() > b.get_linewidth()
                bigger = a.get_marker() in ("None", "") or a.get_markersize() > b.get_markersize()
                if same and not (wider and bigger):
                    hidden.append((a.get_label(), b.get_label()))
    return hidden


def test_series_that_coincide_stay_visible() -> None:
    styles = experiment_styles(CONFIG)
    # training and validation of one run on the same points; two runs on the same points
    assert _coinciding(plot_curves(FLAT, SAME.iloc[0], styles["m1_a"])) == []
    assert _coinciding(plot_comparison(FLAT, SAME, styles)) == []
    # the check sees a hidden series: the same line drawn twice alike
    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2], [10, 10], lw=1.3)
    ax.plot([1, 2], [10, 10], lw=1.3)
    assert len(_coinciding(fig)) == 1
    # two runs of one model (one parameter count) at one accuracy: two markers, set apart
    ax = plot_accuracy_vs_parameters(SAME, styles).axes[0]
    ours = [tuple(c.lines[0].get_xydata()[0]) for c in ax.containers if c.get_label()[:3] == "run"]
    assert len(ours) == 2 and ours[0] != ours[1]


def _tick_labels(fig: Figure) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]


def test_no_axis_needs_an_offset_to_read() -> None:
    fig = plot_curves(FLAT, SAME.iloc[0], experiment_styles(CONFIG)["m1_a"])
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.yaxis.get_major_formatter().get_offset() == ""
        assert ax.xaxis.get_major_formatter().get_offset() == ""
    assert any(label.startswith("2.303") for label in _tick_labels(fig))


def test_a_log_axis_of_less_than_a_decade_has_readable_ticks() -> None:
    # 9 to 12 seconds: no power of ten and no 2 or 5 inside; ticks at every digit instead
    ax = plot_accuracy_vs_time(SAME, experiment_styles(CONFIG)).axes[0]
    low, high = ax.get_xlim()
    ax.figure.canvas.draw()
    shown = [
        t.get_text()
        for t in ax.get_xticklabels()
        if t.get_text() and low <= t.get_position()[0] <= high
    ]
    assert len(shown) >= 3, shown


def test_a_loss_that_blows_up_is_drawn_on_a_log_axis_and_a_flat_one_is_not_magnified() -> None:
    """A curve past twice a guess's loss (2 ln classes) puts the loss axis on a log scale, so
    the others are not flattened; a loss flat at a guess's (ln classes, ±10⁻⁴) gets an axis at
    least a tenth of ln classes tall, not one that makes its wobble a trend."""
    styles = experiment_styles(CONFIG)
    rows = EXPERIMENTS.assign(chance_acc=0.5)  # 200 classes: a guess's loss is ln 200 = 5.30
    blown = EPOCHS.copy()
    blown.loc[blown["experiment"] == "m1_b", "val_loss"] = 443.0
    loss_ax = plot_comparison(blown, rows.iloc[:2], styles).axes[1]
    assert loss_ax.get_yscale() == "log" and "log scale" in loss_ax.get_ylabel()
    assert plot_comparison(EPOCHS, rows.iloc[:2], styles).axes[1].get_yscale() == "linear"
    flat = EPOCHS.copy()
    flat["val_loss"] = math.log(200) + 1e-4 * (flat["epoch"] % 2)
    flat["train_loss"] = math.log(200) - 1e-4 * (flat["epoch"] % 2)
    low, high = plot_curves(flat, rows.iloc[0], styles["m1_a"]).axes[1].get_ylim()
    assert high - low >= math.log(200) / 10 - 1e-9 and low < math.log(200) < high


def test_a_figure_draws_the_words_of_the_paper_source_it_is_given(tmp_path) -> None:
    """The axes' and legends' words are the paper source's (sentences/figures.html.j2): an edit
    there is what the figure draws, and the source being rendered is the one read."""
    import shutil

    from tinycnn.report import sentences

    source = tmp_path / "report"
    shutil.copytree(paper_source(), source)
    words = source / "sentences" / "figures.html.j2"
    words.write_text(
        words.read_text(encoding="utf-8")
        .replace('"best validation accuracy (%)"', '"beste Validierungsgenauigkeit (%)"')
        .replace('"this run": "this run"', '"this_run": "dieser Lauf"')
        .replace('"this_run": "this run"', '"this_run": "dieser Lauf"'),
        encoding="utf-8",
    )
    ours = plot_paper_vs_ours(EXPERIMENTS, experiment_styles(CONFIG))
    with sentences.source_folder(source):
        theirs = plot_paper_vs_ours(EXPERIMENTS, experiment_styles(CONFIG))
    assert ours.axes[0].get_xlabel() == "best validation accuracy (%)"
    assert theirs.axes[0].get_xlabel() == "beste Validierungsgenauigkeit (%)"
    legend = [t.get_text() for t in theirs.legends[0].get_texts()]
    assert "dieser Lauf" in legend and "this run" not in legend


def test_a_set_that_chains_two_others_is_said_to_in_the_preview_caption() -> None:
    """set1_then_set2 (the sequential ablation's set, which Table 1 does not list) is set1's
    operations but its normalization, then set2's: Figure 1's caption says so."""
    from tinycnn.report.elements import Image, Numbering
    from tinycnn.report.figure_records import composition, preview_figure

    flip, norm = {"op": "random_horizontal_flip", "p": 0.5}, {"op": "normalize"}
    rotate = {"op": "random_rotation", "degrees": 10}
    sets = {"set1": [flip, norm], "set2": [rotate, norm], "set1_then_set2": [flip, rotate, norm]}
    assert composition(sets, "set1_then_set2") == ["set1", "set2"]
    assert composition(sets, "set1") is None and composition(sets, "set2") is None
    assert composition({**sets, "other": [rotate, flip, norm]}, "other") == ["set2", "set1"]
    assert composition({**sets, "other": [{"op": "resize", "size": 64}, norm]}, "other") is None

    config = {"augmentation": {"sets": sets, "preview": {"draws": 6}}}
    png = Path(__file__).parent  # any file: the grid's bytes are not read for the caption
    previews = {name: next(png.glob("*.py")) for name in sets}
    figure = preview_figure(Numbering(), config, previews)
    assert figure.about["composed"] == {"set1_then_set2": ["set1", "set2"]}
    macro = environment(paper_source()).get_template("captions.html.j2").module.preview
    caption = " ".join(str(macro(figure)).split())
    assert (
        "The set set1_then_set2 applies set1, then set2 to each image, one after the other."
        in caption
    )
    assert isinstance(figure.images[0], Image)
