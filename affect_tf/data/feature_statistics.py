"""What a model needs from its training data before training: faces, and feature statistics.

:func:`prepare_inputs` (called by ``train_and_evaluate``) refuses data without any face for a
model that needs the face (speech-only records), then fits the standardisation.
:func:`feature_statistics` computes per-element means and standard deviations of egemaps,
landmarks and mel (per band) over the real frames of the training data: frames with
``frame_mask`` 0 (padding) never count, nor frames whose modality is missing (``audio_mask`` 0 for
egemaps/mel, ``face_mask`` 0 for landmarks). :func:`fit_standardization` writes them into every
:class:`~affect_tf.layers.FeatureStandardization` of a model (``train_and_evaluate`` calls it).
"""
from __future__ import annotations

import os

import numpy as np

from affect_tf import features as F
from affect_tf.layers.standardization import STANDARDIZED, FeatureStandardization

_MASK_OF = {F.EGEMAPS: F.AUDIO_MASK, F.MEL: F.AUDIO_MASK, F.LANDMARKS: F.FACE_MASK}
MAX_BATCHES = 2000  # bounds a pass over an endless (repeated) dataset
MIN_STD = 1e-6


def _reduce_axes(name, ndim):
    """Axes of a (B, T, ...) batch summed away: batch, time, and mel's STFT frames."""
    return (0, 1, ndim - 1) if name == F.MEL else (0, 1)


def feature_statistics(batches, names, max_batches: int = MAX_BATCHES) -> dict:
    """``{name: (mean, std)}`` over the usable frames of ``(features, labels)`` batches.

    Shapes are those of :data:`affect_tf.layers.standardization.STANDARDIZED`. A feature with no
    usable frame keeps its defaults; a constant element gets std 1 (it carries no information).
    """
    sums = {n: 0.0 for n in names}
    squares = {n: 0.0 for n in names}
    counts = {n: 0.0 for n in names}
    for i, batch in enumerate(batches):
        if i >= max_batches:
            break
        feats = batch[0]
        for name in names:
            if name not in feats:
                continue
            x = np.asarray(feats[name], np.float64)
            weight = np.ones(x.shape[:2])
            for mask in (F.FRAME_MASK, _MASK_OF[name]):
                if mask in feats:
                    weight = weight * np.asarray(feats[mask], np.float64)
            w = weight.reshape(weight.shape + (1,) * (x.ndim - 2))
            axes = _reduce_axes(name, x.ndim)
            sums[name] = sums[name] + (w * x).sum(axis=axes)
            squares[name] = squares[name] + (w * x * x).sum(axis=axes)
            counts[name] += weight.sum() * (x.shape[-1] if name == F.MEL else 1)
    out = {}
    for name in names:
        shape, mean, std = STANDARDIZED[name]
        if counts[name] == 0:
            out[name] = (np.full(shape, mean, np.float32), np.full(shape, std, np.float32))
            continue
        m = np.asarray(sums[name]) / counts[name]
        var = np.maximum(np.asarray(squares[name]) / counts[name] - m * m, 0.0)
        s = np.sqrt(var)
        s = np.where(s < MIN_STD, 1.0, s)
        out[name] = (m.reshape(shape).astype(np.float32), s.reshape(shape).astype(np.float32))
    return out


def _batches(data, train_config, names):
    """Batches of the training data: a pass over record files, or the given ``tf.data`` dataset;
    an endless one (``steps_per_epoch`` training repeats its records) gives one epoch's
    ``steps_per_epoch`` batches, what training itself sees per epoch."""
    if isinstance(data, (str, os.PathLike, list, tuple)):
        from affect_tf.data import reader

        patterns = [str(p) for p in data] if isinstance(data, (list, tuple)) else str(data)
        data = reader.make_dataset(patterns, window=train_config.window, batch_size=64,
                                   modalities=tuple(names), shuffle=False)
    elif getattr(train_config, "steps_per_epoch", None) and _endless(data):
        data = data.take(train_config.steps_per_epoch)
    return data.as_numpy_iterator()


def _endless(data) -> bool:
    import tensorflow as tf

    return int(data.cardinality()) == int(tf.data.INFINITE_CARDINALITY)


def fit_standardization(model, train_config, train_data) -> dict | None:
    """Set the training data's statistics into ``model``'s standardisation layers.

    A warm start (and a fusion starting from trained members) keeps the statistics of the model it
    starts from (they came with its weights) unless ``train_config.refit_standardization``.
    Returns the statistics set, or None.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, FeatureStandardization)]
    if not layers:
        return None
    loaded = train_config.warm_start or getattr(train_config, "fusion_members", ())
    if loaded and not getattr(train_config, "refit_standardization", False):
        return None
    names = sorted({name for layer in layers for name in layer.names})
    stats = feature_statistics(_batches(train_data, train_config, names), names)
    for layer in layers:
        for name in layer.names:
            layer.set_statistics(name, *stats[name])
    return stats


FACE_INPUTS = (F.FACE, F.LANDMARKS)


def require_faces(model_input_names, data, max_batches: int = MAX_BATCHES) -> None:
    """Raise when a model taking face inputs gets data whose ``face_mask`` is 0 everywhere
    (speech-only recordings). Scans until the first face, so face data cost one batch."""
    needs = [name for name in model_input_names if name in FACE_INPUTS]
    spec = getattr(data, "element_spec", None)
    if not needs or spec is None or F.FACE_MASK not in spec[0]:
        return
    masks = data.take(max_batches).map(lambda feats, *rest: feats[F.FACE_MASK])
    for face_mask in masks.as_numpy_iterator():
        if face_mask.any():
            return
    raise ValueError(
        f"the model needs the face ({', '.join(needs)}) but its training data hold no face "
        "(speech-only recordings); train an audio preset on them (e.g. rnn_baseline_audio, "
        "implicit_fusion_audio, au_de)")


def predicting_inputs(model_config) -> tuple[str, ...]:
    """The inputs the model predicts from: implicit fusion's auxiliary modality only enters a
    loss that is masked where it is missing (``002``), so speech-only data suit its audio model."""
    if hasattr(model_config, "inference_only"):
        model_config = model_config.replace(inference_only=True)
    return tuple(model_config.input_shapes())


def prepare_inputs(model, train_config, train_data) -> dict | None:
    """Before training: :func:`require_faces`, then :func:`fit_standardization`."""
    config = getattr(model, "config", None)
    require_faces(predicting_inputs(config) if config is not None else (), train_data)
    return fit_standardization(model, train_config, train_data)
