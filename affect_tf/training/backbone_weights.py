"""Pretrained weights for the per-frame face CNN of a preset (``004`` §5: the CNNs start from
pretrained weights; without them CNN-3RNN falls from V .472 / A .329 to .385 / .192, Table 4).

A backbone file is an ``.npz`` written by :func:`save_backbone_weights` (``affect-tf pretrain``):
``backbone`` names the network it fits (:func:`backbone_shape`, e.g. ``vgg_face(8,16,32,64,64)``),
``names`` the weights' paths and ``0`` ... ``N-1`` the weights in the backbone's order. A
converted VGG-Face release (``tools/convert_vgg_face.py``: ``conv1_1/kernel`` ... ``conv5_3/bias``)
loads the same way into a VGG-Face backbone. :func:`load_backbone_weights` puts a file into every
face backbone of a model (the CNN-RNN family: one; model-level fusion: one per member); a file
for another backbone, a model without one, or a weight that does not load is an error naming
the file, never a silent random initialisation.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

SIGNATURE_KEY = "backbone"
NAMES_KEY = "names"


def backbone_shape(config) -> str:
    """The network a backbone file must fit, from a CNN-RNN model config: the backbone's name
    and, for VGG-Face, its conv widths (ResNet-50 and DenseNet-121 have fixed widths)."""
    if config.backbone == "vgg_face":
        return f"vgg_face({','.join(str(f) for f in config.vgg_filters)})"
    return config.backbone


def face_backbones(model) -> list[tuple[object, str]]:
    """``(backbone keras.Model, backbone_shape)`` of every face CNN of a built model."""
    from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnn

    members = [model] if isinstance(model, CnnRnn) else [m for m in getattr(model, "members", ())
                                                         if isinstance(m, CnnRnn)]
    return [(m.backbone, backbone_shape(m.config)) for m in members]


def save_backbone_weights(backbone, shape: str, path) -> str:
    """Write ``backbone``'s weights (all of them, batch-norm statistics included) to ``path``
    (``.npz``, written atomically); returns the path."""
    from affect_tf.files import atomic_path

    path = os.fspath(path)
    arrays = {str(i): np.asarray(v) for i, v in enumerate(backbone.get_weights())}
    names = np.array([v.path for v in backbone.weights])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to the temp name
            np.savez(handle, **{SIGNATURE_KEY: np.array(shape), NAMES_KEY: names}, **arrays)
    return path


def read_backbone_file(path) -> tuple[str | None, dict]:
    """``(backbone shape or None for a converted VGG-Face file, {key: array})``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: backbone weights file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not a backbone weights file (.npz from affect-tf pretrain or "
                         f"tools/convert_vgg_face.py): {err}") from None
    shape = str(stored.pop(SIGNATURE_KEY)) if SIGNATURE_KEY in stored else None
    if shape is None and "conv1_1/kernel" not in stored:
        raise ValueError(f"{path}: neither an affect-tf backbone file (no '{SIGNATURE_KEY}' entry) nor "
                         "converted VGG-Face weights (no conv1_1/kernel)")
    return shape, stored


def _load_into(backbone, shape: str, file_shape: str | None, stored: dict, path: str) -> int:
    from affect_tf.models.cnn_rnn import backbones

    if file_shape is None:  # converted VGG-Face: the 13 convs by name
        if not shape.startswith("vgg_face"):
            raise ValueError(f"{path}: converted VGG-Face weights do not fit this preset's backbone {shape}")
        convs = tuple(stored[f"{n}/kernel"].shape[-1] for n in backbones.VGG_CONV_NAMES if f"{n}/kernel" in stored)
        widths = tuple(convs[sum(backbones.VGG_BLOCKS[:b])] for b in range(len(backbones.VGG_BLOCKS))) \
            if len(convs) == len(backbones.VGG_CONV_NAMES) else convs
        file_shape = f"vgg_face({','.join(map(str, widths))})"
        if file_shape != shape:
            raise ValueError(f"{path}: weights for backbone {file_shape} do not fit this preset's backbone {shape}")
        return len(backbones.load_vgg_face_weights(backbone, path))
    if file_shape != shape:
        raise ValueError(f"{path}: weights for backbone {file_shape} do not fit this preset's backbone {shape}")
    count = len(stored) - (NAMES_KEY in stored)
    weights = backbone.weights
    if count != len(weights):
        raise ValueError(f"{path}: {count} weights for backbone {file_shape}, this preset's backbone has {len(weights)}")
    for i, variable in enumerate(weights):
        value = stored[str(i)]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path}: weight {i} ({variable.path}) has shape {tuple(value.shape)} in the file, "
                             f"{tuple(variable.shape)} in this preset's backbone {shape}")
        variable.assign(value)
    return count


def load_backbone_weights(model, path) -> int:
    """Load the backbone file ``path`` into every face backbone of ``model`` (built); returns
    the number of weights loaded per backbone. Errors name the file and both backbones."""
    path = os.fspath(path)
    file_shape, stored = read_backbone_file(path)
    found = face_backbones(model)
    if not found:
        raise ValueError(f"{path}: the model {type(model).__name__} has no face CNN backbone "
                         f"(VGG-Face, ResNet-50, DenseNet-121) to load backbone weights into")
    return min(_load_into(backbone, shape, file_shape, stored, path) for backbone, shape in found)
