"""One worker of a multi-worker training test: ``python -m tests.distributed.multi_worker_run
SPEC.json`` with ``TF_CONFIG`` set. Trains the spec's config on the spec's arrays through
``train_and_evaluate`` and writes this worker's final weights and loss history to ``spec["out"]``.
"""
import json
import sys


def main(spec_path):
    from affect_tf.training import distribute

    # first of all: MultiWorkerMirroredStrategy must configure the collectives before TF runs ops
    distribute.make_strategy("multi_worker_mirrored")

    import numpy as np
    import tensorflow as tf

    from affect_tf.config import config_from_json
    from affect_tf.models.cnn_rnn import cnn_rnn  # noqa: F401  registers CnnRnnConfig
    from affect_tf.training import adversarial  # noqa: F401  registers AEGCDSZConfig and its trainer
    from affect_tf.training import train_and_evaluate

    with open(spec_path) as handle:
        spec = json.load(handle)
    arrays = np.load(spec["data"])
    feats = {k.removeprefix("x/"): arrays[k] for k in arrays.files if k.startswith("x/")}
    labels = {k.removeprefix("y/"): arrays[k] for k in arrays.files if k.startswith("y/")}
    data = tf.data.Dataset.from_tensor_slices((feats, labels)).batch(spec["global_batch"])
    result = train_and_evaluate(config_from_json(spec["train_config"]), spec["workdir"], data)
    weights = {f"w{i}": w for i, w in enumerate(result.model.get_weights())}
    np.savez(spec["out"], loss=np.asarray(result.history[spec["loss"]]), workdir=str(result.workdir), **weights)


if __name__ == "__main__":
    main(sys.argv[1])
