"""The model registry: every architecture runs on 64x64 inputs with the expected parameters."""

from __future__ import annotations

import copy
import json
import operator
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision
from torch import fx, nn

from tinycnn.config.load import load_schema
from tinycnn.shared.errors import UserError
from tinycnn.training.models import (
    MODELS,
    ConvStack,
    PreActBlock,
    architecture_record,
    build_model,
    count_parameters,
    layer_table,
    list_models,
    register,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"
CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"

# Trainable parameters with a 200-way head (torchvision 0.29).
EXPECTED = {
    "m1": 584_120,
    "m4": 2_343_080,
    "alexnet": 61_301_040,
    "resnet18": 11_279_112,
    "resnet34": 21_387_272,
    "resnet34_preact": 21_385_480,
    "densenet161": 26_913_800,
    # Batch normalization after every convolution (the ablation): each conv's bias gone, the
    # normalization's scale and shift added, so c more parameters per conv of c channels.
    "m1_bn": 584_120 + 16 + 16 + 32,
    "m4_bn": 2_343_080 + 32 + 32 + 64 + 64 + 64 + 128,
    # The 64x64 stem: a 3x3x3x64 convolution in place of the 7x7x3x64 one.
    "resnet18_64": 11_279_112 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64,
}


PRESETS = ("ablations.yaml", "modern.yaml")


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {arch: build_model(arch) for arch in MODELS}


def test_registry_holds_the_config_architectures():
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    assert sorted(MODELS) == sorted(EXPECTED)
    # The paper's seven in config.yaml; the batch-normalized M1 and M4 in the ablations preset,
    # the 64x64 stem in the modern one.
    presets = [yaml.safe_load((CONFIG.parent / "presets" / f).read_text()) for f in PRESETS]
    paper = {m["arch"] for m in config["models"].values()}
    assert paper | {m["arch"] for p in presets for m in p["models"].values()} == set(MODELS)
    assert len(paper) == 7


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_forward_backward_on_64x64(models, arch):
    model = models[arch].train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    out = model(x)
    assert out.shape == (2, 200)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 3
    assert first_conv.weight.grad is not None
    assert first_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_parameter_count(models, arch):
    assert count_parameters(models[arch]) == EXPECTED[arch]


def test_num_classes_sets_the_head():
    x = torch.randn(2, 3, 64, 64)
    for arch in ("m1", "m4", "alexnet", "resnet18", "resnet34_preact"):
        with torch.no_grad():
            assert build_model(arch, num_classes=10).eval()(x).shape == (2, 10), arch


def _conv_relu_params(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


def test_m1_m4_counts_follow_the_layer_formula():
    fc = 256 + 200 * (256 + 1)
    m1 = (
        _conv_relu_params(5, 3, 16)
        + _conv_relu_params(3, 16, 16)
        + _conv_relu_params(3, 16, 32)
        + (32 * 8 * 8 + 1) * 256
        + fc
        - 256  # fc1's bias is counted in (32*8*8 + 1) * 256
    )
    widths = [(5, 3, 32), (5, 32, 32), (3, 32, 64), (3, 64, 64), (3, 64, 64), (3, 64, 128)]
    m4 = sum(_conv_relu_params(*w) for w in widths) + (128 * 8 * 8 + 1) * 256 + fc - 256
    assert (m1, m4) == (EXPECTED["m1"], EXPECTED["m4"])


@pytest.mark.parametrize(
    ("arch", "channels"), [("m1", [16, 16, 32]), ("m4", [32, 32, 64, 64, 64, 128])]
)
def test_ting_models_layers(arch, channels):
    rows = layer_table(build_model(arch))
    convs = [r for r in rows if r.layer.startswith("ConvReLU")]
    assert [r.output_shape[0] for r in convs] == channels
    assert convs[0].layer == ("ConvReLU(5x5, 16)" if arch == "m1" else "ConvReLU(5x5, 32)")
    pools = [r for r in rows if r.layer == "MaxPool(2x2)"]
    assert [r.output_shape[1:] for r in pools] == [(32, 32), (16, 16), (8, 8)]
    assert [r.layer for r in rows[-3:]] == ["Flatten", "FC-ReLU(256)", "FC(200)"]
    assert rows[-3].output_shape == (channels[-1] * 8 * 8,)
    assert sum(r.parameters for r in rows) == EXPECTED[arch]


@pytest.mark.parametrize("arch", ["m1", "m4"])
def test_batch_norm_variants_normalize_after_every_convolution(models, arch):
    """m1_bn, m4_bn: the plain model's layers, shapes and head, with Conv (no bias) then
    BatchNorm then ReLU wherever the plain model has a ConvReLU; nowhere else."""
    plain, bn = models[arch], models[f"{arch}_bn"]
    assert [n for n, _ in plain.named_children()] == [n for n, _ in bn.named_children()]
    for (name, a), b in zip(plain.named_children(), bn.children(), strict=True):
        if isinstance(a, nn.Sequential) and isinstance(a[0], nn.Conv2d):
            conv, norm, relu = b
            assert isinstance(norm, nn.BatchNorm2d) and isinstance(relu, nn.ReLU), name
            assert conv.bias is None and norm.num_features == a[0].out_channels, name
            assert (conv.in_channels, conv.out_channels) == (a[0].in_channels, a[0].out_channels)
            assert (conv.kernel_size, conv.padding) == (a[0].kernel_size, a[0].padding), name
        else:
            assert not any(isinstance(m, nn.BatchNorm2d) for m in b.modules()), name
            assert type(a) is type(b) and count_parameters(a) == count_parameters(b), name
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert bn.eval()(x).shape == plain.eval()(x).shape == (2, 200)
    assert build_model(f"{arch}_bn", num_classes=10).eval()(x).shape == (2, 10)


def _plain(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that runs its children in order, the paper's ReLU-then-pool."""
    plain = copy.deepcopy(model)
    plain.__class__ = nn.Sequential
    return plain


def _forward_backward(model: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    x = x.clone().requires_grad_(True)
    out = model(x)
    out.backward(upstream)
    return out.detach(), x.grad, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("arch", ["m1", "m1_bn", "m4", "m4_bn"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_before_the_relu_computes_the_same_bits(arch, channels_last):
    """ConvStack (M1, M4, their BN variants) pools before each ReLU that a MaxPool follows:
    the logits and every gradient (input and parameters) are those of the paper's order, bit
    for bit, in training mode, in either memory format."""
    torch.manual_seed(0)
    model = build_model(arch)
    assert isinstance(model, ConvStack)
    plain = _plain(model)
    x = torch.randn(4, 3, 64, 64)
    if channels_last:
        model, plain = (m.to(memory_format=torch.channels_last) for m in (model, plain))
        x = x.contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(4, 200)
    ours, theirs = _forward_backward(model, x, upstream), _forward_backward(plain, x, upstream)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert all(torch.equal(a, b) for a, b in zip(ours[2], theirs[2], strict=True))
    if arch.endswith("_bn"):  # the running statistics are updated alike
        assert all(torch.equal(a, b) for a, b in zip(model.buffers(), plain.buffers(), strict=True))


def test_pooling_before_the_relu_on_ties_and_windows_without_a_positive():
    """Integer weights and inputs: pooling windows with tied maxima, windows whose maximum is
    zero or negative. The gradient still reaches the same elements as the paper's order."""
    stack = ConvStack(
        OrderedDict(
            conv=nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(inplace=True)),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
        )
    )
    with torch.no_grad():
        stack.conv[0].weight.copy_(torch.randint(-1, 2, (2, 1, 3, 3)).float())
        stack.conv[0].bias.copy_(torch.tensor([0.0, -1.0]))
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (3, 1, 8, 8), generator=generator).float()
    upstream = torch.randn(3, 2 * 4 * 4, generator=generator)
    ours = _forward_backward(stack, x, upstream)
    theirs = _forward_backward(_plain(stack), x, upstream)
    pre = stack.conv[0](x).detach().unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    tied = (pre == pre.amax(-1, keepdim=True)).sum(-1) > 1
    assert tied.any() and (pre.amax(-1) <= 0).any() and (pre.amax(-1) > 0).any()
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert all(torch.equal(a, b) for a, b in zip(ours[2], theirs[2], strict=True))


def test_the_layer_table_runs_the_children_in_the_papers_order(models):
    """The table and the state dict see the plain children: ConvReLU rows, then MaxPool rows,
    and the keys of an nn.Sequential of the same children."""
    m1 = models["m1"]
    assert [r.layer for r in layer_table(m1)][:2] == ["ConvReLU(5x5, 16)", "MaxPool(2x2)"]
    assert list(m1.state_dict()) == list(_plain(m1).state_dict())
    assert list(m1.state_dict())[:2] == ["conv1.0.weight", "conv1.0.bias"]


def test_alexnet_is_torchvision_plus_a_linear_head(models):
    model = models["alexnet"]
    assert isinstance(model, torchvision.models.AlexNet)
    head = model.classifier[-1]
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (1000, 200)
    assert isinstance(model.classifier[-2], nn.Linear)  # no activation between 1000 and 200
    reference = count_parameters(torchvision.models.alexnet(weights=None))
    assert EXPECTED["alexnet"] == reference + 1000 * 200 + 200
    with torch.no_grad():  # 64x64 inputs end at 1x1 features, pooled up to 6x6
        assert model.features(torch.zeros(1, 3, 64, 64)).shape == (1, 256, 1, 1)


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "densenet161"])
def test_torchvision_models_match_torchvision(arch):
    reference = getattr(torchvision.models, arch)(weights=None, num_classes=200)
    assert count_parameters(reference) == EXPECTED[arch]


# --- pre-activation ResNet34 -----------------------------------------------------------------


def _chain(node: fx.Node, modules: dict[str, nn.Module]) -> list[str]:
    """Module types on the first-argument path from the input (or an addition) to ``node``."""
    names: list[str] = []
    while node.op == "call_module":
        names.append(type(modules[node.target]).__name__)
        node = node.args[0]
    return names[::-1]


def _add_nodes(graph: fx.Graph) -> list[fx.Node]:
    return [n for n in graph.nodes if n.op == "call_function" and n.target is operator.add]


def test_preact_block_order_with_identity_shortcut():
    traced = fx.symbolic_trace(PreActBlock(64, 64))
    modules = dict(traced.named_modules())
    (add,) = _add_nodes(traced.graph)
    residual, shortcut = add.args
    assert _chain(residual, modules) == [
        "BatchNorm2d",
        "ReLU",
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "Conv2d",
    ]
    assert shortcut.op == "placeholder"  # the raw input, not its activation
    assert list(traced.graph.nodes)[-1].args[0] is add  # nothing after the addition


def test_preact_block_projects_the_activated_input():
    block = PreActBlock(64, 128, stride=2)
    traced = fx.symbolic_trace(block)
    modules = dict(traced.named_modules())
    (add,) = _add_nodes(traced.graph)
    residual, shortcut = add.args
    assert _chain(residual, modules)[-4:] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    projection = modules[shortcut.target]
    assert isinstance(projection, nn.Conv2d)
    assert (projection.kernel_size, projection.stride) == ((1, 1), (2, 2))
    activated = shortcut.args[0]
    assert _chain(activated, modules) == ["BatchNorm2d", "ReLU"]
    conv1 = next(n for n in traced.graph.nodes if n.target == "conv1")
    assert conv1.args[0] is activated
    assert block(torch.randn(2, 64, 16, 16)).shape == (2, 128, 8, 8)


def test_preact_resnet_stem_first_block_and_head(models):
    model = models["resnet34_preact"]
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    adds = _add_nodes(traced.graph)
    assert len(adds) == 16
    # The stem's BN -> ReLU is the first block's pre-activation; it feeds both paths.
    first_residual, first_shortcut = adds[0].args
    stem = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert _chain(first_shortcut, modules) == stem
    assert _chain(first_residual, modules) == [*stem, "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert first_residual.args[0].args[0].args[0].args[0] is first_shortcut
    # Every later block pre-activates its own input.
    for add in adds[1:]:
        assert _chain(add.args[0], modules)[:2] == ["BatchNorm2d", "ReLU"]
    # Head: BN -> ReLU after the last addition, then pooling and the classifier.
    output = list(traced.graph.nodes)[-1].args[0]
    tail = []
    node = output
    while node is not adds[-1]:
        tail.append(type(modules[node.target]).__name__ if node.op == "call_module" else "flat")
        node = node.args[0]
    assert tail[::-1] == ["BatchNorm2d", "ReLU", "AdaptiveAvgPool2d", "flat", "Linear"]


def test_preact_resnet34_has_torchvision_resnet34_layout(models):
    model = models["resnet34_preact"]
    reference = torchvision.models.resnet34(weights=None, num_classes=200)
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        ours, theirs = getattr(model, stage), getattr(reference, stage)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            for name in ("conv1", "conv2"):
                conv_a, conv_b = getattr(a, name), getattr(b, name)
                assert (conv_a.in_channels, conv_a.out_channels, conv_a.stride) == (
                    conv_b.in_channels,
                    conv_b.out_channels,
                    conv_b.stride,
                )
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert str(model.conv1) == str(reference.conv1)
    assert str(model.maxpool) == str(reference.maxpool)
    ratio = count_parameters(model) / count_parameters(reference)
    assert 0.98 < ratio < 1.02


def test_preact_resnet34_parameter_formula():
    total = 7 * 7 * 3 * 64 + 2 * 64  # stem conv + BN
    c_in = 64
    for stage, (blocks, c) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512], strict=True)):
        for b in range(blocks):
            preact_bn = 0 if stage == b == 0 else 2 * c_in
            projection = c_in * c if c_in != c else 0
            total += preact_bn + 9 * c_in * c + 2 * c + 9 * c * c + projection
            c_in = c
    total += 2 * 512 + 512 * 200 + 200  # final BN, FC
    assert total == EXPECTED["resnet34_preact"]


def test_preact_resnet_uses_kaiming_fan_out_init(models):
    model = models["resnet34_preact"]
    conv = model.layer3[0].conv1  # 128 -> 256, 3x3: fan_out = 256 * 9
    expected_std = (2 / (256 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)


# --- registry --------------------------------------------------------------------------------


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UserError, match=r"unknown model architecture 'resnet50'") as info:
        build_model("resnet50")
    assert ", ".join(sorted(MODELS)) in str(info.value)


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        register("m1", description="x")(lambda num_classes=200: nn.Identity())
    assert MODELS["m1"].build.__name__ == "m1"


def test_the_schema_allows_exactly_the_registered_architectures():
    # The registry is the one list: a model registered without its schema entry, or a schema
    # entry without its model, fails here.
    models = load_schema()["properties"]["models"]["additionalProperties"]
    assert sorted(models["properties"]["arch"]["enum"]) == list_models()


def test_every_model_has_a_description_and_the_paper_tabulates_m1_and_m4():
    assert list_models() == sorted(EXPECTED)
    for arch in list_models():
        description = MODELS[arch].description
        assert description.endswith(".") and re.search(r"\{\w+\}", description), arch
    assert [arch for arch in list_models() if MODELS[arch].layer_table] == ["m1", "m4"]


def test_architecture_record_of_a_tabulated_model(models):
    record = architecture_record("m1", models["m1"])
    assert json.loads(json.dumps(record)) == record
    assert record["arch"] == "m1"
    assert record["description"] == MODELS["m1"].description
    assert record["layers"][0] == {
        "name": "conv1",
        "layer": "ConvReLU(5x5, 16)",
        "output": [16, 64, 64],
        "parameters": 1216,
    }
    assert record["layers"][6] == {
        "name": "flatten",
        "layer": "Flatten",
        "output": [2048],
        "parameters": 0,
    }
    rows = layer_table(models["m1"])
    assert [r["name"] for r in record["layers"]] == [r.name for r in rows]
    assert sum(r["parameters"] for r in record["layers"]) == EXPECTED["m1"]
    m4 = architecture_record("m4", models["m4"], image_size=64)
    assert m4["layers"][-1] == {
        "name": "fc2",
        "layer": "FC(200)",
        "output": [200],
        "parameters": 51400,
    }


@pytest.mark.parametrize("arch", ["alexnet", "resnet18", "resnet34_preact"])
def test_architecture_record_of_an_untabulated_model(models, arch):
    record = architecture_record(arch, models[arch])
    assert record == {"arch": arch, "description": MODELS[arch].description, "layers": None}
    assert json.loads(json.dumps(record)) == record


def test_architecture_record_of_an_unknown_arch_is_a_user_error(models):
    with pytest.raises(UserError, match="unknown model architecture 'm2'"):
        architecture_record("m2", models["m1"])


# --- docs ------------------------------------------------------------------------------------


def test_docs_table_matches_the_code(models):
    text = DOCS.read_text()
    for arch, model in models.items():
        row = re.search(rf"^\| `{arch}` \|.*$", text, re.MULTILINE)
        assert row, arch
        assert row.group(0).rstrip().endswith(f"| {count_parameters(model):,} |"), arch
    for arch in ("m1", "m4"):
        for r in layer_table(models[arch]):
            shape = " x ".join(map(str, r.output_shape))
            assert f"| {r.name} | {r.layer} | {shape} | {r.parameters:,} |" in text, (arch, r)


def test_the_64x64_stem_keeps_the_full_resolution_until_layer2(models):
    """resnet18_64: conv1 is 3x3 stride 1 (no bias), no max-pooling, so layer1 works on the
    whole 64x64 image (torchvision's ImageNet stem: 16x16); the rest is ResNet18's."""
    model, paper = models["resnet18_64"], models["resnet18"]
    conv = model.conv1
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
    assert conv.bias is None
    assert isinstance(model.maxpool, nn.Identity)
    shapes, hooks = {}, []
    for name in ("layer1", "layer4"):
        for m, key in ((model, "64"), (paper, "paper")):
            hooks.append(
                getattr(m, name).register_forward_hook(
                    lambda _m, _i, out, k=(name, key): shapes.__setitem__(k, out.shape[1:])
                )
            )
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 64, 64)), paper.eval()(torch.zeros(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    assert shapes["layer1", "64"] == (64, 64, 64) and shapes["layer1", "paper"] == (64, 16, 16)
    assert shapes["layer4", "64"] == (512, 8, 8) and shapes["layer4", "paper"] == (512, 2, 2)
    rest = lambda m: [(n, p.shape) for n, p in m.named_parameters() if not n.startswith("conv1")]  # noqa: E731
    assert rest(model) == rest(paper)
