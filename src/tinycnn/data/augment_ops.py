"""Augmentation ops: batched uint8 tensor ops with per-sample parameters, built from config.

An augmentation set is a list of ops from config (parameter names mirror torchvision)::

    - {op: random_resized_crop, size: 64, scale: [0.35, 1.0]}
    - {op: random_rotation, degrees: 10}
    - {op: random_horizontal_flip, p: 0.5}
    - {op: gaussian_blur, kernel_size: 5, sigma: [0.1, 2.0]}
    - {op: normalize}

Every op but ``normalize`` maps a uint8 batch (N, C, H, W) on any device to a uint8 batch and
equals the torchvision.transforms.v2 op of the same name for the same drawn parameters.
``Pipeline.draw`` draws the parameters of many samples at once, per sample, from a CPU
``torch.Generator`` (for the images' size: random_resized_crop's boxes depend on it), so a
result depends on the generator's seed only, not on the device or on how the samples are
batched. ``normalize`` may only come last: it is the float stage the training loop runs on its
device.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from tinycnn.data.op_geometry import crop_size, resize_size
from tinycnn.shared.errors import UserError

Param = torch.Tensor | None  # one value per sample (on the CPU), or None for a fixed op
Size = tuple[int, int]  # (height, width)


class Op(ABC):
    """One uint8 -> uint8 op; fixed unless ``draw`` is overridden."""

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> Param:
        """Per-sample parameters of ``n`` samples (None: the op has none).

        ``size``: the (height, width) of the images the op will get; only ops whose parameters
        depend on it (random_resized_crop) need it."""
        return None

    @abstractmethod
    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        """Apply to uint8 (N, C, H, W) with this op's parameters of these N samples."""

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Output (height, width) for an (h, w) input."""
        return h, w


@dataclass(frozen=True)
class _RandomFlip(Op):
    p: float = 0.5
    dim: ClassVar[int]

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> Param:
        # torchvision flips when torch.rand(1) < p
        return torch.rand(n, generator=generator) < self.p

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        assert param is not None
        flip = param.to(x.device).view(-1, 1, 1, 1)
        return torch.where(flip, x.flip(self.dim), x)


class RandomHorizontalFlip(_RandomFlip):
    dim = -1


class RandomVerticalFlip(_RandomFlip):
    dim = -2


@dataclass(frozen=True)
class RandomRotation(Op):
    """Rotation about the image centre by an angle in ``degrees`` (counter-clockwise > 0)."""

    degrees: tuple[float, float]
    interpolation: str = "nearest"
    fill: int = 0

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> Param:
        return torch.empty(n).uniform_(*self.degrees, generator=generator)

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        assert param is not None
        n, c, h, w = x.shape
        # torchvision's rotate_image: the inverse matrix of a rotation by -(angle % 360) in
        # float64, then in float32 scaled to grid_sample's units and applied to the pixel
        # centres (its _affine_grid). Elementwise, not torchvision's bmm: the same float32
        # results, and no TF32 matmul on a GPU can move the grid.
        rad = torch.deg2rad(-(param.double() % 360))
        cos, sin = rad.cos().float(), rad.sin().float()
        m = torch.stack([cos / (0.5 * w), sin / (0.5 * w), -sin / (0.5 * h), cos / (0.5 * h)])
        m = m.to(x.device).view(4, n, 1, 1)
        px = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, w, device=x.device).view(1, 1, w)
        py = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, h, device=x.device).view(1, h, 1)
        grid = torch.empty(n, h, w, 2, device=x.device)
        torch.add(px * m[0], py * m[1], out=grid[..., 0])
        torch.add(px * m[2], py * m[3], out=grid[..., 1])

        img = x.float()
        if self.interpolation == "nearest" and self.fill == 0:
            # torchvision's validity-mask channel changes nothing here: outside is 0 either way.
            out = F.grid_sample(
                img, grid, mode="nearest", padding_mode="zeros", align_corners=False
            )
            return out.round_().to(torch.uint8)
        img = torch.cat([img, torch.ones_like(img[:, :1])], 1)
        out = F.grid_sample(img, grid, mode=self.interpolation, align_corners=False)
        out, mask = out[:, :c], out[:, c:]
        if self.interpolation == "nearest":
            out = torch.where(mask < 0.5, float(self.fill), out)
        else:
            out = (out - self.fill) * mask + self.fill
        return out.round_().to(torch.uint8)


def _gaussian_kernels(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """torchvision's _get_gaussian_kernel1d, one row per sigma."""
    lim = (size - 1) / (2.0 * math.sqrt(2.0))
    x = torch.linspace(-lim, lim, steps=size, device=sigma.device)
    return torch.softmax(x.div(sigma[:, None]).pow(2).neg(), dim=1)


def _correlate(img: torch.Tensor, kernels: torch.Tensor, dim: int) -> torch.Tensor:
    """Valid 1-D correlation of each img[i] (2-D) along ``dim`` with its own kernels[i].

    A grouped conv with one group per image and channel, written as one multiply-add per tap:
    twice as fast on CPUs as F.conv2d(groups=N*C), with the same results (measured).
    """
    taps = kernels.shape[1]
    size = img.shape[dim] - taps + 1
    out = img.narrow(dim, 0, size) * kernels[:, 0, None, None]
    for j in range(1, taps):
        out.addcmul_(img.narrow(dim, j, size), kernels[:, j, None, None])
    return out


@dataclass(frozen=True)
class GaussianBlur(Op):
    """Gaussian blur, sigma drawn per sample; separable, reflect padding (as torchvision)."""

    kernel_size: tuple[int, int]  # (x, y) as torchvision
    sigma: tuple[float, float]

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> Param:
        return torch.empty(n).uniform_(*self.sigma, generator=generator)

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        assert param is not None
        n, c, h, w = x.shape
        kx, ky = self.kernel_size
        sigma = param.to(x.device, torch.float32).repeat_interleave(c)  # one per image channel
        img = F.pad(x.float(), [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
        img = img.reshape(n * c, h + ky - 1, w + kx - 1)  # a copy if x was channels-last
        img = _correlate(img, _gaussian_kernels(kx, sigma), dim=2)
        img = _correlate(img, _gaussian_kernels(ky, sigma), dim=1)
        return img.view(n, c, h, w).round_().to(torch.uint8)


@dataclass(frozen=True)
class CenterCrop(Op):
    size: tuple[int, int]  # (h, w)

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return crop_size(self.size, h, w)

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        h, w = x.shape[-2:]
        ch, cw = self.out_size(h, w)
        top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
        return x[..., top : top + ch, left : left + cw]


@dataclass(frozen=True)
class Resize(Op):
    size: tuple[int, ...]  # (edge,): the smaller edge, as torchvision's int; or (h, w)
    interpolation: str = "bilinear"
    antialias: bool = True  # ignored for nearest, as in torchvision

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return resize_size(self.size, h, w)

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        size = self.out_size(*x.shape[-2:])
        if size == tuple(x.shape[-2:]):
            return x
        if self.interpolation == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        if x.device.type == "cpu":  # ATen's native uint8 kernel, as torchvision uses on CPUs
            return F.interpolate(
                x, size=size, mode="bilinear", align_corners=False, antialias=self.antialias
            )
        out = F.interpolate(
            x.float(), size=size, mode="bilinear", align_corners=False, antialias=self.antialias
        )
        return out.round_().to(torch.uint8)


def _taps(
    start: torch.Tensor, length: torch.Tensor, out: int, interpolation: str, antialias: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resampling along one axis: per sample, ``out`` outputs from its input[start : start +
    length], as ATen's interpolate (align_corners=False) weighs them.

    Returns the input indices and weights, each (K, N, out): output i of sample s is the sum over
    taps k of weight[k, s, i] * input[index[k, s, i]]. Taps beyond a sample's own count weigh 0.
    """
    start, length = start.view(-1, 1, 1), length.view(-1, 1, 1)
    i = torch.arange(out).view(1, -1, 1)
    if interpolation == "nearest":
        # ATen's nearest_idx: min(floor(i * scale), length - 1) with scale = length / out, both
        # the division and the product in float32 as there, so the same index (an exact copy).
        scale = length.float() / out
        index = torch.minimum((i * scale).floor_().long(), length - 1)
        return (start + index).permute(2, 0, 1), torch.ones(1, *index.shape[:2])
    # Bilinear: ATen's separable kernels (_compute_indices_min_size_weights_aa, which its CPU
    # uint8 and antialiased kernels use), here in float64. A triangle filter of half-width
    # `support` centred at scale * (i + 0.5) in input pixels. Shrinking with antialias: support =
    # scale and the filter stretched as much (invscale = 1 / support). Otherwise support 1: the
    # plain bilinear weights, their clamp at the box's edges included (taps cut there, then the
    # weights normalized to sum 1).
    scale = length.double() / out
    support = scale.clamp(min=1.0) if antialias else torch.ones_like(scale)
    center = scale * (i + 0.5)
    # C++'s static_cast<int64_t>: truncation toward zero, as .long()
    xmin = (center - support + 0.5).long().clamp_(min=0)
    xsize = torch.minimum((center + support + 0.5).long(), length) - xmin
    xsize = torch.minimum(xsize, support.ceil().long() * 2 + 1)  # ATen's max_interp_size
    j = torch.arange(int(xsize.max()) if len(xsize) else 1).view(1, 1, -1)  # (0 samples: 1)
    invscale = 1.0 / support
    weight = (1 - ((j + xmin - center + 0.5) * invscale).abs()).clamp_(min=0)  # the triangle
    weight = torch.where(j < xsize, weight, 0.0)
    weight /= weight.sum(-1, keepdim=True)
    index = start + torch.minimum(xmin + j, length - 1)  # in range; a cut tap weighs 0
    # tap-major and contiguous: one tap's (N, out) weights broadcast fast. float64 -> float32:
    # the images are resampled in float32.
    return index.permute(2, 0, 1).contiguous(), weight.permute(2, 0, 1).float().contiguous()


def _select_rows(img: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of contiguous img (N, C, H, W) at per-sample indices (N, out): (N, C, out, W)."""
    n, c, h, w = img.shape
    first = torch.arange(0, n * c * h, h, device=img.device).view(n, c, 1)  # each plane's row 0
    flat = (first + index.view(n, 1, -1)).view(-1)
    return img.view(n * c * h, w).index_select(0, flat).view(n, c, -1, w)


def _resample_rows(img: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Contiguous float img (N, C, H, W) resampled along H with ``_taps``'s indices and weights.

    Whole rows copied (index_select, far faster than an elementwise gather), then one
    multiply-add per tap in tap order: each output is the same float32 sum whatever the batch,
    its composition (a padding tap adds 0) or the thread count. A matmul with dense weights would
    leave the order of the sum to the BLAS (and to TF32 on a GPU, when enabled)."""
    view = (len(img), 1, index.shape[2], 1)
    out = _select_rows(img, index[0]).mul_(weight[0].view(view))
    for k in range(1, len(index)):
        out.addcmul_(_select_rows(img, index[k]), weight[k].view(view))
    return out


@dataclass(frozen=True)
class RandomResizedCrop(Op):
    """A random box of the image (share of the area in ``scale``, aspect ratio in ``ratio``),
    resized to ``size``: torchvision's RandomResizedCrop. The box is drawn per sample for the
    input size (``draw``'s ``size``)."""

    size: tuple[int, int]  # (h, w)
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    interpolation: str = "bilinear"
    antialias: bool = True  # ignored for nearest, as in torchvision

    tries: ClassVar[int] = 10

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return self.size

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> Param:
        """Boxes (top, left, height, width), int64 (n, 4), for (h, w) = ``size`` images."""
        if size is None:
            raise ValueError("random_resized_crop draws its boxes for an input size=(h, w)")
        h, w = size
        # torchvision's get_params, all tries of all samples at once: the target area is the
        # area times a float32 uniform share, in float64 (Python's float); the aspect the exp of
        # a float32 uniform between float32 log(ratio)s, in float32; the sides the float64
        # square roots rounded half to even (Python's round, torch's round).
        shape = (n, self.tries)
        area = torch.empty(shape).uniform_(*self.scale, generator=generator).double() * (h * w)
        log_ratio = torch.log(torch.tensor(self.ratio)).tolist()
        aspect = torch.empty(shape).uniform_(*log_ratio, generator=generator).exp_().double()
        widths = (area * aspect).sqrt_().round_().long()
        heights = (area / aspect).sqrt_().round_().long()
        valid = (widths > 0) & (widths <= w) & (heights > 0) & (heights <= h)
        first = valid.int().argmax(1, keepdim=True)  # argmax: the first valid try (0 if none)
        ok = valid.any(1)
        fallback_h, fallback_w = self._fallback(h, w)
        bh = torch.where(ok, heights.gather(1, first).squeeze(1), fallback_h)
        bw = torch.where(ok, widths.gather(1, first).squeeze(1), fallback_w)
        # torchvision's randint(0, h - bh + 1) per sample: a uniform 62-bit integer modulo the
        # count (a bias below 2**-50). Drawn for every sample, so that the draws consumed never
        # depend on the outcome.
        position = torch.randint(2**62, (n, 2), generator=generator)
        top = torch.where(ok, position[:, 0] % (h - bh + 1), (h - fallback_h) // 2)
        left = torch.where(ok, position[:, 1] % (w - bw + 1), (w - fallback_w) // 2)
        return torch.stack([top, left, bh, bw], 1)

    def _fallback(self, h: int, w: int) -> tuple[int, int]:
        """torchvision's central crop when no try fits: the whole image, cut to the ratio."""
        in_ratio = float(w) / float(h)
        if in_ratio < min(self.ratio):
            return round(w / min(self.ratio)), w
        if in_ratio > max(self.ratio):
            return h, round(h * max(self.ratio))
        return h, w

    def __call__(self, x: torch.Tensor, param: Param) -> torch.Tensor:
        assert param is not None
        h, w = x.shape[-2:]
        top, left, height, width = param.unbind(1)
        if bool(((top + height > h) | (left + width > w)).any()):
            raise ValueError(f"random_resized_crop: boxes drawn for images larger than {h}x{w}")
        mode, antialias = self.interpolation, self.antialias
        rows, row_weights = (
            t.to(x.device) for t in _taps(top, height, self.size[0], mode, antialias)
        )
        cols, col_weights = (
            t.to(x.device) for t in _taps(left, width, self.size[1], mode, antialias)
        )
        # Columns, then rows (ATen's CPU order), each pass along the rows of a contiguous copy:
        # the input transposed to (N, C, W, H), columns resampled to (N, C, w, H), transposed
        # back to (N, C, H, w), rows resampled to (N, C, h, w).
        if self.interpolation == "nearest":  # a copy of the chosen pixels: exact
            img = _select_rows(x.transpose(2, 3).contiguous(), cols[0])
            return _select_rows(img.transpose(2, 3).contiguous(), rows[0])
        # uint8 -> float32 (exact); the sums rounded back to uint8 as torchvision's float path
        # (round, then the cast; the clamp only guards the cast)
        img = x.transpose(2, 3).to(torch.float32, memory_format=torch.contiguous_format)
        img = _resample_rows(img, cols, col_weights)
        img = _resample_rows(img.transpose(2, 3).contiguous(), rows, row_weights)
        return img.round_().clamp_(0, 255).to(torch.uint8)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ``(x / 255 - mean) / std``; mean, std per channel in [0, 1].

    ``mean`` and ``std`` are the training set's, as the pack stage writes them in stats.json.
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    # torchvision's to_dtype(scale=True) multiplies by 1/255, then normalize subtracts, divides
    return x.float().mul_(1.0 / 255).sub_(mean_t).div_(std_t)


# --- a set: config -> pipeline ---------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    """The uint8 ops of one augmentation set; ``normalize``: whether the set ends with it."""

    name: str
    ops: tuple[Op, ...]
    normalize: bool

    def draw(self, n: int, generator: torch.Generator, *, size: Size | None = None) -> list[Param]:
        """Per-sample parameters of ``n`` samples, op by op.

        ``size``: the (height, width) of the input images, passed to each op as the size it gets
        (``out_size`` of the ops before it); a set with random_resized_crop needs it."""
        params = []
        for op in self.ops:
            params.append(op.draw(n, generator, size=size))
            size = None if size is None else op.out_size(*size)
        return params

    def apply(self, x: torch.Tensor, params: Sequence[Param]) -> torch.Tensor:
        """Apply the ops to uint8 (N, C, H, W) with parameters drawn for these N samples."""
        for op, param in zip(self.ops, params, strict=True):
            x = op(x, param)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.draw(len(x), generator, size=x.shape[-2:]))

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        for op in self.ops:
            h, w = op.out_size(h, w)
        return h, w


class _Spec:
    """Reads the parameters of one op from config, with errors that name op and parameter."""

    def __init__(self, spec: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        unknown = sorted(set(spec) - allowed - {"op"})
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise UserError(f"{where}: unknown parameter {unknown[0]!r} (allowed: {known})")
        self.spec, self.where = spec, where

    def fail(self, key: str, expected: str) -> UserError:
        return UserError(
            f"{self.where}: parameter {key!r} must be {expected}, got {self.spec[key]!r}"
        )

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.spec and default is None:
            raise UserError(f"{self.where}: parameter {key!r} is required")
        return self.spec.get(key, default)

    def number(self, key: str, default: float, lo: float = 0.0, hi: float = math.inf) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise self.fail(key, f"a number in [{lo}, {hi}]")
        return float(v)

    def range(self, key: str, default: Any = None, *, symmetric: bool) -> tuple[float, float]:
        """A number (``d``: [-d, d] if symmetric, else [d, d]) or [min, max]."""
        v = self.get(key, default)
        if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
            return (-float(v), float(v)) if symmetric else (float(v), float(v))
        if (
            isinstance(v, list | tuple)
            and len(v) == 2
            and all(isinstance(e, int | float) and not isinstance(e, bool) for e in v)
            and v[0] <= v[1]
        ):
            return float(v[0]), float(v[1])
        raise self.fail(key, "a non-negative number or [min, max]")

    def ints(self, key: str, *, odd: bool = False) -> tuple[int, int]:
        """A positive int (used twice) or a pair of them."""
        v = self.get(key)
        pair = [v, v] if isinstance(v, int) else v
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(e, int) and not isinstance(e, bool) and e > 0 for e in pair)
            and not (odd and any(e % 2 == 0 for e in pair))
        ):
            raise self.fail(
                key, "a positive odd int or a pair" if odd else "a positive int or a pair"
            )
        return pair[0], pair[1]

    def interval(self, key: str, default: tuple[float, float], hi: float) -> tuple[float, float]:
        """[min, max] with 0 < min <= max <= hi."""
        v = self.get(key, default)
        if not (
            isinstance(v, list | tuple)
            and len(v) == 2
            and all(isinstance(e, int | float) and not isinstance(e, bool) for e in v)
            and 0 < v[0] <= v[1] <= hi
        ):
            bound = "" if hi == math.inf else f" <= {hi:g}"
            raise self.fail(key, f"[min, max] with 0 < min <= max{bound}")
        return float(v[0]), float(v[1])

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        v = self.get(key, default)
        if v not in choices:
            raise self.fail(key, " or ".join(choices))
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise self.fail(key, "true or false")
        return v


# The ops and the parameters each accepts. The config schema (tinycnn/config/
# schema.yaml, $defs.op) must allow exactly these: tests/config/test_config_schema.py checks it.
OP_PARAMETERS: dict[str, frozenset[str]] = {
    "random_horizontal_flip": frozenset({"p"}),
    "random_vertical_flip": frozenset({"p"}),
    "random_rotation": frozenset({"degrees", "interpolation", "fill"}),
    "gaussian_blur": frozenset({"kernel_size", "sigma"}),
    "center_crop": frozenset({"size"}),
    "resize": frozenset({"size", "interpolation", "antialias"}),
    "random_resized_crop": frozenset({"size", "scale", "ratio", "interpolation", "antialias"}),
    "normalize": frozenset(),  # its mean and std are the training set's (stats.json)
}
OP_NAMES = tuple(name for name in OP_PARAMETERS if name != "normalize")  # the uint8 ops


def _parse_op(name: str, spec: Mapping[str, Any], where: str) -> Op:
    if name not in OP_NAMES:
        raise UserError(f"{where}: unknown op {name!r} (known: {', '.join(OP_PARAMETERS)})")
    s = _Spec(spec, where, OP_PARAMETERS[name])
    if name in ("random_horizontal_flip", "random_vertical_flip"):
        cls = RandomHorizontalFlip if name == "random_horizontal_flip" else RandomVerticalFlip
        return cls(p=s.number("p", 0.5, hi=1.0))
    if name == "random_rotation":
        fill = s.get("fill", 0)
        if isinstance(fill, bool) or not isinstance(fill, int) or not 0 <= fill <= 255:
            raise s.fail("fill", "an int in [0, 255]")
        return RandomRotation(
            degrees=s.range("degrees", symmetric=True),
            interpolation=s.choice("interpolation", "nearest", ("nearest", "bilinear")),
            fill=fill,
        )
    if name == "gaussian_blur":
        sigma = s.range("sigma", (0.1, 2.0), symmetric=False)
        if sigma[0] <= 0:
            raise s.fail("sigma", "positive")
        return GaussianBlur(kernel_size=s.ints("kernel_size", odd=True), sigma=sigma)
    if name == "center_crop":
        return CenterCrop(size=s.ints("size"))
    if name == "random_resized_crop":
        return RandomResizedCrop(
            size=s.ints("size"),
            scale=s.interval("scale", (0.08, 1.0), hi=1.0),
            ratio=s.interval("ratio", (3.0 / 4.0, 4.0 / 3.0), hi=math.inf),
            interpolation=s.choice("interpolation", "bilinear", ("bilinear", "nearest")),
            antialias=s.flag("antialias", True),
        )
    assert name == "resize"
    size = s.get("size")
    return Resize(
        size=(size,) if type(size) is int and size > 0 else s.ints("size"),
        interpolation=s.choice("interpolation", "bilinear", ("bilinear", "nearest")),
        antialias=s.flag("antialias", True),
    )


def parse_set(name: str, ops: Sequence[Mapping[str, Any]]) -> Pipeline:
    """Build the pipeline of augmentation set ``name`` from its config list of ops."""
    if not isinstance(ops, list | tuple):
        raise UserError(f"augmentation set {name!r}: expected a list of ops, got {ops!r}")
    parsed: list[Op] = []
    for i, spec in enumerate(ops, 1):
        op = spec.get("op") if isinstance(spec, Mapping) else None
        where = f"augmentation set {name!r}, op {i} ({op})"
        if not isinstance(op, str):
            raise UserError(f"{where}: expected a mapping with an 'op' key, got {spec!r}")
        if op == "normalize":
            _Spec(spec, where, OP_PARAMETERS["normalize"])
            if i != len(ops):
                raise UserError(f"{where}: normalize may only be the last op")
            return Pipeline(name, tuple(parsed), normalize=True)
        parsed.append(_parse_op(op, spec, where))
    return Pipeline(name, tuple(parsed), normalize=False)
