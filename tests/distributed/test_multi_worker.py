"""Multi-worker training: two worker processes on 127.0.0.1 with ``TF_CONFIG`` and
``--strategy multi_worker_mirrored`` against a hand-written single-process reference."""
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features
from affect_tf.models import label_mask
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
from affect_tf.models.adversarial.common import fold
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
from affect_tf.losses import masked_mse
from affect_tf.training import TrainConfig, distribute

from tests.distributed.cluster import REPO, free_port

TINY_CNN_RNN = CnnRnnConfig(crop_size=32, vgg_filters=(4, 4, 8, 8, 8), use_landmarks=False, fc_units=16,
                            fc_dropout=0.0, taps=("fc",), rnn_units=8, rnn_layers=1, rnn_dropout=0.0)
# "Disc" of 000: the discriminator alone, fitted by its own train_step (AEGTrainer) with an l2 loss
TINY_DISC = AEGCDSZConfig(use_generator=False, use_audio=False, use_latent=False, denoise=False,
                          image_size=32, discriminator_filters=(4, 8, 8, 8))


def cnn_rnn_loss(model, x, y):
    return model.affect_loss(x, y, model(x, training=True))


def disc_loss(model, x, y):
    image = model.modality_image(x, features.FACE)[0]
    va = model.discriminator(image, None, training=True)["va"]
    return masked_mse(fold(y[features.TARGETS]), va, fold(label_mask(x, y)))


FAMILIES = {"cnn_rnn": (TINY_CNN_RNN, cnn_rnn_loss, "loss"), "disc": (TINY_DISC, disc_loss, "d_loss")}
GLOBAL_BATCH, WORKERS, EPOCHS, LEARNING_RATE = 4, 2, 2, 0.05


def test_roles_from_tf_config(monkeypatch, tmp_path):
    cluster = {"worker": ["h:1", "h:2"]}
    assert distribute.is_chief({}) and distribute.task({}) == ("chief", 0)
    assert distribute.is_chief({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    assert not distribute.is_chief({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    assert not distribute.is_chief({"cluster": {**cluster, "chief": ["h:0"]}, "task": {"type": "worker", "index": 0}})
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    scratch = distribute.writable_workdir(tmp_path / "run")
    assert scratch == distribute.writable_workdir(tmp_path / "run") and tmp_path not in scratch.parents
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        distribute.tf_config()


def _arrays(n=8, frames=4, seed=0):
    rng = np.random.default_rng(seed)
    x = {features.FACE: rng.uniform(0, 1, (n, frames, 32, 32, 3)).astype("float32"),
         features.FRAME_MASK: np.ones((n, frames), "float32")}
    y = {features.TARGETS: rng.uniform(-1, 1, (n, frames, 2)).astype("float32"),
         features.LABEL_MASK: (rng.uniform(size=(n, frames, 2)) > 0.2).astype("float32")}
    return x, y


def _reference(config, loss_fn, init, x, y, replicas, average=True):
    """Plain SGD, one process: each global batch split in ``replicas`` equal parts (as the
    strategy splits it), the loss the mean of the parts' CCC losses (CCC pools the frames it is
    given, so that is what the replicas optimise), its gradient applied once."""
    model = config.build()
    model({k: v[:1] for k, v in x.items()})
    model.load_weights(init)
    epoch_losses = []
    for _ in range(EPOCHS):
        losses = []
        for start in range(0, len(y[features.TARGETS]), GLOBAL_BATCH):
            with tf.GradientTape() as tape:
                parts = []
                for part in np.split(np.arange(start, start + GLOBAL_BATCH), replicas):
                    xp, yp = {k: v[part] for k, v in x.items()}, {k: v[part] for k, v in y.items()}
                    parts.append(loss_fn(model, xp, yp))
                loss = tf.add_n(parts) / (replicas if average else 1)
            grads = tape.gradient(loss, model.trainable_variables)
            for variable, grad in zip(model.trainable_variables, grads):
                if grad is not None:  # e.g. the critic head, unused by "Disc"
                    variable.assign(variable - LEARNING_RATE * grad)
            losses.append(float(tf.add_n(parts)) / replicas)
        epoch_losses.append(np.mean(losses))
    return np.asarray(epoch_losses), model.get_weights()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_workers_match_the_single_process_reference(family, tmp_path):
    config, loss_fn, loss_key = FAMILIES[family]
    x, y = _arrays()
    keras.utils.set_random_seed(0)
    model = config.build()
    model({k: v[:1] for k, v in x.items()})
    init = tmp_path / "init.weights.h5"
    model.save_weights(str(init))
    np.savez(tmp_path / "data.npz", **{f"x/{k}": v for k, v in x.items()}, **{f"y/{k}": v for k, v in y.items()})
    train_config = TrainConfig(model=config, optimizer="sgd", learning_rate=LEARNING_RATE,
                               epochs=EPOCHS, batch_size=GLOBAL_BATCH, shuffle=False, tensorboard=False,
                               early_stopping_patience=0, warm_start=str(init),
                               strategy="multi_worker_mirrored")
    workdir = tmp_path / "run"
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(WORKERS)]
    processes = []
    try:
        for index in range(WORKERS):
            spec = tmp_path / f"spec{index}.json"
            spec.write_text(json.dumps({"data": str(tmp_path / "data.npz"), "global_batch": GLOBAL_BATCH,
                                        "train_config": train_config.to_json(), "workdir": str(workdir),
                                        "out": str(tmp_path / f"worker{index}.npz"), "loss": loss_key}))
            env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path), TF_CONFIG=json.dumps(
                {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}))
            log = open(tmp_path / f"worker{index}.log", "wb")
            processes.append(subprocess.Popen([sys.executable, "-m", "tests.distributed.multi_worker_run", str(spec)],
                                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        for index, proc in enumerate(processes):
            assert proc.wait(timeout=240) == 0, (tmp_path / f"worker{index}.log").read_text()[-3000:]
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    runs = [np.load(tmp_path / f"worker{i}.npz") for i in range(WORKERS)]
    want_loss, want_weights = _reference(config, loss_fn, init, x, y, WORKERS)
    # float32 sums in another order (all-reduce vs one tape): 1e-5 absolute on O(1) values
    for run in runs:
        np.testing.assert_allclose(run["loss"], want_loss, atol=1e-5)
        for i, want in enumerate(want_weights):
            np.testing.assert_allclose(run[f"w{i}"], want, atol=1e-5)
    # the check can tell: unscaled per-replica losses (gradients summed, not averaged) land elsewhere
    _, unscaled = _reference(config, loss_fn, init, x, y, WORKERS, average=False)
    assert max(np.abs(a - b).max() for a, b in zip(unscaled, want_weights)) > 1e-3

    # only the chief (worker 0) wrote into the run's folder
    assert str(runs[0]["workdir"]) == str(workdir)
    other = pathlib.Path(str(runs[1]["workdir"]))
    assert other != workdir and workdir not in other.parents
    for name in ("model.keras", "metrics.json", "train_config.json", "checkpoints/best.weights.h5"):
        assert (workdir / name).exists()
