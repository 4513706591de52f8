"""Export a trained model for TF Serving (``docs/serving.md``).

One :func:`make_serving_signatures` builds the serving functions; the ``affect-tf export``
command, the TFX trainer/pusher and the serving tests all use it, so what is trained is exactly
what is served. :func:`export_for_serving` writes TF Serving's ``<base_dir>/<int version>/``
layout through ``keras.export.ExportArchive`` (named inputs and outputs), with the model
metadata as ``assets/affect_tf_metadata.json`` and its model card as ``MODEL_CARD.md``
(:mod:`affect_tf.provenance`). :func:`models_config` and
:func:`batching_config` write the text protos that ``tensorflow_model_server`` reads.

Signatures
----------
``serving_default``
    What a client has per frame: ``face`` uint8 (B, T, S, S, 3) RGB crops, ``landmarks`` float32
    (B, T, 68, 2), ``mel`` float32 (B, T, 128, 128), ``egemaps`` float32 (B, T, 25) (only those
    the model's ``config.input_shapes()`` names) plus ``face_mask`` / ``audio_mask`` float32
    (B, T). Crops are scaled to [-1, 1] inside the graph. Outputs ``valence`` and ``arousal``
    (B, T) and, when the model returns them, ``attention`` and ``gate``.
``serving_stream`` (models whose every layer is causal: the CNN-RNN family)
    One chunk of a live stream: the inputs of ``serving_default`` plus the recurrent state,
    ``state_0``, ``state_1``, ... float32 (B, ...) (zeros to start a stream); outputs those of
    ``serving_default`` plus the states after the chunk, under the same names. The client holds
    the state, so TF Serving's stateless Predict serves streams, and chunks of any length give
    what one call over the whole sequence gives (``docs/live.md``).
``serving_sequence_example``
    ``examples``: string (B,) serialized ``tf.train.SequenceExample`` in the record schema
    (:mod:`affect_tf.data.schema`); recordings of different lengths are padded to the longest,
    and ``frame_mask`` (B, T) says which output frames are real.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import time

from affect_tf import features as F
from affect_tf import provenance
from affect_tf.files import version_dirs, write_text_atomic

METADATA_FILE = "affect_tf_metadata.json"
DEFAULT_SIGNATURE = "serving_default"
SEQUENCE_EXAMPLE_SIGNATURE = "serving_sequence_example"
STREAM_SIGNATURE = "serving_stream"
STATE_PREFIX = "state_"
OUTPUT_VALENCE = "valence"
OUTPUT_AROUSAL = "arousal"
_MODEL_INPUTS = (F.FACE, F.LANDMARKS, F.MEL, F.EGEMAPS)
_MASKS = (F.FACE_MASK, F.AUDIO_MASK)


def model_input_names(model) -> tuple[str, ...]:
    """Feature names the model reads: ``model.config.input_shapes()``, else ``model.input_names``."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "input_shapes"):
        names = tuple(config.input_shapes())
    elif getattr(model, "serving_inputs", None):
        names = tuple(model.serving_inputs)
    else:
        raise ValueError(
            f"{type(model).__name__}: cannot tell which features it needs; give it a `config` "
            "with input_shapes() or a `serving_inputs` tuple"
        )
    unknown = sorted(set(names) - set(_MODEL_INPUTS) - set(_MASKS) - {F.FRAME_MASK})
    if unknown:
        raise ValueError(f"model inputs {unknown} are not features of affect_tf.features")
    return names


def serving_input_specs(input_names, crop_size: int) -> dict:
    """``tf.TensorSpec`` per client input of ``serving_default`` (masks always included)."""
    import tensorflow as tf

    shapes = F.feature_shapes(crop_size)
    specs = {}
    for name in _MODEL_INPUTS:
        if name in input_names:
            dtype = tf.uint8 if name == F.FACE else tf.float32
            specs[name] = tf.TensorSpec((None, None, *shapes[name]), dtype, name=name)
    for name in _MASKS:
        specs[name] = tf.TensorSpec((None, None), tf.float32, name=name)
    return specs


def _outputs(model, features: dict, outputs=None) -> dict:
    """The served outputs of ``model`` on ``features`` (or of its ``outputs`` already computed)."""
    import tensorflow as tf

    outputs = model(features, training=False) if outputs is None else outputs
    # Served values stay on the labels' [-1, 1], as `predict` clips them (a linear head can overshoot).
    targets = tf.clip_by_value(outputs[F.TARGETS], -1.0, 1.0)
    named = {OUTPUT_VALENCE: targets[..., 0], OUTPUT_AROUSAL: targets[..., 1]}
    for name in F.OPTIONAL_OUTPUTS:
        if name in outputs:
            named[name] = outputs[name]
    return named


def model_crop_size(model, default: int = F.DEFAULT_CROP_SIZE) -> int:
    """The face crop side from ``model.config.input_shapes()`` (``default`` without a face input)."""
    config = getattr(model, "config", None)
    shape = config.input_shapes().get(F.FACE) if config is not None and hasattr(config, "input_shapes") else None
    return int(shape[-2]) if shape else default


def make_serving_signatures(model, crop_size: int | None = None, input_names=None,
                            sequence_examples: bool = True,
                            use_inference_model: bool = True) -> dict:
    """``{signature name: tf.function}`` for ``model`` (its ``inference_model()`` when it has one).

    ``crop_size`` defaults to the model config's face shape (``features.DEFAULT_CROP_SIZE`` without one).
    ``sequence_examples``: add the serialized-``SequenceExample`` signature.
    """
    import tensorflow as tf

    if use_inference_model and hasattr(model, "inference_model"):
        model = model.inference_model()
    names = input_names or model_input_names(model)
    crop_size = crop_size or model_crop_size(model)
    specs = serving_input_specs(names, crop_size)

    @tf.function(input_signature=[specs])
    def serve(inputs):
        return _outputs(model, _client_features(inputs, names))

    signatures = {DEFAULT_SIGNATURE: serve}
    if sequence_examples:
        signatures[SEQUENCE_EXAMPLE_SIGNATURE] = _sequence_example_signature(model, names, crop_size)
    state_shapes = model.stream_state_shapes() if hasattr(model, "stream_state_shapes") else None
    if state_shapes is not None:
        signatures[STREAM_SIGNATURE] = _stream_signature(model, names, specs, state_shapes)
    return signatures


def _client_features(inputs, names) -> dict:
    """The model's features from a client's inputs (uint8 crops scaled as in the records)."""
    import tensorflow as tf

    frames = tf.shape(inputs[F.FACE_MASK])
    feats = {}
    for name in names:
        if name == F.FACE:  # uint8 -> [-1, 1], the records' scaling (features.py)
            feats[name] = tf.cast(inputs[name], tf.float32) / 127.5 - 1.0
        elif name == F.FRAME_MASK:
            feats[name] = tf.ones(frames, tf.float32)
        else:
            feats[name] = inputs[name]
    for name in _MASKS:
        feats[name] = inputs[name]
    return feats


def state_names(count: int) -> list[str]:
    """Input and output names of the recurrent states in ``serving_stream``."""
    return [f"{STATE_PREFIX}{i}" for i in range(count)]


def _stream_signature(model, names, specs, state_shapes):
    import tensorflow as tf

    state_keys = state_names(len(state_shapes))
    specs = {**specs, **{key: tf.TensorSpec((None, *shape), tf.float32, name=key)
                         for key, shape in zip(state_keys, state_shapes)}}

    @tf.function(input_signature=[specs])
    def serve_stream(inputs):
        outputs, states = model.call_streaming(_client_features(inputs, names),
                                               [inputs[key] for key in state_keys])
        named = _outputs(model, None, outputs)
        named.update(zip(state_keys, states))
        return named

    return serve_stream


def _sequence_example_signature(model, names, crop_size):
    import tensorflow as tf

    from affect_tf.data import reader, schema

    shapes = F.feature_shapes(crop_size)
    wanted = [n for n in _MODEL_INPUTS if n in names] + [*_MASKS, F.FRAME_MASK]

    def parse_one(serialized):
        feats, _, _ = schema.parse_sequence_example(serialized, decode_face=F.FACE in wanted)
        if F.FACE in wanted:  # records of another crop size, as the training reader resizes them
            feats[F.FACE] = reader.fit_face_crops(feats[F.FACE], crop_size)
        return {n: feats[n] for n in wanted}

    # Each record has its own length: map_fn stacks them ragged over time, then zero-pads.
    per_record = {n: tf.RaggedTensorSpec((None, *shapes[n]), tf.float32, ragged_rank=0)
                  for n in wanted}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="examples")])
    def serve_examples(examples):
        parsed = tf.map_fn(parse_one, examples, fn_output_signature=per_record)
        feats = {n: v.to_tensor() for n, v in parsed.items()}
        out = _outputs(model, feats)
        out[F.FRAME_MASK] = feats[F.FRAME_MASK]
        return out

    return serve_examples


def _signature_inputs(fn) -> list:
    """Input names of a ``tf.function`` taking one dict of specs (``[]`` for anything else)."""
    spec = getattr(fn, "input_signature", None)
    return sorted(spec[0]) if spec and isinstance(spec[0], dict) else []


def next_version(base_dir) -> int:
    """One more than the largest integer version under ``base_dir`` (1 when empty)."""
    versions = version_dirs(base_dir, require=None)
    return versions[-1][0] + 1 if versions else 1


def export_for_serving(model, base_dir, version: int | None = None, metadata: dict | None = None,
                       crop_size: int | None = None, signatures: dict | None = None) -> pathlib.Path:
    """Write ``model`` as ``<base_dir>/<version>/`` (TF Serving layout); returns that path.

    The SavedModel is written to a hidden temporary folder beside it and renamed into place, so a
    server polling ``base_dir`` never sees a half-written version.
    """
    import keras

    base = pathlib.Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    version = next_version(base) if version is None else int(version)
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    final = base / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists; versions are immutable, pick another")
    serving_model = model.inference_model() if hasattr(model, "inference_model") else model
    crop_size = crop_size or model_crop_size(serving_model)
    signatures = signatures or make_serving_signatures(serving_model, crop_size,
                                                       use_inference_model=False)

    archive = keras.export.ExportArchive()
    archive.track(serving_model)
    for name, fn in signatures.items():
        archive.add_endpoint(name, fn)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base))
    try:
        target = tmp / "saved_model"
        archive.write_out(str(target), verbose=False)
        meta = {
            "version": version,
            "crop_size": crop_size,
            "signatures": sorted(signatures),
            "inputs": _signature_inputs(signatures.get(DEFAULT_SIGNATURE)),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(metadata or {}),
        }
        (target / "assets").mkdir(exist_ok=True)
        (target / "assets" / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        (target / provenance.MODEL_CARD_FILE).write_text(provenance.model_card(meta))
        os.rename(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_metadata(version_dir) -> dict:
    """The metadata JSON written beside an exported version (``{}`` when absent)."""
    path = pathlib.Path(version_dir) / "assets" / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_metadata(version_dir, changes: dict) -> dict:
    """Merge ``changes`` into an export's metadata (before it is published: versions are
    immutable once a server may load them); returns the new metadata."""
    meta = {**read_metadata(version_dir), **changes}
    write_text_atomic(pathlib.Path(version_dir) / "assets" / METADATA_FILE,
                      json.dumps(meta, indent=2, sort_keys=True))
    write_text_atomic(pathlib.Path(version_dir) / provenance.MODEL_CARD_FILE, provenance.model_card(meta))
    return meta


def models_config(models: dict, version_policy: str = "latest", num_versions: int = 1,
                  versions=(), version_labels: dict | None = None) -> str:
    """TF Serving ``--model_config_file`` text for ``{name: base_path}``.

    ``version_policy``: ``latest`` (the newest ``num_versions``), ``all``, or ``specific``
    (``versions``); ``version_labels`` maps labels such as ``stable`` to versions.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    server_config = model_server_config_pb2.ModelServerConfig()
    for name, base_path in models.items():
        config = server_config.model_config_list.config.add()
        config.name = name
        config.base_path = str(base_path)
        config.model_platform = "tensorflow"
        policy = config.model_version_policy
        if version_policy == "latest":
            policy.latest.num_versions = num_versions
        elif version_policy == "all":
            policy.all.SetInParent()
        elif version_policy == "specific":
            if not versions:
                raise ValueError("version_policy='specific' needs versions")
            policy.specific.versions.extend(int(v) for v in versions)
        else:
            raise ValueError(f"unknown version_policy {version_policy!r}: latest, all or specific")
        for label, v in (version_labels or {}).items():
            config.version_labels[label] = int(v)
    return text_format.MessageToString(server_config)


def batching_config(max_batch_size: int = 32, batch_timeout_micros: int = 2000,
                    num_batch_threads: int = 4, max_enqueued_batches: int = 100,
                    pad_variable_length_inputs: bool = True) -> str:
    """TF Serving ``--batching_parameters_file`` text (``BatchingParameters`` proto).

    Variable-length inputs (the time axis) are padded so requests of different lengths batch.
    """
    lines = [
        f"max_batch_size {{ value: {max_batch_size} }}",
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}",
        f"num_batch_threads {{ value: {num_batch_threads} }}",
        f"max_enqueued_batches {{ value: {max_enqueued_batches} }}",
        f"pad_variable_length_inputs: {'true' if pad_variable_length_inputs else 'false'}",
    ]
    return "\n".join(lines) + "\n"

