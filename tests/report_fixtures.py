"""What a run records about its model (summary.json's ``architecture``), written out for the
report-side tests, which build run folders and aggregates by hand and import no torch.

The descriptions are the texts the paper prints (citations as {key}); the layer rows are what
``tinycnn.models.layer_table`` gives for a 200-way head, which
``test_report.test_recorded_layers_match_the_model_code`` checks.
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS = {
    "m1": "J. Ting's baseline {ting}: a plain stack of convolution–ReLU layers, each followed "
    "by max-pooling, then a fully connected hidden layer and the classifier.",
    "m4": "J. Ting's best model {ting}: deeper and wider than M1, with pairs of convolution–ReLU "
    "layers before each max-pooling and the same classifier head.",
    "alexnet": "The ImageNet network of Krizhevsky et al. {alexnet}, kept whole up to its "
    "ImageNet-sized output and followed by one more fully connected layer that maps that output "
    "to the classes here; it has no batch normalization.",
    "resnet18": "A residual network {resnet}: stages of basic blocks whose output adds the "
    "block's input back through a shortcut, with batch normalization after every convolution.",
    "resnet34": "A deeper residual network {resnet} of basic blocks, each of which adds its "
    "input back to its output through a shortcut, with batch normalization after every "
    "convolution.",
    "resnet34_preact": "ResNet34 rebuilt from full pre-activation blocks {preact}: batch "
    "normalization and ReLU come before each convolution, and the shortcut carries the signal "
    "with no nonlinearity on its path.",
    "densenet161": "A densely connected network {densenet}: inside a dense block every layer "
    "receives the feature maps of all the layers before it, and transition layers between the "
    "blocks compress and downsample.",
}
# (name, layer, output shape, parameters) per layer, 200 classes.
LAYERS = {
    "m1": [
        ("conv1", "ConvReLU(5x5, 16)", [16, 64, 64], 1216),
        ("pool1", "MaxPool(2x2)", [16, 32, 32], 0),
        ("conv2", "ConvReLU(3x3, 16)", [16, 32, 32], 2320),
        ("pool2", "MaxPool(2x2)", [16, 16, 16], 0),
        ("conv3", "ConvReLU(3x3, 32)", [32, 16, 16], 4640),
        ("pool3", "MaxPool(2x2)", [32, 8, 8], 0),
        ("flatten", "Flatten", [2048], 0),
        ("fc1", "FC-ReLU(256)", [256], 524544),
        ("fc2", "FC(200)", [200], 51400),
    ],
    "m4": [
        ("conv1", "ConvReLU(5x5, 32)", [32, 64, 64], 2432),
        ("conv2", "ConvReLU(5x5, 32)", [32, 64, 64], 25632),
        ("pool1", "MaxPool(2x2)", [32, 32, 32], 0),
        ("conv3", "ConvReLU(3x3, 64)", [64, 32, 32], 18496),
        ("conv4", "ConvReLU(3x3, 64)", [64, 32, 32], 36928),
        ("pool2", "MaxPool(2x2)", [64, 16, 16], 0),
        ("conv5", "ConvReLU(3x3, 64)", [64, 16, 16], 36928),
        ("conv6", "ConvReLU(3x3, 128)", [128, 16, 16], 73856),
        ("pool3", "MaxPool(2x2)", [128, 8, 8], 0),
        ("flatten", "Flatten", [8192], 0),
        ("fc1", "FC-ReLU(256)", [256], 2097408),
        ("fc2", "FC(200)", [200], 51400),
    ],
}


def architecture(arch: str) -> dict[str, Any]:
    """summary.json's ``architecture`` of a run of ``arch``, as the training side writes it."""
    layers = LAYERS.get(arch)
    return {
        "arch": arch,
        "description": DESCRIPTIONS[arch],
        "layers": None
        if layers is None
        else [
            {"name": name, "layer": layer, "output": list(shape), "parameters": params}
            for name, layer, shape, params in layers
        ],
    }
