"""Multi-worker training: two worker processes on 127.0.0.1 run ``affect-tf train --strategy
multi_worker_mirrored`` on records (``TF_CONFIG`` set per worker), checked against a hand-written
single-process reference; the CNN-RNN run is killed after its first epoch and restarted."""
import contextlib
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
from affect_tf.data import schema
from affect_tf.models import label_mask
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
from affect_tf.models.adversarial.adversarial_model import fold
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
from affect_tf.losses import masked_mse
from affect_tf.training import TrainConfig, distribute
from affect_tf.training.fitting import make_data

from tests.data.data_test_utils import random_recording_arrays
from affect_tf.testing.local_cluster import REPO, free_port

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
GLOBAL_BATCH, WORKERS, EPOCHS, LEARNING_RATE, WINDOW = 4, 2, 2, 0.05, 4
# frames per recording, one file each: 8 training windows (two global batches); 5 validation
# windows, the last batch padded. Sharded by file, the workers' counts differ (5 and 3 windows)
# and TF handed the one that ran out empty batches, which oneDNN's Conv2D cannot take.
FRAMES = {"train": (8, 12, 12), "validation": (4, 8, 6)}


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


def _write_records(root):
    for split, lengths in FRAMES.items():
        (root / split).mkdir(parents=True)
        for i, frames in enumerate(lengths):
            with tf.io.TFRecordWriter(str(root / split / f"r{i}.tfrecord")) as writer:
                writer.write(schema.encode_recording(
                    recording_id=f"{split}{i}", subject=f"{split}{i}", split=split, fps=10.0,
                    **random_recording_arrays(frames, crop=32, seed=10 * len(split) + i)))


def _batches(config, records):
    """The global batches one process reads (the reader's windows in file order)."""
    train_config = TrainConfig(model=config, batch_size=GLOBAL_BATCH, window=WINDOW, shuffle=False)
    return list(make_data(str(records), train_config, config, training=False).as_numpy_iterator())


def _ccc(t, p, m):
    """Lin's CCC with population moments over the frames where ``m`` is 1 (numpy)."""
    t, p = t[m > 0], p[m > 0]
    return 2 * np.mean((t - t.mean()) * (p - p.mean())) / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


def _reference(config, loss_fn, init, train, val, replicas, average=True, epochs=EPOCHS):
    """Plain SGD, one process: each global batch split in ``replicas`` equal parts (as the
    strategy splits it), the loss the mean of the parts' losses (CCC pools the frames it is
    given, so that is what the replicas optimise), its gradient applied once. Per epoch: the
    mean training loss, the weights and the validation mean CCC over every labelled frame."""
    model = config.build()
    model({k: v[:1] for k, v in train[0][0].items()})
    model.load_weights(init)
    out = {"loss": [], "weights": [], "val_mean_ccc": []}
    for _ in range(epochs):
        losses = []
        for x, y in train:
            with tf.GradientTape() as tape:
                parts = []
                for part in np.split(np.arange(len(y[features.TARGETS])), replicas):
                    parts.append(loss_fn(model, {k: v[part] for k, v in x.items()}, {k: v[part] for k, v in y.items()}))
                loss = tf.add_n(parts) / (replicas if average else 1)
            grads = tape.gradient(loss, model.trainable_variables)
            for variable, grad in zip(model.trainable_variables, grads):
                if grad is not None:  # e.g. the critic head, unused by "Disc"
                    variable.assign(variable - LEARNING_RATE * grad)
            losses.append(float(tf.add_n(parts)) / replicas)
        out["loss"].append(np.mean(losses))
        out["weights"].append(model.get_weights())
        if not val:
            continue
        pred = np.concatenate([np.asarray(model(x, training=False)[features.TARGETS]) for x, _ in val])
        true = np.concatenate([y[features.TARGETS] for _, y in val])
        mask = np.concatenate([np.asarray(label_mask(x, y)) for x, y in val])
        out["val_mean_ccc"].append(np.mean([_ccc(true[..., d], pred[..., d], mask[..., d]) for d in range(2)]))
    return out


def _run_workers(tmp_path, name, argv, kill_after=0):
    """``affect-tf train ARGV`` in WORKERS processes with TF_CONFIG; their exit codes and outputs."""
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(WORKERS)]
    processes = []
    with contextlib.ExitStack() as files:
        files.callback(_stop, processes)  # even when the test fails
        for index in range(WORKERS):
            scratch = tmp_path / f"tmp_{name}{index}"  # a restarted pod's temp dir is new
            scratch.mkdir()
            env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(scratch), KILL_AFTER_EPOCH=str(kill_after),
                       TF_CONFIG=json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}))
            out, err = (files.enter_context(open(tmp_path / f"{name}{index}.{kind}", "wb")) for kind in ("out", "err"))
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.distributed.multi_worker_run", str(tmp_path / f"{name}{index}"),
                 "-v", "train", *argv], cwd=REPO, env=env, stdout=out, stderr=err))
        codes = [proc.wait(timeout=240) for proc in processes]
    logs = [(tmp_path / f"{name}{i}.err").read_text()[-3000:] for i in range(WORKERS)]
    return codes, [(tmp_path / f"{name}{i}.out").read_text() for i in range(WORKERS)], logs


def _stop(processes):
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _epochs(tmp_path, name, index):
    return sorted(int(p.suffixes[-2].removeprefix(".epoch")) for p in tmp_path.glob(f"{name}{index}.epoch*.npz"))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_workers_on_records_match_the_single_process_reference(family, tmp_path):
    """``affect-tf train`` on records in 2 workers: loss, weights and validation CCC per epoch
    as one process computes them (1e-5); only the chief writes into --out. The CNN-RNN run is
    killed after its first epoch and restarted: it goes on with epoch 2 from the backup."""
    config, loss_fn, loss_key = FAMILIES[family]
    records = tmp_path / "records"
    _write_records(records)
    train, val = _batches(config, records / "train"), _batches(config, records / "validation")
    assert [len(y[features.TARGETS]) for _, y in train] == [4, 4] and [len(y[features.TARGETS]) for _, y in val] == [4, 1]
    keras.utils.set_random_seed(0)
    model = config.build()
    model({k: v[:1] for k, v in train[0][0].items()})
    init = tmp_path / "init.weights.h5"
    model.save_weights(str(init))
    train_config = TrainConfig(model=config, optimizer="sgd", learning_rate=LEARNING_RATE, epochs=EPOCHS,
                               batch_size=GLOBAL_BATCH, window=WINDOW, shuffle=False, tensorboard=False,
                               early_stopping_patience=0, warm_start=str(init), strategy="multi_worker_mirrored")
    (tmp_path / "train_config.json").write_text(train_config.to_json())
    workdir = tmp_path / "run"
    argv = ["--config", str(tmp_path / "train_config.json"), "--train", str(records / "train"),
            "--val", str(records / "validation"), "--out", str(workdir)]

    resumed = family == "cnn_rnn"
    if resumed:  # a worker lost after epoch 1's backup: the job stops; its restart resumes
        codes, _, logs = _run_workers(tmp_path, "killed", argv, kill_after=1)
        assert codes == [-9] * WORKERS, logs
        assert all(_epochs(tmp_path, "killed", i) == [1] for i in range(WORKERS))
        # the chief's backup is the one every worker resumes from; the others write none
        assert (workdir / "backup").is_dir() and not list((tmp_path / "tmp_killed1").rglob("backup"))
    codes, outs, logs = _run_workers(tmp_path, "run", argv)
    assert codes == [0] * WORKERS, logs
    assert all(_epochs(tmp_path, "run", i) == ([2] if resumed else [1, 2]) for i in range(WORKERS))

    want = _reference(config, loss_fn, init, train, val, WORKERS)
    for epoch in range(1, EPOCHS + 1):
        name = "killed" if resumed and epoch == 1 else "run"
        for index in range(WORKERS):
            got = np.load(tmp_path / f"{name}{index}.epoch{epoch}.npz")
            # float32 sums in another order (all-reduce vs one tape): 1e-5 absolute on O(1) values
            np.testing.assert_allclose(got[f"log/{loss_key}"], want["loss"][epoch - 1], atol=1e-5)
            np.testing.assert_allclose(got["log/val_mean_ccc"], want["val_mean_ccc"][epoch - 1], atol=1e-5)
            for i, w in enumerate(want["weights"][epoch - 1]):
                np.testing.assert_allclose(got[f"w{i}"], w, atol=1e-5)
    # the check can tell: unscaled per-replica losses (gradients summed, not averaged) land elsewhere
    unscaled = _reference(config, loss_fn, init, train, [], WORKERS, average=False, epochs=1)["weights"][0]
    assert max(np.abs(a - b).max() for a, b in zip(unscaled, want["weights"][0])) > 1e-3

    # only the chief (worker 0) wrote into --out; worker 1 saved its model in a scratch folder
    saved = [pathlib.Path(json.loads(out[out.index('{\n  "model"'):])["model"]) for out in outs]
    assert saved[0] == workdir / "model.keras"
    assert saved[1].exists() and workdir not in saved[1].parents
    for name in ("model.keras", "metrics.json", "train_config.json", "checkpoints/best.weights.h5"):
        assert (workdir / name).exists()
    assert not (workdir / "backup").exists()  # removed once the run finished
