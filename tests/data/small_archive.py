"""The small valid Tiny ImageNet archive of the data tests' fixtures (conftest.py), as the writer's
inputs: 3 classes (:data:`WNIDS`, in wnids.txt's order), 12 training and 4 validation images each,
some grayscale and one CMYK image (:data:`TRAIN_MODES`, :data:`VAL_MODES`), each a gradient with a
soft disc (:func:`gradient_image`). test_pack.py imports these to check what the pack made of it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Not sorted: the class order is wnids.txt's order.
WNIDS = ("n01629819", "n01443537", "n01641577")
WORDS = {
    "n01443537": "goldfish, Carassius auratus",
    "n01629819": "European fire salamander, Salamandra salamandra",
    "n01641577": "bullfrog, Rana catesbeiana",
}
EXTRA_WORDS = {"n00001740": "entity", "n00001930": "physical entity"}
TRAIN_PER_CLASS = 12  # numbers up to 11: numeric order differs from the names' sort order
VAL_PER_CLASS = 4
# (class index, image number) of the training images stored in another mode than RGB.
TRAIN_MODES = {(0, 3): "L", (1, 10): "L", (2, 7): "CMYK"}
VAL_MODES = {5: "L"}


def gradient_image(seed: int, mode: str = "RGB", size: int = 64) -> Image.Image:
    """A smooth two-colour gradient with a soft disc, different for every seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    cy, cx, r = rng.uniform(0.3, 0.7, 3)
    disc = np.clip((r * 0.6 - np.hypot(y - cy, x - cx)) * 8, 0, 1)
    c0, c1, c2 = rng.uniform(0, 255, (3, 3))
    ramp = x[..., None] * c0 + (1 - x[..., None]) * c1
    pixels = ramp * (1 - disc[..., None]) + c2 * disc[..., None]
    return Image.fromarray(np.rint(pixels).astype(np.uint8)).convert(mode)
