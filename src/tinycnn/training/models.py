"""The paper's seven architectures, built by name from a registry.

``build_model("resnet18")`` returns a freshly initialized model (no pretrained weights) that maps
a batch of 64x64 RGB images (N, 3, 64, 64) to ``num_classes`` logits. The registry is the one
list of architectures: each ``@register("name", description=..., layer_table=...)`` constructor
carries the paper's text about it and whether the paper prints its layer table;
:func:`architecture_record` is what a run records about its model. The config schema's ``arch`` enum
must list exactly :func:`list_models` (tests/training/test_models.py checks it, and the parameter
counts of docs/models.md). Keys (config.yaml's ``arch``):

- ``m1``, ``m4``: J. Ting's baseline and best model, a :class:`ConvStack` (an ``nn.Sequential``
  that pools before the ReLU, the same numbers) with one named child per row of the paper's
  Tables 1 and 2 (``layer_table`` lists them).
- ``alexnet``: torchvision's AlexNet (1000 outputs) followed by ``Linear(1000, num_classes)``.
- ``resnet18``, ``resnet34``, ``densenet161``: torchvision's definitions, ``num_classes`` head.
- ``resnet34_preact``: ResNet34 with full pre-activation blocks (He et al. 2016), written here.
- ``m1_bn``, ``m4_bn``: M1 and M4 with batch normalization after every convolution, for the
  ablation that asks whether the original had it (presets/ablations.yaml names them).
- ``resnet18_64``: ResNet18 with a 3x3 stride-1 stem and no max-pooling, suited to 64x64
  images, for the runs beyond the paper (presets/modern.yaml names it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torchvision
from torch import nn

from tinycnn.shared.errors import UserError


@dataclass(frozen=True)
class RegisteredModel:
    """One architecture: its constructor ``build(num_classes) -> nn.Module``, the paper's text
    about it (``description``, with ``{citation}`` keys the report fills in), and whether the
    paper prints its layer table (``layer_table``: sequential models only, see
    :func:`layer_table`)."""

    build: Callable[..., nn.Module]
    description: str
    layer_table: bool = False


MODELS: dict[str, RegisteredModel] = {}


def register(
    name: str, *, description: str, layer_table: bool = False
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: add a constructor ``f(num_classes) -> nn.Module`` to ``MODELS`` as ``name``."""

    def add(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = RegisteredModel(constructor, description, layer_table)
        return constructor

    return add


def list_models() -> list[str]:
    """The registered architectures' names, sorted (config.yaml's ``arch`` values)."""
    return sorted(MODELS)


def registered(arch: str) -> RegisteredModel:
    """The registry's entry of ``arch``; an unknown name is a :class:`UserError`."""
    if arch not in MODELS:
        raise UserError(
            f"unknown model architecture {arch!r}; known: {', '.join(list_models())}. "
            "Fix `arch` under `models:` in the config."
        )
    return MODELS[arch]


def build_model(arch: str, num_classes: int = 200) -> nn.Module:
    """A new, randomly initialized model of the registered architecture ``arch``."""
    return registered(arch).build(num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (elements of tensors that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- J. Ting's models: M1 and M4 -------------------------------------------------------------


class ConvStack(nn.Sequential):
    """An ``nn.Sequential`` of the paper's layers (M1, M4 and their BN variants) that computes
    each ConvReLU followed by a MaxPool as convolution, max-pooling, then ReLU.

    The numbers are the same, bit for bit, forward and backward: ReLU is monotone, so the
    maximum of the ReLUs is the ReLU of the maximum; and the gradient reaches the same element
    either way (the window's first maximum when it is positive, nothing when it is not). The
    ReLU and its backward then touch a quarter of the elements: on a 2-core CPU, with the memory
    kept as ``tinycnn train`` keeps it, M1 trains 1.07x faster, M1-BN 1.04x and M4 1.11x
    (``benchmarks/pool_relu_order.py``). The children, their names and the state dict are those
    of the plain ``nn.Sequential``; :func:`layer_table` runs the children one by one, in the
    paper's order.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        children = list(self)
        relu = None  # a ReLU held back for the max-pooling that follows it
        for child, after in zip(children, [*children[1:], None], strict=True):
            if relu is not None:  # child is that max-pooling
                x = relu(child(x))
                relu = None
            elif _ends_in_relu(child) and isinstance(after, nn.MaxPool2d):
                *layers, relu = child
                for layer in layers:
                    x = layer(x)
            else:
                x = child(x)
        return x


def _ends_in_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) and isinstance(module[-1], nn.ReLU)


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """ConvReLU with 'same' padding (odd kernel, stride 1)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.ReLU(inplace=True),
    )


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(2)


@register(
    "m1",
    description="J. Ting's baseline {ting}: a plain stack of convolution–ReLU layers, each "
    "followed by max-pooling, then a fully connected hidden layer and the classifier.",
    layer_table=True,
)
def m1(num_classes: int = 200) -> ConvStack:
    """M1: three ConvReLU (5x5/16, 3x3/16, 3x3/32) each pooled, FC-ReLU(256), FC."""
    return ConvStack(
        OrderedDict(
            conv1=_conv_relu(3, 16, 5),
            pool1=_pool(),
            conv2=_conv_relu(16, 16, 3),
            pool2=_pool(),
            conv3=_conv_relu(16, 32, 3),
            pool3=_pool(),
            flatten=nn.Flatten(),
            fc1=nn.Sequential(nn.Linear(32 * 8 * 8, 256), nn.ReLU(inplace=True)),
            fc2=nn.Linear(256, num_classes),
        )
    )


@register(
    "m4",
    description="J. Ting's best model {ting}: deeper and wider than M1, with pairs of "
    "convolution–ReLU layers before each max-pooling and the same classifier head.",
    layer_table=True,
)
def m4(num_classes: int = 200) -> ConvStack:
    """M4: three pairs of ConvReLU (5x5/32 x2, 3x3/64 x2, 3x3/64 + 3x3/128), each pair pooled."""
    return ConvStack(
        OrderedDict(
            conv1=_conv_relu(3, 32, 5),
            conv2=_conv_relu(32, 32, 5),
            pool1=_pool(),
            conv3=_conv_relu(32, 64, 3),
            conv4=_conv_relu(64, 64, 3),
            pool2=_pool(),
            conv5=_conv_relu(64, 64, 3),
            conv6=_conv_relu(64, 128, 3),
            pool3=_pool(),
            flatten=nn.Flatten(),
            fc1=nn.Sequential(nn.Linear(128 * 8 * 8, 256), nn.ReLU(inplace=True)),
            fc2=nn.Linear(256, num_classes),
        )
    )


# --- M1 and M4 with batch normalization (an ablation: presets/ablations.yaml) -----------------


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv ('same' padding, no bias: the normalization's shift replaces it), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def with_batch_norm(plain: nn.Sequential) -> ConvStack:
    """``plain`` (M1 or M4) with every ConvReLU replaced by Conv–BatchNorm–ReLU of the same
    kernel and widths; pooling and the fully connected head are kept as they are."""
    children = OrderedDict()
    for name, child in plain.named_children():
        conv = child[0] if isinstance(child, nn.Sequential) else None
        if isinstance(conv, nn.Conv2d):
            child = _conv_bn_relu(conv.in_channels, conv.out_channels, conv.kernel_size[0])
        children[name] = child
    return ConvStack(children)


@register(
    "m1_bn",
    description="J. Ting's baseline {ting} with batch normalization after every convolution "
    "(before its ReLU), which the original leaves out; otherwise M1 layer by layer.",
)
def m1_bn(num_classes: int = 200) -> ConvStack:
    """M1 with Conv–BatchNorm–ReLU in place of each ConvReLU."""
    return with_batch_norm(m1(num_classes))


@register(
    "m4_bn",
    description="J. Ting's best model {ting} with batch normalization after every convolution "
    "(before its ReLU), which the original leaves out; otherwise M4 layer by layer.",
)
def m4_bn(num_classes: int = 200) -> ConvStack:
    """M4 with Conv–BatchNorm–ReLU in place of each ConvReLU."""
    return with_batch_norm(m4(num_classes))


class LayerRow(NamedTuple):
    """One row of an architecture table: child name, the paper's notation, shape, parameters."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    parameters: int


def _notation(module: nn.Module) -> str:
    """The paper's name of a layer: ConvReLU(5x5, 16), MaxPool(2x2), FC-ReLU(256), FC(200)."""
    match module:
        case nn.Sequential() if len(module) == 2 and isinstance(module[1], nn.ReLU):
            return _notation(module[0]).replace("Conv(", "ConvReLU(").replace("FC(", "FC-ReLU(")
        case nn.Conv2d(kernel_size=(kh, kw), out_channels=c):
            return f"Conv({kh}x{kw}, {c})"
        case nn.MaxPool2d(kernel_size=k):
            return f"MaxPool({k}x{k})"
        case nn.Linear(out_features=n):
            return f"FC({n})"
        case nn.Flatten():
            return "Flatten"
        case nn.Dropout(p=p):
            return f"Dropout({p:g})"
    raise ValueError(f"no notation for {type(module).__name__}")


@torch.no_grad()
def layer_table(model: nn.Sequential, image_size: int = 64) -> list[LayerRow]:
    """Rows of a sequential model (M1, M4) for one ``image_size`` RGB input, batch dim dropped.

    The input is made on the device and in the dtype of the model's parameters, so a model on a
    GPU is tabulated where it is (the shapes and counts do not depend on it)."""
    param = next(model.parameters(), None)
    like = {} if param is None else {"device": param.device, "dtype": param.dtype}
    x = torch.zeros(1, 3, image_size, image_size, **like)
    rows = []
    for name, child in model.named_children():
        x = child(x)
        rows.append(LayerRow(name, _notation(child), tuple(x.shape[1:]), count_parameters(child)))
    return rows


def architecture_record(arch: str, model: nn.Module, image_size: int = 64) -> dict[str, Any]:
    """What a run records about its model (JSON-serializable): the registered ``arch``, its
    ``description`` (the paper's text, with ``{citation}`` keys), and ``layers``, the rows of
    :func:`layer_table` for ``image_size`` inputs if the paper prints that table (else None)."""
    entry = registered(arch)
    layers = None
    if entry.layer_table:
        layers = [
            {
                "name": row.name,
                "layer": row.layer,
                "output": list(row.output_shape),
                "parameters": row.parameters,
            }
            for row in layer_table(model, image_size)
        ]
    return {"arch": arch, "description": entry.description, "layers": layers}


# --- torchvision models ----------------------------------------------------------------------


@register(
    "alexnet",
    description="The ImageNet network of Krizhevsky et al. {alexnet}, kept whole up to its "
    "ImageNet-sized output and followed by one more fully connected layer that maps that output "
    "to the classes here; it has no batch normalization.",
)
def alexnet(num_classes: int = 200) -> torchvision.models.AlexNet:
    """torchvision AlexNet (1000 outputs) + ``Linear(1000, num_classes)``, no activation between.

    The paper adds "one more fully connected layer" to map 1000 -> 200; read literally, the new
    layer follows the 1000-way logits directly. It is appended to ``classifier`` (index 7).
    On 64x64 inputs the features end at 1x1, which ``AdaptiveAvgPool2d(6)`` replicates to 6x6.
    """
    model = torchvision.models.alexnet(weights=None)
    model.classifier.append(nn.Linear(1000, num_classes))
    return model


@register(
    "resnet18",
    description="A residual network {resnet}: stages of basic blocks whose output adds the "
    "block's input back through a shortcut, with batch normalization after every convolution.",
)
def resnet18(num_classes: int = 200) -> torchvision.models.ResNet:
    """torchvision ResNet18 with a ``num_classes`` head."""
    return torchvision.models.resnet18(weights=None, num_classes=num_classes)


@register(
    "resnet18_64",
    description="ResNet18 {resnet} with a stem suited to 64×64 images: one 3×3 convolution of "
    "stride 1 and no max-pooling in place of the 7×7 convolution of stride 2 and the "
    "max-pooling, so that its first stage sees the image at full resolution (16× the "
    "computation of the ImageNet stem at this size).",
)
def resnet18_64(num_classes: int = 200) -> torchvision.models.ResNet:
    """torchvision ResNet18 with ``conv1`` a 3x3 stride-1 convolution (64 channels, no bias, as
    the original) and ``maxpool`` an identity: stages at 64, 32, 16 and 8 pixels, not 16 to 2."""
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    # torchvision initializes conv weights with kaiming_normal_(fan_out, relu); the new stem too.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


@register(
    "resnet34",
    description="A deeper residual network {resnet} of basic blocks, each of which adds its "
    "input back to its output through a shortcut, with batch normalization after every "
    "convolution.",
)
def resnet34(num_classes: int = 200) -> torchvision.models.ResNet:
    """torchvision ResNet34 (basic blocks) with a ``num_classes`` head."""
    return torchvision.models.resnet34(weights=None, num_classes=num_classes)


@register(
    "densenet161",
    description="A densely connected network {densenet}: inside a dense block every layer "
    "receives the feature maps of all the layers before it, and transition layers between the "
    "blocks compress and downsample.",
)
def densenet161(num_classes: int = 200) -> torchvision.models.DenseNet:
    """torchvision DenseNet161 with a ``num_classes`` head."""
    return torchvision.models.densenet161(weights=None, num_classes=num_classes)


# --- ResNet34 with full pre-activation blocks -------------------------------------------------


class PreActBlock(nn.Module):
    """Full pre-activation basic block: BN → ReLU → conv3x3 → BN → ReLU → conv3x3, + shortcut.

    The identity shortcut carries the raw input; when the shape changes, a strided 1x1
    convolution (no BN) projects the pre-activated input instead. ``preact=False`` drops the
    leading BN → ReLU for the block right after the stem, which has just applied them.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, preact: bool = True) -> None:
        super().__init__()
        activation = [nn.BatchNorm2d(in_planes), nn.ReLU(inplace=True)] if preact else []
        self.preact = nn.Sequential(*activation)  # empty: passes the input through
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.projection = (
            nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
            if stride != 1 or in_planes != planes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.preact(x)
        shortcut = x if self.projection is None else self.projection(activated)
        return self.conv2(self.relu2(self.bn2(self.conv1(activated)))) + shortcut


class PreActResNet(nn.Module):
    """ResNet with full pre-activation blocks; stem and stages as torchvision's ResNet.

    Stem: conv7x7/2 → BN → ReLU → maxpool3x3/2 (torchvision's). As in He et al. (2016, Sec. 4.1)
    the stem's BN → ReLU is the first block's pre-activation, so that block has none of its own.
    Head: BN → ReLU after the last addition, global average pooling, FC.
    """

    def __init__(self, layers: list[int], num_classes: int = 200) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes = 64
        for i, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            stride = 1 if i == 0 else 2
            stage = [PreActBlock(in_planes, planes, stride, preact=i > 0)]
            stage += [PreActBlock(planes, planes) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            in_planes = planes
        self.bn_final = nn.BatchNorm2d(in_planes)
        self.relu_final = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():  # torchvision's ResNet initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(self.relu_final(self.bn_final(x)))
        return self.fc(torch.flatten(x, 1))


@register(
    "resnet34_preact",
    description="ResNet34 rebuilt from full pre-activation blocks {preact}: batch "
    "normalization and ReLU come before each convolution, and the shortcut carries the signal "
    "with no nonlinearity on its path.",
)
def resnet34_preact(num_classes: int = 200) -> PreActResNet:
    """ResNet34 ([3, 4, 6, 3] blocks, widths 64-512) with full pre-activation blocks."""
    return PreActResNet([3, 4, 6, 3], num_classes=num_classes)
