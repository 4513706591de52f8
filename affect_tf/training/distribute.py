"""Distribution strategies and the roles of a multi-worker run (``docs/training.md``).

``multi_worker_mirrored`` reads the cluster from ``TF_CONFIG`` (``{"cluster": {"worker": [...]},
"task": {"type": "worker", "index": i}}``, as a Kubeflow ``TFJob`` sets it). Every worker runs the
same training (the collectives need all of them); only the chief writes into the run's folder,
the others write to a scratch folder of their own, so no two processes write the same file, and
resume from the chief's backup. Batches are sharded by position (:func:`even_batches`).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

_MULTI_WORKER = []  # one per process: TF allows a single collective configuration
_RUN_DIRS = {}  # this worker's scratch folder -> the run folder the chief writes


def tf_config() -> dict:
    """``TF_CONFIG`` as a dict (empty when unset)."""
    text = os.environ.get("TF_CONFIG", "").strip()
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not JSON: {err}") from None


def task(config: dict | None = None) -> tuple[str, int]:
    """``(type, index)`` of this process; ``("chief", 0)`` without a cluster."""
    config = tf_config() if config is None else config
    entry = config.get("task") or {}
    return entry.get("type", "chief"), int(entry.get("index", 0))


def is_chief(config: dict | None = None) -> bool:
    """The chief task, or worker 0 when the cluster has no chief (TensorFlow's rule)."""
    config = tf_config() if config is None else config
    kind, index = task(config)
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


def writable_workdir(workdir) -> pathlib.Path:
    """``workdir`` for the chief; a scratch folder of this worker's own for the others."""
    workdir = pathlib.Path(workdir)
    if is_chief():
        return workdir
    kind, index = task()
    key = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:12]
    scratch = pathlib.Path(tempfile.gettempdir()) / f"affect_tf_{kind}{index}_{key}"
    _RUN_DIRS[scratch] = workdir
    return scratch


def backup_and_restore(backup_dir):
    """Keras' ``BackupAndRestore`` for ``backup_dir`` (under :func:`writable_workdir`). On the
    chief it saves every epoch and restores; on another worker it only restores, from the
    chief's backup: training is synchronous, so the chief's weights and epoch are every worker's,
    and a restarted worker resumes where the chief does even when its scratch folder is gone
    (a new pod) or is an epoch behind (killed while saving)."""
    import keras

    class RestoreOnly(keras.callbacks.BackupAndRestore):
        def on_epoch_end(self, epoch, logs=None):
            pass

        def on_train_batch_end(self, batch, logs=None):
            pass

        def on_train_end(self, logs=None):  # the chief removes the backup
            pass

    backup_dir = pathlib.Path(backup_dir)
    for scratch, run_dir in _RUN_DIRS.items():
        if scratch == backup_dir or scratch in backup_dir.parents:
            return RestoreOnly(str(run_dir / backup_dir.relative_to(scratch)))
    return keras.callbacks.BackupAndRestore(str(backup_dir))


def even_batches(dataset, batch_size: int):
    """``dataset`` (batches of ``(features, labels)``) fed so that every worker of a multi-worker
    run gets the same number of non-empty batches: the last batch is padded to ``batch_size``
    with windows whose masks are all 0 (no loss or metric counts them) and the batches are sharded
    by position, not by file. Otherwise a worker whose files run out first is handed empty
    batches to keep the collectives in step, and oneDNN's Conv2D returns an empty batch with its
    input's depth ("input depth must be evenly divisible by filter depth"). Every worker reads
    all the records, as the window counts per file are not known in advance."""
    import tensorflow as tf

    replicas = make_strategy("multi_worker_mirrored").num_replicas_in_sync
    if batch_size < replicas:
        raise ValueError(f"batch_size {batch_size} is smaller than the {replicas} replicas: each needs a window a step")

    def pad(x):
        missing = tf.maximum(batch_size - tf.shape(x)[0], 0)
        return tf.pad(x, [[0, missing]] + [[0, 0]] * (x.shape.rank - 1))

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.map(lambda feats, labels: tf.nest.map_structure(pad, (feats, labels))).with_options(options)


def make_strategy(name: str):
    """The ``tf.distribute`` strategy called ``name`` (see ``TrainConfig.strategy``)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "multi_worker_mirrored":
        if not _MULTI_WORKER:
            _MULTI_WORKER.append(_nested_reduce(tf.distribute.MultiWorkerMirroredStrategy)())
        return _MULTI_WORKER[0]
    raise ValueError(f"unknown strategy {name!r}")


def _nested_reduce(strategy_class):
    """``strategy_class`` with a ``reduce`` Keras 3 (3.12-3.15) can use: it reduces a whole
    ``(features, labels)`` batch before ``fit`` (the collective reduce takes one tensor) and the
    step's scalar logs along axis 0 (a scalar has none: their mean over the replicas it is)."""
    import tensorflow as tf

    class NestedReduce(strategy_class):
        def reduce(self, reduce_op, value, axis):
            reduce_one = super().reduce

            def one(v):
                rank = (v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v).shape.rank
                return reduce_one(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    NestedReduce.__name__ = strategy_class.__name__
    return NestedReduce
