"""One worker of a multi-worker training test: ``python -m tests.distributed.multi_worker_run
PREFIX train ARGS...`` with ``TF_CONFIG`` set runs ``affect-tf train ARGS...`` and, after each
epoch, writes the epoch's logs and the model's weights to ``PREFIX.epoch<N>.npz``. With
``KILL_AFTER_EPOCH=N`` in the environment the process then kills itself (SIGKILL, after the
resume backup of epoch N was written), as a worker lost mid-run would stop.
"""
import os
import signal
import sys


def main(prefix, argv):
    import keras
    import numpy as np

    from affect_tf import cli
    from affect_tf.training import fitting

    kill_after = int(os.environ.get("KILL_AFTER_EPOCH", 0))

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            model = getattr(self.model, "model", self.model)  # an adversarial trainer's model
            weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
            np.savez(f"{prefix}.epoch{epoch + 1}.npz", **{f"log/{k}": float(v) for k, v in logs.items()}, **weights)
            if epoch + 1 == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    library_callbacks = fitting.callbacks_for

    def callbacks(*args, **kwargs):  # after the library's own, so the backup is written first
        found, checkpoint = library_callbacks(*args, **kwargs)
        return found + [EpochLog()], checkpoint

    fitting.callbacks_for = callbacks
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
