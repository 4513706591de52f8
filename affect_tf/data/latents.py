"""Cached ZQ latents: the second training stage of ``003`` §3.4 / ``001`` §3.4 reads the front
ends' latents from TFRecords instead of running G and D on every frame of every step.

One ``tf.train.Example`` per sequence: ``zq_<modality>`` (float16 tensor (T, H, W, C)), the
labels and their mask (float32 (T, 2)), each a serialised tensor.
"""
from __future__ import annotations

import pathlib

import tensorflow as tf

from affect_tf import features

LATENT_PREFIX = "zq_"


def latent_inputs(x, modalities):
    """``{modality: ZQ}`` when the batch carries cached latents (``zq_<modality>``), else None."""
    keys = [LATENT_PREFIX + m for m in modalities]
    if all(k in x for k in keys):
        return {m: x[LATENT_PREFIX + m] for m in modalities}
    return None


def _bytes(tensor):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(tensor).numpy()]))


def cache_latents(model, dataset, path) -> int:
    """Write the ZQ latents (``model.latents``) of every sequence in ``dataset`` (a finite stream of
    ``(features, labels)`` batches) with its labels at ``path`` (written to a temporary file, then
    renamed, so a killed run leaves no partial cache). Returns the number of sequences written."""
    from affect_tf.files import atomic_path
    from affect_tf.models import label_mask

    count = 0
    latents_of = tf.function(model.latents, reduce_retracing=True)  # eager G and D are slow
    with atomic_path(pathlib.Path(path)) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for x, y, *_ in dataset:
            latents = latents_of(x)
            mask = label_mask(x, y)
            for i in range(int(y[features.TARGETS].shape[0])):
                feature = {LATENT_PREFIX + m: _bytes(tf.cast(v[i], tf.float16)) for m, v in latents.items()}
                feature[features.TARGETS] = _bytes(tf.cast(y[features.TARGETS][i], tf.float32))
                feature[features.LABEL_MASK] = _bytes(tf.cast(mask[i], tf.float32))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
                count += 1
    return count


def latent_dataset(pattern, modalities, batch_size=4, shuffle=False, seed=0, window=None, repeat=False):
    """Read :func:`cache_latents` records back as ``({"zq_<m>": ...}, labels)`` batches.

    ``window`` = n cuts every cached sequence into non-overlapping n-frame windows (the remainder
    dropped): the curriculum of ``003`` §3.4 trains S-n on windows of n frames."""
    keys = [LATENT_PREFIX + m for m in modalities] + [features.TARGETS, features.LABEL_MASK]
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in keys}

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        x = {LATENT_PREFIX + m: tf.cast(tf.io.parse_tensor(parsed[LATENT_PREFIX + m], tf.float16), tf.float32)
             for m in modalities}
        y = {k: tf.io.parse_tensor(parsed[k], tf.float32) for k in (features.TARGETS, features.LABEL_MASK)}
        return x, y

    files = tf.io.gfile.glob(str(pattern))
    if not files:
        raise FileNotFoundError(f"no latent records match {pattern}")
    data = tf.data.TFRecordDataset(files).map(parse)
    # parse_tensor loses the static shapes the model's layers need: take them (time axis left
    # free) from the first record
    x0, y0 = next(iter(data.take(1)))
    shapes = {k: [window, *v.shape[1:]] for k, v in {**x0, **y0}.items()}

    def cut(x, y):
        if window is None:
            return tf.data.Dataset.from_tensors((x, y))
        n = tf.shape(y[features.TARGETS])[0] // window

        def windows(v):
            return tf.reshape(v[: n * window], tf.concat([[n, window], tf.shape(v)[1:]], 0))

        return tf.data.Dataset.from_tensor_slices(({k: windows(v) for k, v in x.items()},
                                                   {k: windows(v) for k, v in y.items()}))

    data = data.flat_map(cut).map(lambda x, y: ({k: tf.ensure_shape(v, shapes[k]) for k, v in x.items()},
                                                {k: tf.ensure_shape(v, shapes[k]) for k, v in y.items()}))
    if shuffle:
        data = data.shuffle(1024, seed=seed)
    if repeat:
        data = data.repeat()
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
