"""Pretraining the per-frame face CNN of a preset on face images (``affect-tf pretrain``).

The papers start their CNNs from weights learnt on many faces (``004`` §5, Table 4); EmoNet and
HSEmotion pretrain on AffectNet. :func:`pretrain_backbone` trains the backbone of a CNN-RNN
preset (VGG-Face, ResNet-50, DenseNet-121, or its ``--small`` copy) frame by frame on the
records of a face-image drop (``image_folder``, ``affectnet``): valence/arousal regression (CCC
loss) plus, when the records carry expression categories, their classification (cross-entropy),
through a head of the preset's own FC width. Only the backbone's weights are kept, in a file that
names the backbone (:mod:`affect_tf.training.backbone_weights`), for ``affect-tf train
--backbone-weights``.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
from keras import ops

from affect_tf import features, losses, metrics
from affect_tf.models.cnn_rnn import backbones
from affect_tf.training.backbone_weights import backbone_shape, save_backbone_weights

EXPRESSION = "expression"  # labels: category index (-1 = none); outputs: logits
NO_CATEGORY = -1


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """What varies between pretraining runs (defaults: a few CPU epochs of 48x48-sized sets)."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    augment: bool = True  # random mirror and shift of every training image
    expression_weight: float = 1.0  # cross-entropy weight beside the CCC loss


@keras.saving.register_keras_serializable(package="affect_tf")
class FrameCnn(keras.Model):
    """The per-frame CNN of a CNN-RNN config (same backbone builder and name, so its weights are
    the preset's) -> flatten -> FC (the config's width, ReLU, dropout) -> valence/arousal and,
    with ``n_categories``, expression logits. Loss: CCC loss + ``expression_weight`` x the
    cross-entropy of the frames that have a category."""

    def __init__(self, config, n_categories: int = 0, expression_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.config, self.n_categories, self.expression_weight = config, n_categories, expression_weight
        self.backbone = backbones.make_backbone(config.backbone, config.crop_size, [], config.vgg_filters,
                                                name="backbone")
        self._last_pool = "pool5" if config.backbone == "vgg_face" else "pool"
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc = keras.layers.Dense(config.fc_units, activation="relu", name="fc")
        self.fc_dropout = keras.layers.Dropout(config.fc_dropout, name="fc_dropout")
        self.head = keras.layers.Dense(2, dtype="float32", name="valence_arousal")
        self.expression_head = (keras.layers.Dense(n_categories, dtype="float32", name="expression")
                                if n_categories else None)
        self.affect_metrics = metrics.affect_metrics(("ccc",))
        self.accuracy = keras.metrics.Mean(name="accuracy")

    def call(self, face, training=False):
        x = self.flatten(self.backbone(face, training=training)[self._last_pool])
        x = self.fc_dropout(self.fc(x), training=training)
        out = {features.TARGETS: self.head(x)}
        if self.expression_head is not None:
            out[EXPRESSION] = self.expression_head(x)
        return out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = losses.ccc_loss(y[features.TARGETS], y_pred[features.TARGETS], y[features.LABEL_MASK])
        if self.expression_head is not None:
            known = ops.cast(y[EXPRESSION] >= 0, "float32")
            cross = keras.losses.sparse_categorical_crossentropy(
                ops.maximum(y[EXPRESSION], 0), y_pred[EXPRESSION], from_logits=True)
            loss = loss + self.expression_weight * ops.sum(cross * known) / ops.maximum(ops.sum(known), 1.0)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for metric in self.affect_metrics:
            metric.update_state(y[features.TARGETS], y_pred[features.TARGETS], y[features.LABEL_MASK])
        if self.expression_head is not None:
            known = ops.cast(y[EXPRESSION] >= 0, "float32")
            guess = ops.cast(ops.argmax(y_pred[EXPRESSION], -1), "int32")
            right = ops.cast(ops.equal(guess, ops.cast(y[EXPRESSION], "int32")), "float32")
            self.accuracy.update_state(right, sample_weight=known)
        return self.get_metrics_result()

    def get_metrics_result(self):
        results = super().get_metrics_result()
        if "valence_ccc" in results and "arousal_ccc" in results:
            results["mean_ccc"] = (results["valence_ccc"] + results["arousal_ccc"]) / 2.0
        return results

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(), "n_categories": self.n_categories,
                "expression_weight": self.expression_weight}

    @classmethod
    def from_config(cls, config):
        from affect_tf.presets import load_config

        config = dict(config)
        return cls(load_config(config.pop("config")), **config)


# ---------------------------------------------------------------------------- records -> frames


def record_categories(pattern) -> list[str]:
    """The sorted expression categories found in the records (empty when they carry none)."""
    import tensorflow as tf

    from affect_tf.data import reader

    found = set()
    spec = {"category": tf.io.FixedLenFeature([], tf.string, default_value="")}
    for group, compression in reader.record_groups(reader.list_files(pattern)):
        records = tf.data.TFRecordDataset(group, compression_type=compression)
        for serialized in records.map(lambda s: tf.io.parse_single_sequence_example(s, spec)[0]["category"]):
            found.add(serialized.numpy().decode("utf-8"))
    return sorted(found - {""})


def frame_dataset(pattern, crop_size: int, categories, batch_size: int, training: bool, seed: int = 0,
                  augment: bool = True):
    """Batches ``(face (B, S, S, 3) on [-1, 1], {valence_arousal, label_mask, expression})`` of
    the labelled frames with a face in the records; training shuffles and (``augment``) mirrors
    and shifts each image by up to 1/16 of its side."""
    import tensorflow as tf

    from affect_tf.data import reader, schema

    lookup = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(categories) or [""], tf.string),
                                            tf.range(max(len(categories), 1), dtype=tf.int64)),
        default_value=NO_CATEGORY)

    def frames(serialized):
        feats, labels, meta = schema.parse_sequence_example(serialized)
        # cached as uint8 at the model's size (a quarter of float32's memory), scaled after
        face = tf.cast(tf.round((reader.fit_face_crops(feats[features.FACE], crop_size) + 1.0) * 127.5), tf.uint8)
        n = tf.shape(face)[0]
        keep = (feats[features.FRAME_MASK] * feats[features.FACE_MASK] > 0) & \
            (tf.reduce_max(labels[features.LABEL_MASK], -1) > 0)
        category = lookup.lookup(meta["category"]) if categories else tf.constant(NO_CATEGORY, tf.int64)
        per_frame = (face, {features.TARGETS: labels[features.TARGETS], features.LABEL_MASK: labels[features.LABEL_MASK],
                            EXPRESSION: tf.fill([n], category)})
        return tf.data.Dataset.from_tensor_slices((per_frame, keep)).filter(lambda item, k: k).map(
            lambda item, k: item)

    files = reader.list_files(pattern)
    parts = []
    for group, compression in reader.record_groups(files):
        files_ds = tf.data.Dataset.from_tensor_slices(group)
        if training:
            files_ds = files_ds.shuffle(len(group), seed=seed, reshuffle_each_iteration=True)
        parts.append(files_ds.interleave(lambda f, c=compression: tf.data.TFRecordDataset(f, compression_type=c),
                                         cycle_length=4 if training else 1, deterministic=True))
    ds = parts[0] if len(parts) == 1 else parts[0].concatenate(parts[1])
    ds = ds.flat_map(frames).cache()
    if training:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda face, labels: (tf.cast(face, tf.float32) / 127.5 - 1.0, labels),
                num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment:
        ds = ds.map(lambda face, labels: (_augment(face, crop_size, seed), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _augment(face, crop_size: int, seed: int):
    import tensorflow as tf

    shift = max(crop_size // 16, 1)
    face = tf.image.random_flip_left_right(face, seed=seed)
    padded = tf.pad(face, [[shift, shift], [shift, shift], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(padded, [crop_size, crop_size, 3], seed=seed)


# ---------------------------------------------------------------------------- entry point


def he_initialise(backbone, seed: int = 0) -> None:
    """He-normal kernels and zero biases for every conv of a VGG-Face backbone: 13 ReLU convs
    without batch norm do not train from Keras' Glorot start (measured on FER-2013: chance
    accuracy and zero CCC after 4 epochs), the reason VGG's authors grew it from shallower nets."""
    initializer = keras.initializers.HeNormal(seed=seed)
    for name in backbones.VGG_CONV_NAMES:
        layer = backbone.get_layer(name)
        layer.kernel.assign(initializer(tuple(layer.kernel.shape)))
        layer.bias.assign(ops.zeros(tuple(layer.bias.shape)))


def backbone_file_name(model_config) -> str:
    """``<backbone shape>.backbone.npz`` with the shape's punctuation as dashes, e.g.
    ``vgg_face-8-16-32-64-64.backbone.npz``."""
    shape = backbone_shape(model_config)
    return shape.replace("(", "-").replace(")", "").replace(",", "-") + ".backbone.npz"


def face_cnn_config(model_config):
    """The CNN-RNN config whose backbone a preset's model uses (model-level fusion: its members
    share one backbone shape); an error for a preset without a face CNN."""
    members = getattr(model_config, "members", None)
    candidates = list(members) if members else [model_config]
    if not all(hasattr(c, "backbone") and hasattr(c, "vgg_filters") for c in candidates):
        raise ValueError(f"{type(model_config).__name__} has no face CNN backbone (VGG-Face, ResNet-50, "
                         "DenseNet-121) to pretrain")
    shapes = {backbone_shape(c) for c in candidates}
    if len(shapes) > 1:
        raise ValueError(f"{type(model_config).__name__}'s members have different backbones {sorted(shapes)}")
    return candidates[0]


def pretrain_backbone(model_config, out_dir, train_data, val_data=None, config: PretrainConfig = PretrainConfig(),
                      categories=(), verbose: int = 0) -> dict:
    """Train :class:`FrameCnn` of ``model_config``'s face CNN on ``train_data`` (record pattern
    or a :func:`frame_dataset`), keep the epoch best on ``val_data`` (else the last) and write
    its backbone to ``out_dir/<backbone file name>`` and ``out_dir/pretrain.json``. Returns the
    report (the file, its backbone shape, categories, final metrics, history)."""
    cnn_config = face_cnn_config(model_config)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    def make(data, training):
        if data is None or not isinstance(data, (str, list, tuple)):
            return data  # already a dataset
        return frame_dataset(data, cnn_config.crop_size, categories, config.batch_size, training,
                             config.seed, config.augment)

    train_ds, val_ds = make(train_data, True), make(val_data, False)
    model = FrameCnn(cnn_config, len(categories), config.expression_weight)
    model(ops.zeros((1, cnn_config.crop_size, cnn_config.crop_size, 3)))
    if cnn_config.backbone == "vgg_face":
        he_initialise(model.backbone, config.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    model.optimizer.build(model.trainable_variables)  # not in the first step: that would trace it twice
    monitor = "val_mean_ccc" if val_ds is not None else "mean_ccc"
    best = out_dir / "checkpoints" / "best.weights.h5"
    best.parent.mkdir(parents=True, exist_ok=True)
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, verbose=verbose, callbacks=[
        keras.callbacks.ModelCheckpoint(str(best), monitor=monitor, mode="max", save_best_only=True,
                                        save_weights_only=True)])
    if best.exists():
        model.load_weights(str(best))
    final = model.evaluate(val_ds if val_ds is not None else train_ds, return_dict=True, verbose=0)
    path = save_backbone_weights(model.backbone, backbone_shape(cnn_config), out_dir / backbone_file_name(cnn_config))
    report = {"backbone_weights": str(path), "backbone": backbone_shape(cnn_config), "categories": list(categories),
              "monitor": monitor, "metrics": {k: float(v) for k, v in final.items()},
              "history": {k: [float(x) for x in v] for k, v in history.history.items()},
              "config": dataclasses.asdict(config)}
    (out_dir / "pretrain.json").write_text(json.dumps(report, indent=2))
    return report

