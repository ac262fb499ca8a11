"""Pack the Tiny ImageNet zip into checked uint8 arrays, read straight from the archive.

Outputs in ``out_dir`` (each written atomically, ``stats.json`` last):

- ``train_images.npy`` (N, 64, 64, 3) uint8 and ``train_labels.npy`` (N,) int64: classes in
  wnids.txt order, within a class by the number in ``<wnid>_<i>.JPEG``;
- ``val_images.npy`` and ``val_labels.npy``: by the number in ``val_<i>.JPEG``;
- ``classes.tsv``: ``index<TAB>wnid<TAB>words``, one row per class, in label order;
- ``stats.json``: per-channel mean and std (population, in pixel/255 units) of the training
  images, computed exactly from integer sums; counts; the source archive's name;
- ``<array>.npy.sha256`` beside each array: its SHA-256, recorded as it is written
  (:func:`tinycnn.shared.digests.read_digest`).

All metadata is checked before any image is decoded; every problem is one :class:`UserError`
naming the archive and the member. On failure no output exists under its final name, and a
killed pack's temporaries are removed when it runs again; decoding workers die with the pack.
"""

from __future__ import annotations

import ctypes
import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError
from tqdm import tqdm

from tinycnn.data import tinyimagenet as ti
from tinycnn.data.download import md5sum
from tinycnn.shared.arrays import atomic_npy, save_npy
from tinycnn.shared.digests import digest_path
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import remove_stale, write_json, write_text

IMAGE_SHAPE = (ti.IMAGE_SIZE, ti.IMAGE_SIZE, 3)
ARRAYS = ("train_images", "train_labels", "val_images", "val_labels")
OUTPUTS = ("stats.json", "classes.tsv", *(f"{name}.npy" for name in ARRAYS))
DIGESTS = tuple(digest_path(f"{name}.npy").name for name in ARRAYS)  # written with the arrays
CHUNK = 128  # images per task sent to a worker

DAMAGED = "The archive is damaged: delete it and run the download again."
NOT_TINY = (
    "The archive does not have the Tiny ImageNet-200 layout: use the original "
    "tiny-imagenet-200.zip (delete this file and run the download again)."
)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass
class _Plan:
    """What the archive's metadata declares, checked: member names in output order."""

    wnids: list[str]
    words: list[str]
    train: list[str] = field(default_factory=list)
    train_labels: list[int] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    val_labels: list[int] = field(default_factory=list)


def _open(archive: Path) -> zipfile.ZipFile:
    if not archive.is_file():
        raise UserError(f"archive {archive} not found: run the download first or fix the path.")
    try:
        return zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UserError(
            f"{archive} is not a complete zip archive (truncated download?): {exc}. {DAMAGED}"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read {archive}: {exc}.") from None


def _read(zf: zipfile.ZipFile, archive: Path, name: str) -> bytes:
    try:
        return zf.read(name)
    except _ZIP_ERRORS as exc:
        raise UserError(f"cannot read {archive}: {name}: {exc}. {DAMAGED}") from None


def _rows(zf: zipfile.ZipFile, archive: Path, name: str, nfields: int) -> list[list[str]]:
    """Tab-separated rows of a text member, each with exactly ``nfields`` fields."""
    try:
        text = _read(zf, archive, name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"cannot read {archive}: {name}: {exc}. {DAMAGED}") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != nfields:
            raise UserError(
                f"{archive}: {name} line {lineno} has {len(fields)} tab-separated fields, "
                f"expected {nfields}. {DAMAGED}"
            )
        rows.append(fields)
    return rows


def _find_prefix(names: list[str], archive: Path) -> str:
    """The folder (with trailing '/', or '') that holds wnids.txt."""
    found = [n for n in names if n == ti.WNIDS or n.endswith("/" + ti.WNIDS)]
    if not found:
        raise UserError(f"{archive} holds no {ti.WNIDS}. {NOT_TINY}")
    depth = min(n.count("/") for n in found)
    top = sorted(n for n in found if n.count("/") == depth)
    if len(top) > 1:
        raise UserError(f"{archive} holds several {ti.WNIDS} ({', '.join(top)}). {NOT_TINY}")
    return top[0][: -len(ti.WNIDS)]


def _sorted(
    files: list[str], number: Callable[[str], int | None], folder: str, archive: Path
) -> list[str]:
    """``files`` sorted by the number ``number(file)`` reads from each name."""
    numbered = []
    for file in files:
        i = number(file)
        if i is None:
            raise UserError(f"{archive}: {folder}{file} has an unexpected name. {NOT_TINY}")
        numbered.append((i, file))
    return [file for _, file in sorted(numbered)]


def _compare(listed: list[str], found: set[str], boxes: str, images_dir: str) -> str | None:
    """What differs between the images a boxes file lists and those in its folder, if anything."""
    if len(set(listed)) != len(listed):
        twice = next(n for n, c in Counter(listed).items() if c > 1)
        return f"{boxes} lists {twice} twice"
    missing = sorted(set(listed) - found)
    extra = sorted(found - set(listed))
    if not missing and not extra:
        return None
    detail = f"{missing[0]} is missing" if missing else f"{extra[0]} is not listed"
    return f"{boxes} lists {len(listed)} images, {images_dir} holds {len(found)} ({detail})"


def _classes(zf: zipfile.ZipFile, archive: Path, prefix: str) -> tuple[list[str], list[str]]:
    """Class wnids in wnids.txt order and their words from words.txt."""
    wnids_name, words_name = prefix + ti.WNIDS, prefix + ti.WORDS
    wnids = [row[0].strip() for row in _rows(zf, archive, wnids_name, 1)]
    if not wnids:
        raise UserError(f"{archive}: {wnids_name} lists no classes. {NOT_TINY}")
    if len(set(wnids)) != len(wnids):
        twice = next(n for n, c in Counter(wnids).items() if c > 1)
        raise UserError(f"{archive}: {wnids_name} lists {twice} twice. {DAMAGED}")
    if words_name not in zf.NameToInfo:
        raise UserError(f"{archive} holds no {words_name}. {NOT_TINY}")
    # words.txt covers all of ImageNet (82k lines); only the class entries matter here.
    words: dict[str, str] = {}
    for line in _read(zf, archive, words_name).decode("utf-8", errors="replace").splitlines():
        wnid, tab, text = line.partition("\t")
        if tab:
            words.setdefault(wnid.strip(), text.strip())
    for wnid in wnids:
        if wnid not in words:
            raise UserError(
                f"{archive}: class {wnid} (listed in {wnids_name}) has no entry in "
                f"{words_name}. {DAMAGED}"
            )
    return wnids, [words[wnid] for wnid in wnids]


def _folders(names: list[str], prefix: str) -> tuple[dict[str, set[str]], set[str]]:
    """Files per folder (relative to ``prefix``, with a trailing '/'), and the train/ folders."""
    folders: dict[str, set[str]] = {}
    train_dirs = set()
    for name in names:
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix) :]
        if rel.startswith(ti.TRAIN_DIR):
            wnid, slash, _ = rel[len(ti.TRAIN_DIR) :].partition("/")
            if slash:
                train_dirs.add(wnid)
        if not rel.endswith("/"):
            folder, _, file = rel.rpartition("/")
            folders.setdefault(folder + "/", set()).add(file)
    return folders, train_dirs


def _plan(zf: zipfile.ZipFile, archive: Path) -> _Plan:
    """Check all metadata against the members; list the images to decode, in order."""
    names = zf.namelist()
    prefix = _find_prefix(names, archive)
    wnids, words = _classes(zf, archive, prefix)
    plan = _Plan(wnids, words)
    folders, train_dirs = _folders(names, prefix)
    unknown = sorted(train_dirs - set(wnids))
    if unknown:
        raise UserError(
            f"{archive}: {prefix}{ti.TRAIN_DIR}{unknown[0]}/ is not a class listed in "
            f"{prefix}{ti.WNIDS}. {NOT_TINY}"
        )

    for label, wnid in enumerate(wnids):
        if wnid not in train_dirs:
            raise UserError(
                f"{archive}: class {wnid} (listed in {prefix}{ti.WNIDS}) has no folder "
                f"{prefix}{ti.TRAIN_DIR}{wnid}/. {DAMAGED}"
            )
        boxes = prefix + ti.boxes_file(wnid)
        if boxes not in zf.NameToInfo:
            raise UserError(f"{archive}: class {wnid} has no boxes file {boxes}. {DAMAGED}")
        listed = [row[0] for row in _rows(zf, archive, boxes, 5)]
        images_dir = prefix + ti.train_images_dir(wnid)
        problem = _compare(listed, folders.get(ti.train_images_dir(wnid), set()), boxes, images_dir)
        if problem:
            raise UserError(f"{archive}: class {wnid}: {problem}. {DAMAGED}")
        if not listed:
            raise UserError(f"{archive}: class {wnid} has no training images. {NOT_TINY}")
        number = functools.partial(ti.train_image_number, wnid)
        plan.train += [images_dir + file for file in _sorted(listed, number, images_dir, archive)]
        plan.train_labels += [label] * len(listed)

    annotations = prefix + ti.VAL_ANNOTATIONS
    if annotations not in zf.NameToInfo:
        raise UserError(f"{archive} holds no {annotations}. {NOT_TINY}")
    val_dir = prefix + ti.VAL_IMAGES_DIR
    val_found = folders.get(ti.VAL_IMAGES_DIR, set())
    index = {wnid: label for label, wnid in enumerate(wnids)}
    labels: dict[str, int] = {}
    for lineno, (file, wnid, *_) in enumerate(_rows(zf, archive, annotations, 6), 1):
        if wnid not in index:
            raise UserError(
                f"{archive}: {annotations} line {lineno}: {wnid} is not a class listed in "
                f"{prefix}{ti.WNIDS}. {DAMAGED}"
            )
        if file in labels:
            raise UserError(f"{archive}: {annotations} lists {file} twice. {DAMAGED}")
        if file not in val_found:
            raise UserError(
                f"{archive}: {annotations} line {lineno} annotates {file}, but {val_dir}{file} "
                f"is not in the archive. {DAMAGED}"
            )
        labels[file] = index[wnid]
    unlabelled = sorted(val_found - labels.keys())
    if unlabelled:
        raise UserError(
            f"{archive}: {val_dir}{unlabelled[0]} has no line in {annotations}. {DAMAGED}"
        )
    if not labels:
        raise UserError(f"{archive}: {annotations} lists no validation images. {NOT_TINY}")
    files = _sorted(list(labels), ti.val_image_number, val_dir, archive)
    plan.val = [val_dir + file for file in files]
    plan.val_labels = [labels[file] for file in files]
    return plan


# Per-process decoding state: the open zip and the output memory maps, set by _init_worker.
_worker: dict[str, Any] = {}


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` dies, even by SIGKILL (Linux; elsewhere a no-op).

    A pool worker blocks on its task queue forever once its parent is gone, holding the
    memory-mapped outputs open.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _init_worker(archive: Path, outputs: dict[str, str], parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    # A truncated JPEG is damage, never an image: refuse it even where an imported library
    # (WeasyPrint does, on import) has told PIL to accept truncated files. Restored on close.
    _worker["load_truncated"] = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    _worker["archive"] = archive
    _worker["zip"] = zipfile.ZipFile(archive)
    _worker["out"] = {split: np.load(path, mmap_mode="r+") for split, path in outputs.items()}


def _close_worker() -> None:
    _worker["zip"].close()
    ImageFile.LOAD_TRUNCATED_IMAGES = _worker["load_truncated"]
    _worker.clear()


def _decode(name: str) -> tuple[np.ndarray, str]:
    """One member as a (64, 64, 3) uint8 RGB array, and the image's original mode."""
    archive = _worker["archive"]
    data = _read(_worker["zip"], archive, name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise UserError(
                    f"{archive}: {name} is a {image.format} image, expected JPEG. {NOT_TINY}"
                )
            if image.size != IMAGE_SHAPE[:2]:
                width, height = image.size
                raise UserError(
                    f"{archive}: {name} is {width}x{height}, expected "
                    f"{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]}. {NOT_TINY}"
                )
            mode = image.mode
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # PIL's "cannot identify" message names the in-memory buffer; say it plainly.
        reason = "not a readable image" if isinstance(exc, UnidentifiedImageError) else exc
        raise UserError(f"cannot decode {archive}: {name}: {reason}. {DAMAGED}") from None
    return rgb, mode


def _decode_chunk(task: tuple[str, int, list[str]]) -> tuple[np.ndarray, Counter[str]]:
    """Decode ``names`` into rows ``start``... of the ``split`` output.

    Returns the per-channel histograms (3, 256) of the decoded pixels and the source modes.
    """
    split, start, names = task
    chunk = np.empty((len(names), *IMAGE_SHAPE), dtype=np.uint8)
    modes: Counter[str] = Counter()
    for i, name in enumerate(names):
        chunk[i], mode = _decode(name)
        modes[mode] += 1
    _worker["out"][split][start : start + len(names)] = chunk
    hist = np.stack([np.bincount(chunk[..., c].ravel(), minlength=256) for c in range(3)])
    return hist.astype(np.int64), modes


def _decode_all(
    archive: Path, plan: _Plan, outputs: dict[str, str], workers: int
) -> tuple[np.ndarray, Counter[str]]:
    """Decode every image into the output maps; training histograms and all source modes."""
    tasks = [
        (split, start, members[start : start + CHUNK])
        for split, members in (("train", plan.train), ("val", plan.val))
        for start in range(0, len(members), CHUNK)
    ]
    hist = np.zeros((3, 256), dtype=np.int64)
    modes: Counter[str] = Counter()
    interval = 0.5 if sys.stderr.isatty() else 60.0
    with tqdm(
        total=len(plan.train) + len(plan.val),
        desc="pack: decoding",
        unit="img",
        file=sys.stderr,
        mininterval=interval,
    ) as bar:

        def collect(task: tuple[str, int, list[str]], result: tuple[np.ndarray, Counter]) -> None:
            if task[0] == "train":
                hist[:] += result[0]
            modes.update(result[1])
            bar.update(len(task[2]))

        if workers == 1:
            _init_worker(archive, outputs)
            try:
                for task in tasks:
                    collect(task, _decode_chunk(task))
            finally:
                _close_worker()
        else:
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(archive, outputs, os.getpid()),
            ) as pool:
                try:
                    for task, result in zip(tasks, pool.map(_decode_chunk, tasks), strict=True):
                        collect(task, result)
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    return hist, modes


def _mean_std(hist: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std in pixel/255 units, exact up to the final rounding."""
    values = np.arange(256, dtype=np.int64)
    means, stds = [], []
    for channel in hist:
        n = int(channel.sum())
        s1 = int(channel @ values)
        s2 = int(channel @ (values * values))
        means.append(s1 / (255 * n))
        stds.append(math.sqrt((n * s2 - s1 * s1) / (255 * 255 * n * n)))
    return means, stds


def _remove_outputs(out_dir: Path) -> None:
    for name in (*OUTPUTS, *DIGESTS):  # stats.json first: it marks a complete pack
        (out_dir / name).unlink(missing_ok=True)
        remove_stale(out_dir / name)  # what a killed pack left: up to 1.3 GB


class _Terminated(SystemExit):
    """SIGTERM during a pack: unwinds like an error, so that nothing is left behind."""


def _on_sigterm(signum: int, frame: object) -> None:
    print("pack: terminated; removing the partial outputs", file=sys.stderr, flush=True)
    raise _Terminated(128 + signum)


def pack_archive(archive: Path, out_dir: Path, workers: int = 2) -> dict:
    """Check ``archive`` and pack it into ``out_dir``; return the stats written to stats.json.

    ``workers`` processes decode in parallel (1: in this process); the output is identical
    for any number of workers.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_outputs(out_dir)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with _open(archive) as zf:
            plan = _plan(zf, archive)
        needed = (len(plan.train) + len(plan.val)) * math.prod(IMAGE_SHAPE)
        free = shutil.disk_usage(out_dir).free
        if free < needed:
            raise UserError(
                f"not enough space in {out_dir}: packing needs {needed / 1e6:,.0f} MB, "
                f"{free / 1e6:,.0f} MB free. Free some space or choose another output folder."
            )
        save_npy(out_dir / "train_labels.npy", np.array(plan.train_labels, dtype=np.int64))
        save_npy(out_dir / "val_labels.npy", np.array(plan.val_labels, dtype=np.int64))
        train_shape, val_shape = (len(plan.train), *IMAGE_SHAPE), (len(plan.val), *IMAGE_SHAPE)
        with (
            atomic_npy(out_dir / "train_images.npy", np.uint8, train_shape) as tr,
            atomic_npy(out_dir / "val_images.npy", np.uint8, val_shape) as va,
        ):
            outputs = {"train": str(tr.filename), "val": str(va.filename)}
            hist, modes = _decode_all(archive, plan, outputs, workers)
        rows = [
            f"{i}\t{w}\t{words}\n"
            for i, (w, words) in enumerate(zip(plan.wnids, plan.words, strict=True))
        ]
        write_text(out_dir / "classes.tsv", "index\twnid\twords\n" + "".join(rows))
        mean, std = _mean_std(hist)
        stats = {
            "archive": archive.name,
            # The archive's identity, which every run that reads these arrays records.
            "archive_md5": md5sum(archive),
            "archive_size": archive.stat().st_size,
            "classes": len(plan.wnids),
            "train": len(plan.train),
            "val": len(plan.val),
            "grayscale": modes["L"],
            "source_modes": dict(sorted(modes.items())),
            "mean": mean,
            "std": std,
        }
        write_json(out_dir / "stats.json", stats)
    except BaseException:
        _remove_outputs(out_dir)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return stats


def read_classes(classes_tsv: Path) -> list[tuple[str, str]]:
    """``classes.tsv`` as (wnid, words) pairs in label order."""
    lines = Path(classes_tsv).read_text().splitlines()[1:]
    return [tuple(line.split("\t", 2)[1:]) for line in lines]


def load_packed(out_dir: Path) -> dict:
    """A packed dataset: memory-mapped arrays (see ARRAYS), ``classes`` and ``stats``.

    ``classes`` is a list of (wnid, words) in label order; ``stats`` is stats.json.
    """
    out_dir = Path(out_dir)
    if not (out_dir / "stats.json").is_file():
        raise UserError(f"{out_dir} holds no complete packed dataset: run `tinycnn pack` first.")
    stats = json.loads((out_dir / "stats.json").read_text())
    data: dict[str, Any] = {name: open_array(out_dir / f"{name}.npy") for name in ARRAYS}
    data["classes"] = read_classes(out_dir / "classes.tsv")
    data["stats"] = stats
    for split in ("train", "val"):
        if not len(data[f"{split}_images"]) == len(data[f"{split}_labels"]) == stats[split]:
            raise UserError(f"{out_dir} is inconsistent ({split} counts differ): pack it again.")
    return data


def open_array(path: str | os.PathLike[str], step: str = "pack") -> np.ndarray:
    """The .npy array at ``path``, memory-mapped read-only; a missing or damaged file (truncated,
    not a .npy array) is one :class:`UserError` naming it and the rule ``step`` that writes it.

    For the packed arrays ``step`` is ``pack``; for ``augmented/<set>.npy``, ``augment``.
    """
    path = Path(path)
    remedy = (
        f"delete it and run the workflow again (Snakemake remakes it with rule `{step}`; "
        f"or run `tinycnn {step}` yourself)"
    )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} is missing: {remedy}.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(
            f"{path} is damaged (truncated, or not a .npy array: {exc}): {remedy}."
        ) from None
