"""Training on real TFRecords through the reader: the `affect-tf train` CLI and the TFX run_fn."""
import json
import re
import types

import numpy as np
import pytest
import tensorflow as tf

from affect_tf import cli, features
from affect_tf.data import schema
from affect_tf.training import TrainConfig
from affect_tf.evaluation_io import choose_median_window_on_records
from affect_tf.export import read_metadata
from affect_tf.postprocess import MEDIAN_WINDOWS
from affect_tf.training.tfx_run_fn import run_fn

from tests.training import tiny_task


def _write_split(path, n, seed, frames=12):
    feats, _, clean = tiny_task.task_arrays(n, frames, seed, missing=0.0)
    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(n):
            writer.write(schema.encode_recording(
                recording_id=f"r{seed}_{i}", subject=f"s{seed}_{i}", split="train", fps=10.0,
                face=rng.integers(0, 255, (frames, 96, 96, 3), dtype=np.uint8),
                landmarks=np.zeros((frames, 68, 2), "float32"), face_mask=np.ones(frames, "float32"),
                mel=np.zeros((frames, 128, 128), "float32"),
                egemaps=feats[features.EGEMAPS][i], audio_mask=np.ones(frames, "float32"),
                valence=clean[i, :, 0], arousal=clean[i, :, 1],
                label_mask=np.ones((frames, 2), "float32")))


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    (root / "train").mkdir()
    (root / "val").mkdir()
    _write_split(root / "train" / "part-0.tfrecord", 8, 0)
    _write_split(root / "val" / "part-0.tfrecord", 4, 1)
    return root


def _cfg():
    return TrainConfig(model=tiny_task.TinyGruConfig(), epochs=2, window=6, batch_size=4,
                       learning_rate=0.02, tensorboard=False, early_stopping_patience=0)


@pytest.mark.slow
def test_train_cli_on_records(records, tmp_path, capsys):
    (tmp_path / "cfg.json").write_text(_cfg().to_json())
    code = cli.main(["train", "--config", str(tmp_path / "cfg.json"), "--records", str(records),
                     "--out", str(tmp_path / "run"), "--epochs", "2"])
    assert code == 0
    # Keras' own per-epoch progress, not silenced with the libraries' logs (a pipe: a line per epoch)
    out = capsys.readouterr().out
    for epoch in (1, 2):
        assert re.search(rf"Epoch {epoch}/2\n\d+/\d+ - \d+s - \d+m?s/step - .* - loss: ", out), out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert np.isfinite(metrics["val_mean_ccc"])
    assert (tmp_path / "run" / "model.keras").exists()
    # 004 §6.3 outside TFX: the median window chosen on validation by run_fn's own function,
    # shipped by `affect-tf export` into the metadata that `predict` reads
    chosen = json.loads((tmp_path / "run" / "postprocess.json").read_text())["median_window"]
    assert cli.main(["export", str(tmp_path / "run" / "model.keras"), str(tmp_path / "export")]) == 0
    assert read_metadata(tmp_path / "export" / "1")["median_window"] == chosen
    assert list(choose_median_window_on_records(str(tmp_path / "export" / "1"), [str(records / "val" / "*")])) == chosen


@pytest.mark.slow
def test_train_cli_search_keeps_the_best_value_on_validation(records, tmp_path, capsys):
    (tmp_path / "cfg.json").write_text(_cfg().to_json())
    code = cli.main(["train", "--config", str(tmp_path / "cfg.json"), "--records", str(records),
                     "--out", str(tmp_path / "run"), "--search", "units=2,8"])
    assert code == 0
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    scores = {int(k): v for k, v in search["scores"].items()}
    assert sorted(scores) == [2, 8] and search["best"] == max(scores, key=scores.get)
    for units in (2, 8):  # one full run per value, each with its own validation metrics
        run = json.loads((tmp_path / "run" / f"units={units}" / "metrics.json").read_text())
        assert run["val_mean_ccc"] == pytest.approx(scores[units])
    assert f'"model": "{tmp_path / "run" / ("units=" + str(search["best"])) / "model.keras"}"' in capsys.readouterr().out


@pytest.mark.slow
def test_tfx_run_fn_on_records(records, tmp_path):
    fn_args = types.SimpleNamespace(
        train_files=[str(records / "train" / "*")], eval_files=[str(records / "val" / "*")],
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "run"),
        train_steps=4, eval_steps=1, custom_config={"train_config": _cfg().to_json()})
    result = run_fn(fn_args)
    assert result.history["loss"] and len(result.history["loss"]) == 2
    serving = tmp_path / "serving"
    assert (serving / "saved_model.pb").exists()
    # the median window chosen on the eval files travels in the export metadata
    window = read_metadata(serving)["median_window"]
    assert len(window) == 2 and all(w in MEDIAN_WINDOWS for w in window)
    # a second run given the first as TFX's base_model warm-starts from its Keras copy
    again = types.SimpleNamespace(**{**vars(fn_args), "serving_model_dir": str(tmp_path / "m2" / "serving"),
                                     "model_run_dir": str(tmp_path / "run2"), "base_model": str(serving)})
    run_fn(again)
    assert json.loads((tmp_path / "run2" / "train_config.json").read_text())["warm_start"].endswith(
        "Format-Keras/model.keras")


@pytest.mark.slow
def test_fuse_cli_weights_members_by_validation_ccc(records, tmp_path, capsys):
    """``004`` eq. 1 as a product: two trained members fused into one model that serves."""
    import keras

    from affect_tf.models import load_model
    from affect_tf.training import train_and_evaluate

    paths = []
    for seed, epochs in ((0, 2), (1, 1)):
        run = train_and_evaluate(_cfg().replace(seed=seed, epochs=epochs), tmp_path / f"m{seed}",
                                 str(records / "train" / "*"))
        paths.append(run.keras_path)
    capsys.readouterr()
    assert cli.main(["fuse", "--member", paths[0], "--member", paths[1], "--records", str(records),
                     "--out", str(tmp_path / "fused"), "--window", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    cccs = np.clip(np.array(report["validation_ccc"]), 0, None)
    np.testing.assert_allclose(report["weights"], cccs / cccs.sum(0), atol=1e-4)
    fused = load_model(tmp_path / "fused" / "model.keras")
    feats, _, _ = tiny_task.task_arrays(2, 6, seed=5)
    members = [keras.ops.convert_to_numpy(load_model(p)(feats)[features.TARGETS]) for p in paths]
    expected = sum(w * p for w, p in zip(cccs / cccs.sum(0), members))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(feats)[features.TARGETS]), expected, atol=1e-5)
    assert (tmp_path / "fused" / "export" / "1" / "saved_model.pb").exists()
    metadata = read_metadata(tmp_path / "fused" / "export" / "1")
    assert metadata["decision_fusion"]["weights"] == report["weights"]
    assert metadata["median_window"] == report["median_window"] == list(choose_median_window_on_records(
        str(tmp_path / "fused" / "export" / "1"), [str(records / "val" / "*")]))
