"""Per-frame CNN backbones with named feature taps (``004`` §5.1).

* ``vgg_face``: the VGG-Face / VGG16 layout (13 3x3 convs, ReLU, SAME, five 2x2 max-pools);
  layers are named as in the VGG-Face release (``conv1_1`` ... ``conv5_3``, ``pool1`` ... ``pool5``)
  so converted weights load by name (:func:`load_vgg_face_weights`).
* ``resnet50`` / ``densenet121``: ``keras.applications`` structures (``weights=None``, no top)
  with global average pooling; their tap is ``pool``.

Tap names: ``pool1`` ... ``pool5``, ``conv1_1`` ... ``conv5_3``, and the paper's ordinal names
``conv1`` ... ``conv13`` (the n-th conv, ``004`` Table 5), ``lastconv`` (= ``conv5_3``),
``lastpool`` (= ``pool5``, or ``pool`` for ResNet/DenseNet).
"""
from __future__ import annotations

import numpy as np
import keras

VGG_BLOCKS = (2, 2, 3, 3, 3)  # convs per block
VGG_FILTERS = (64, 128, 256, 512, 512)
VGG_CONV_NAMES = tuple(
    f"conv{b + 1}_{i + 1}" for b, n in enumerate(VGG_BLOCKS) for i in range(n)
)
BACKBONES = ("vgg_face", "resnet50", "densenet121")


def resolve_tap(backbone: str, tap: str) -> str:
    """The layer name behind a tap name (see the module docstring)."""
    if backbone != "vgg_face":
        if tap in ("pool", "lastpool"):
            return "pool"
        raise ValueError(f"backbone {backbone!r} has only the 'pool' tap, got {tap!r}")
    if tap == "lastpool":
        return "pool5"
    if tap == "lastconv":
        return VGG_CONV_NAMES[-1]
    if tap.startswith("conv") and tap[4:].isdigit():
        index = int(tap[4:])
        if not 1 <= index <= len(VGG_CONV_NAMES):
            raise ValueError(f"VGG-Face has 13 convs; tap {tap!r} is out of range")
        return VGG_CONV_NAMES[index - 1]
    if tap in VGG_CONV_NAMES or tap in {f"pool{i}" for i in range(1, 6)}:
        return tap
    raise ValueError(f"unknown VGG-Face tap {tap!r}")


def vgg_face_backbone(crop_size: int, taps, filters=VGG_FILTERS, name="vgg_face"):
    """Functional VGG-Face conv stack returning ``{layer_name: tensor}`` for ``taps`` + ``pool5``."""
    inputs = keras.Input((crop_size, crop_size, 3), name=f"{name}_input")
    wanted = {resolve_tap("vgg_face", t) for t in taps} | {"pool5"}
    outputs, x = {}, inputs
    for block, (n_convs, width) in enumerate(zip(VGG_BLOCKS, filters), start=1):
        for i in range(1, n_convs + 1):
            layer = f"conv{block}_{i}"
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=layer)(x)
            if layer in wanted:
                outputs[layer] = x
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
        if f"pool{block}" in wanted:
            outputs[f"pool{block}"] = x
    return keras.Model(inputs, outputs, name=name)


def application_backbone(backbone: str, crop_size: int, name=None):
    """ResNet-50 or DenseNet-121 (random init) with global average pooling: ``{"pool": (B, C)}``."""
    builders = {
        "resnet50": keras.applications.ResNet50,
        "densenet121": keras.applications.DenseNet121,
    }
    if backbone not in builders:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")
    net = builders[backbone](
        include_top=False, weights=None, input_shape=(crop_size, crop_size, 3), pooling="avg"
    )
    inputs = keras.Input((crop_size, crop_size, 3), name=f"{name or backbone}_input")
    return keras.Model(inputs, {"pool": net(inputs)}, name=name or backbone)


def make_backbone(backbone: str, crop_size: int, taps, filters=VGG_FILTERS, name=None):
    if backbone == "vgg_face":
        return vgg_face_backbone(crop_size, taps, filters, name=name or "vgg_face")
    return application_backbone(backbone, crop_size, name=name)


def load_vgg_face_weights(backbone: keras.Model, path) -> list[str]:
    """Load converted VGG-Face conv weights (``tools/convert_vgg_face.py`` output) by layer name.

    The file is an ``.npz`` holding ``<layer>/kernel`` (3, 3, in, out) and ``<layer>/bias`` for
    ``conv1_1`` ... ``conv5_3``. Returns the names of the layers loaded. A missing layer or a shape
    mismatch raises an error naming the file.
    """
    with np.load(path) as data:
        stored = dict(data)
    loaded = []
    for layer_name in VGG_CONV_NAMES:
        layer = backbone.get_layer(layer_name)
        try:
            kernel, bias = stored[f"{layer_name}/kernel"], stored[f"{layer_name}/bias"]
        except KeyError as error:
            raise ValueError(f"{path}: no weights for layer {layer_name}") from error
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise ValueError(f"{path}: {layer_name}/kernel has shape {kernel.shape}, expected {expected}")
        layer.set_weights([kernel, bias])
        loaded.append(layer_name)
    return loaded
