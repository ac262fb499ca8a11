"""The Tiny ImageNet-200 zip layout in one place: member names, and a deterministic writer.

Member helpers return paths relative to the archive's top folder (``tiny-imagenet-200/`` in
the published zip); :func:`member` joins the two. :func:`write_archive` writes that layout
byte for byte reproducibly, for tests (valid and deliberately broken archives) and the demo.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence

from PIL import Image

from tinycnn.shared.files import atomic_path

TOP = "tiny-imagenet-200"
IMAGE_SIZE = 64
WNIDS = "wnids.txt"
WORDS = "words.txt"
TRAIN_DIR = "train/"
VAL_IMAGES_DIR = "val/images/"
VAL_ANNOTATIONS = "val/val_annotations.txt"
TEST_IMAGES_DIR = "test/images/"

# Fixed zip metadata, so the same inputs always give the same bytes.
ZIP_DATE_TIME = (2015, 2, 9, 0, 0, 0)
_UNIX = 3
_FILE_ATTR = 0o100644 << 16
_DIR_ATTR = (0o040755 << 16) | 0x10  # Unix mode + MS-DOS directory flag

_VAL_NAME = re.compile(r"val_(\d+)\.JPEG")


def member(top: str, rel: str) -> str:
    """Full member name of ``rel`` under the top folder ``top`` ('' for none)."""
    return f"{top}/{rel}" if top else rel


def train_images_dir(wnid: str) -> str:
    return f"{TRAIN_DIR}{wnid}/images/"


def train_image_name(wnid: str, i: int) -> str:
    return f"{wnid}_{i}.JPEG"


def train_image(wnid: str, i: int) -> str:
    return train_images_dir(wnid) + train_image_name(wnid, i)


def boxes_file(wnid: str) -> str:
    return f"{TRAIN_DIR}{wnid}/{wnid}_boxes.txt"


def val_image_name(i: int) -> str:
    return f"val_{i}.JPEG"


def val_image(i: int) -> str:
    return VAL_IMAGES_DIR + val_image_name(i)


def test_image(i: int) -> str:
    return f"{TEST_IMAGES_DIR}test_{i}.JPEG"


def train_image_number(wnid: str, filename: str) -> int | None:
    """The ``<i>`` of ``<wnid>_<i>.JPEG``, or None if ``filename`` is not named that way."""
    match = re.fullmatch(rf"{re.escape(wnid)}_(\d+)\.JPEG", filename)
    return int(match.group(1)) if match else None


def val_image_number(filename: str) -> int | None:
    """The ``<i>`` of ``val_<i>.JPEG``, or None if ``filename`` is not named that way."""
    match = _VAL_NAME.fullmatch(filename)
    return int(match.group(1)) if match else None


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of ``image`` in its own mode (an "L" image gives a grayscale JPEG)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _box(image: Image.Image) -> str:
    # The whole image as the box: x0, y0, x1, y1 (inclusive), tab-separated as published.
    width, height = image.size
    return f"0\t0\t{width - 1}\t{height - 1}"


def _layout(
    words: Mapping[str, str],
    train: Mapping[str, Sequence[Image.Image]],
    val: Sequence[tuple[Image.Image, str]],
    test: Sequence[Image.Image],
    extra_words: Mapping[str, str],
    quality: int,
) -> list[tuple[str, bytes | None]]:
    """(relative name, bytes or None for a directory) in the order the writer stores them."""
    entries: list[tuple[str, bytes | None]] = [("", None)]
    entries += [("test/", None), (TEST_IMAGES_DIR, None)]
    entries += [(test_image(i), encode_jpeg(im, quality)) for i, im in enumerate(test)]
    entries.append((TRAIN_DIR, None))
    for wnid, images in train.items():
        entries += [(f"{TRAIN_DIR}{wnid}/", None), (train_images_dir(wnid), None)]
        boxes = []
        for i, image in enumerate(images):
            entries.append((train_image(wnid, i), encode_jpeg(image, quality)))
            boxes.append(f"{train_image_name(wnid, i)}\t{_box(image)}\n")
        entries.append((boxes_file(wnid), "".join(boxes).encode()))
    entries += [("val/", None), (VAL_IMAGES_DIR, None)]
    annotations = []
    for i, (image, wnid) in enumerate(val):
        entries.append((val_image(i), encode_jpeg(image, quality)))
        annotations.append(f"{val_image_name(i)}\t{wnid}\t{_box(image)}\n")
    entries.append((VAL_ANNOTATIONS, "".join(annotations).encode()))
    entries.append((WNIDS, "".join(f"{wnid}\n" for wnid in train).encode()))
    all_words = {**extra_words, **words}
    lines = "".join(f"{wnid}\t{all_words[wnid]}\n" for wnid in sorted(all_words))
    entries.append((WORDS, lines.encode()))
    return entries


def write_archive(
    path: str | os.PathLike[str],
    *,
    words: Mapping[str, str],
    train: Mapping[str, Sequence[Image.Image]],
    val: Sequence[tuple[Image.Image, str]],
    test: Sequence[Image.Image],
    top: str = TOP,
    extra_words: Mapping[str, str] | None = None,
    quality: int = 90,
    overrides: Mapping[str, bytes | None] | None = None,
) -> None:
    """Write a zip with exactly the Tiny ImageNet-200 layout and naming, atomically.

    ``train`` maps each class wnid (in wnids.txt order) to its images, numbered
    ``<wnid>_0.JPEG``, ``<wnid>_1.JPEG``...; ``val`` lists (image, wnid) as ``val_0.JPEG``...;
    ``test`` becomes ``test_0.JPEG``.... ``words`` and ``extra_words`` (non-class ids, as in the
    published 82k-line file) together make words.txt, sorted by wnid. The writer does not check
    its inputs: ``words`` may lack a class on purpose. Boxes span the whole image.

    ``overrides`` maps full member names (e.g. ``tiny-imagenet-200/wnids.txt``) to replacement
    bytes, or to None to drop the member; names not in the layout are appended in the given
    order (a name ending in "/" becomes a directory entry). This builds broken archives.

    Every member is stored uncompressed with fixed metadata, so the bytes depend only on the
    inputs and the JPEG encoder.
    """
    overrides = overrides or {}
    layout = [
        (member(top, rel), data)
        for rel, data in _layout(words, train, val, test, extra_words or {}, quality)
        if top or rel  # no top folder, no entry for it
    ]
    entries = [
        (name, overrides.get(name, data))
        for name, data in layout
        if name not in overrides or overrides[name] is not None
    ]
    names = {name for name, _ in layout}
    entries += [
        (name, data) for name, data in overrides.items() if name not in names and data is not None
    ]
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = _UNIX
            if name.endswith("/"):
                info.external_attr = _DIR_ATTR
                info.CRC = info.compress_size = info.file_size = 0
                zf.mkdir(info)
            else:
                info.external_attr = _FILE_ATTR
                zf.writestr(info, data or b"")
