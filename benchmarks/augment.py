"""Augmentation throughput: packed uint8 + batched tensor ops vs JPEG files + PIL transforms.

Both paths apply the paper's set 2 (rotation 10 degrees, horizontal and vertical flips,
Gaussian blur 5 / sigma (0.1, 2)) and Normalize, on the same images and the same cores:

- packed: tinycnn.data.augment.OnlineTrainData over a uint8 (N, 64, 64, 3) array (what `online` mode
  does each epoch), then normalize to float; torch threads = workers;
- classic: torchvision ImageFolder over JPEG files, transforms.Compose of PIL transforms,
  ToTensor, Normalize, DataLoader(num_workers=workers), JPEG decoding included.

The data is made here, in a temporary folder: sklearn's digits, upscaled to 64x64 RGB, as JPEGs
in ImageFolder layout, and the same JPEGs decoded into one uint8 array. Each path runs one warm-up
epoch, then the timed epochs.

Then random_resized_crop (size 64, scale (0.35, 1), bilinear, antialias) on the same decoded
images, in this process with the same torch threads: the batched op through OnlineTrainData
against torchvision's v2.RandomResizedCrop called image by image on uint8 (3, 64, 64) tensors.

Run: .venv/bin/python benchmarks/augment.py [--only set2 | --only random_resized_crop]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.transforms import v2

from tinycnn.data.augment import OnlineTrainData, normalize, parse_set

# The paper's set 2, as config.yaml defines it.
SET2 = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())[
    "augmentation"
]["sets"]["set2"]
MEAN, STD = [0.48, 0.45, 0.40], [0.28, 0.27, 0.28]


def digit_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n RGB 64x64 uint8 images (N, 64, 64, 3) and labels: three digits per image, one a channel."""
    digits = load_digits()
    small = torch.from_numpy(digits.images).float()[:, None] * (255 / 16)
    big = F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    i = np.arange(n) % len(big)
    rgb = torch.stack(
        [big[i], big[(i + 7) % len(big)].flip(-1), 255 - big[(i + 13) % len(big)]], -1
    )
    return rgb.clamp(0, 255).round().to(torch.uint8).numpy(), digits.target[i]


def write_image_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Write JPEGs as root/<label>/<i>.jpg; return them decoded, in ImageFolder's order."""
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / str(label) / f"{i:06d}.jpg", quality=90)
    folder = datasets.ImageFolder(root)
    return np.stack([np.asarray(folder.loader(path)) for path, _ in folder.samples])


def time_packed(images: np.ndarray, batch_size: int, epochs: int) -> float:
    data = OnlineTrainData(
        images, np.zeros(len(images), np.int64), [parse_set("set2", SET2)], seed=0
    )
    for x, _ in data.batches(0, batch_size):  # warm-up epoch
        normalize(x, MEAN, STD)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for x, _ in data.batches(epoch, batch_size):
            normalize(x, MEAN, STD)
    return epochs * len(images) / (time.perf_counter() - start)


def time_classic(root: Path, batch_size: int, workers: int, epochs: int) -> float:
    transform = transforms.Compose(
        [
            transforms.RandomRotation(10),
            transforms.RandomHorizontalFlip(),
            transforms.RandomVerticalFlip(),
            transforms.GaussianBlur(5, (0.1, 2.0)),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    folder = datasets.ImageFolder(root, transform=transform)
    loader = DataLoader(
        folder, batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=True
    )
    for _ in loader:  # warm-up epoch: starts the workers, fills the page cache
        pass
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            pass
    return epochs * len(folder) / (time.perf_counter() - start)


CROP = [{"op": "random_resized_crop", "size": 64, "scale": [0.35, 1.0]}]


def images_per_second(epoch_fn: Callable[[int], None], n: int, epochs: int) -> float:
    epoch_fn(0)  # warm-up epoch
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_fn(epoch)
    return epochs * n / (time.perf_counter() - start)


def time_random_resized_crop(
    images: np.ndarray, batch_size: int, epochs: int
) -> tuple[float, float]:
    """images/s of (torchvision image by image, the batched op) on the same images."""
    data = OnlineTrainData(
        images, np.zeros(len(images), np.int64), [parse_set("crop", CROP)], seed=0
    )
    tensors = list(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    ref = v2.RandomResizedCrop(64, scale=(0.35, 1.0), antialias=True)

    def per_image(epoch: int) -> None:
        for image in tensors:
            ref(image)

    def batched(epoch: int) -> None:
        for _ in data.batches(epoch, batch_size):
            pass

    return (
        images_per_second(per_image, len(images), epochs),
        images_per_second(batched, len(images), epochs),
    )


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096, help="images in the data set")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per path")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="cores for each path")
    parser.add_argument("--only", choices=["set2", "random_resized_crop"], help="one comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.workers)

    images, labels = digit_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        decoded = write_image_folder(Path(tmp), images, labels)
        if args.only != "random_resized_crop":
            classic = time_classic(Path(tmp), args.batch_size, args.workers, args.epochs)

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores")
    print(f"torch {torch.__version__}, {args.workers} workers/threads, batch {args.batch_size}")
    if args.only != "random_resized_crop":
        packed = time_packed(decoded, args.batch_size, args.epochs)
        print(f"images: {args.images} x {args.epochs} timed epochs, set 2 + normalize")
        print(f"classic (ImageFolder JPEG + PIL, DataLoader): {classic:9.0f} images/s")
        print(f"packed  (uint8 array + batched tensor ops):   {packed:9.0f} images/s")
        print(f"speedup: {packed / classic:.1f}x")
    if args.only != "set2":
        per_image, batched = time_random_resized_crop(decoded, args.batch_size, args.epochs)
        print(f"images: {args.images} x {args.epochs} timed epochs, random_resized_crop 64")
        print(f"torchvision v2.RandomResizedCrop, image by image: {per_image:9.0f} images/s")
        print(f"batched op (OnlineTrainData):                     {batched:9.0f} images/s")
        print(f"ratio: {batched / per_image:.1f}x")


if __name__ == "__main__":
    main()
