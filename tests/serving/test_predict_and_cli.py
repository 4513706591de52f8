"""``affect-tf predict`` on a real video, ``affect-tf export`` and ``affect-tf serve`` as commands."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from affect_tf.cli import main
from affect_tf.testing.tiny_model import MODEL_NAME, random_batch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _decoded_frame_count(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_predict_video_served_and_in_process_agree(shared_data, server, export_base, tmp_path):
    video = shared_data / "video" / "bbaf2n.mpg"
    served_dir, local_dir = tmp_path / "served", tmp_path / "local"
    # Fresh processes, as a user runs it (and openSMILE must load before TensorFlow, which
    # this test process has already imported; see serving/predict.py).
    for where, out in ((["--server", server.target, "--version", "1"], served_dir),
                       (["--model", str(export_base / "1")], local_dir)):
        run = subprocess.run(
            [sys.executable, "-m", "affect_tf.cli", "predict", str(video), *where, "--out", str(out),
             "--chunk-frames", "32"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, text=True,
            timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "75 frames (" in run.stdout  # the summary, and the progress bar's rate:
        assert "frame/s]" in run.stderr or "s/frame]" in run.stderr, run.stderr

    rows = _read_csv(served_dir / "bbaf2n.csv")
    assert len(rows) == _decoded_frame_count(video) == 75
    assert [int(r["frame"]) for r in rows] == list(range(75))
    times = np.array([float(r["time_s"]) for r in rows])
    np.testing.assert_allclose(np.diff(times), 0.04, atol=1e-3)  # 25 fps
    values = np.array([[float(r["valence"]), float(r["arousal"])] for r in rows])
    assert np.all(np.abs(values) <= 1) and values.std(axis=0).min() > 0
    assert sum(int(r["face_present"]) for r in rows) > 60  # one frontal speaker throughout

    local = _read_csv(local_dir / "bbaf2n.csv")
    np.testing.assert_allclose(
        [[float(r["valence_raw"]), float(r["arousal_raw"])] for r in local],
        [[float(r["valence_raw"]), float(r["arousal_raw"])] for r in rows], atol=1e-5)

    doc = json.loads((served_dir / "bbaf2n.json").read_text())
    assert doc["n_frames"] == 75 and len(doc["frames"]) == 75
    assert doc["model_metadata"]["preset"] == "tiny_test_model"
    png = (served_dir / "bbaf2n.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_plot_shades_face_missing_spans(tmp_path):
    from PIL import Image

    from affect_tf.serving import predict

    assert predict.spans(~np.array([1, 0, 0, 1, 0], bool)) == [(1, 3), (4, 5)]
    times = np.arange(100) * 0.04
    face = np.ones(100, bool)
    face[40:60] = False
    png = predict.plot(times, np.zeros(100), np.zeros(100), face, 0.04, "t")
    (tmp_path / "p.png").write_bytes(png)
    image = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    row = image[image.shape[0] // 3]  # above the curves at 0, inside the axes
    grey = np.all(np.abs(row - 217) <= 3, axis=-1)  # 0.85 grey
    assert grey.sum() > 50, "no shaded span"
    # The shaded run sits 40%..60% along the time axis.
    cols = np.flatnonzero(grey)
    axis_cols = np.flatnonzero(np.all(row == 255, axis=-1) | grey)
    left, right = axis_cols.min(), axis_cols.max()
    assert 0.35 < (cols.min() - left) / (right - left) < 0.45
    assert 0.55 < (cols.max() - left) / (right - left) < 0.65


def test_predict_rejects_missing_video(export_base, tmp_path, capsys):
    video = tmp_path / "nope.mp4"
    assert main(["predict", str(video), "--model", str(export_base), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"affect-tf predict: {video}: no such video file\n"


def test_export_command_writes_version_and_configs(trained, tmp_path, capsys):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    model = trained[0]
    keras_path = tmp_path / "tiny.keras"
    model.save(keras_path)
    base = tmp_path / "models" / "affect"
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"preset": "from-cli"}))
    (base / "1").mkdir(parents=True)  # an existing version: the export becomes version 2
    assert main(["export", str(keras_path), str(base), "--metadata", str(meta),
                 "--serving-base-path", "/models/affect"]) == 0
    assert (base / "2" / "saved_model.pb").is_file()
    config = text_format.Parse((base / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    assert config.model_config_list.config[0].base_path == "/models/affect"
    assert "max_batch_size" in (base / "batching.config").read_text()
    from affect_tf import export

    assert export.read_metadata(base / "2")["preset"] == "from-cli"
    assert main(["export", str(tmp_path / "missing.keras"), str(base)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"affect-tf export: cannot load model {tmp_path / 'missing.keras'}") and err.count("\n") == 1


@pytest.mark.slow
def test_serve_command_in_a_subprocess(export_base):
    from affect_tf.serving.client import ServingClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.Popen(
        [sys.executable, "-m", "affect_tf.cli", "serve", f"{MODEL_NAME}={export_base}",
         "--port", str(port), "--poll-seconds", "0.5"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = ServingClient(f"127.0.0.1:{port}", MODEL_NAME, timeout=30, retries=4, backoff=0.5)
        client.wait_until_available(version=1, timeout=90)
        inputs, _, _ = random_batch(batch=1, frames=3, seed=11)
        assert client.predict(inputs, version=1)["valence"].shape == (1, 3)
        assert proc.poll() is None
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"on grpc 127.0.0.1:{port}" in out


def test_k8s_manifests_match_the_export_and_client():
    import yaml

    deployment = yaml.safe_load(open(os.path.join(REPO, "serving", "k8s", "deployment.yaml")))
    service = yaml.safe_load(open(os.path.join(REPO, "serving", "k8s", "service.yaml")))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    mount = container["volumeMounts"][0]["mountPath"]
    # The files `affect-tf export` writes beside the versions, inside the mounted base dir.
    assert args["model_config_file"] == f"{mount}/models.config"
    assert args["batching_parameters_file"] == f"{mount}/batching.config"
    assert (args["port"], args["rest_api_port"]) == ("8500", "8501")
    assert container["image"].startswith("tensorflow/serving:")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in service["spec"]["ports"]} == {8500, 8501}
