"""Speech-only recordings (no video): CSV manifest rows with an audio file, the Beam job, a
face preset refusing them, training, export and ``affect-tf predict speech.wav``."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import adapters, beam_job, csv_manifest, schema
from affect_tf.media import decode

IN_PROCESS = ["--direct_running_mode=in_memory"]
SR = 22050


def test_manifest_rows_without_video(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "t.csv").write_text("time,valence,arousal\n0,0,0\n1,0.5,-0.5\n")
    (tmp_path / "m.csv").write_text("recording,video,audio,subject,labels,fps\n"
                                    "r1,,a.wav,s1,t.csv,10\nr2,,a.wav,s2,,\n")
    r1, r2 = adapters.load_csv_manifest(tmp_path / "m.csv")
    assert (r1.video, r1.fps, r2.fps, r2.split) == (None, 10.0, csv_manifest.SPEECH_FPS, "predict")
    np.testing.assert_allclose(r1.valence, np.arange(11) / 20, atol=1e-6)  # 1 s at 10 fps
    np.testing.assert_allclose(r1.arousal, -np.arange(11) / 20, atol=1e-6)
    for row, problem in (("r3,,,s", "neither a video nor an audio"), ("r3,,a.wav,s,,-1", "fps")):
        (tmp_path / "bad.csv").write_text(f"recording,video,audio,subject,labels,fps\n{row}\n")
        (bad,) = adapters.load_csv_manifest(tmp_path / "bad.csv")  # listed in the job's errors
        assert problem in bad.error and "bad.csv: line 2" in bad.error


def test_face_models_refuse_data_without_any_face():
    from affect_tf import presets
    from affect_tf.data.feature_statistics import predicting_inputs, require_faces

    def data(face_mask):
        feats = {F.LANDMARKS: np.zeros((2, 3, 68, 2), np.float32), F.FACE_MASK: face_mask}
        return tf.data.Dataset.from_tensors((feats, {F.TARGETS: np.zeros((2, 3, 2), np.float32)})).repeat(3)

    speech, one_face = np.zeros((2, 3), np.float32), np.eye(2, 3, dtype=np.float32)
    visual = predicting_inputs(presets.get_preset("implicit_fusion_visual").config)
    with pytest.raises(ValueError, match=r"needs the face \(landmarks\).*no face"):
        require_faces(visual, data(speech))
    require_faces(visual, data(one_face))  # one face anywhere: the masks handle the rest
    # the audio model of implicit fusion predicts from speech; its visual loss is masked
    require_faces(predicting_inputs(presets.get_preset("implicit_fusion_audio").config), data(speech))


def _records(out, rid, split):
    path = out / split / f"{rid}.tfrecord.gz"
    data = tf.data.TFRecordDataset(str(path), compression_type="GZIP")
    parsed = [schema.parse_sequence_example(s) for s in data]
    assert len(parsed) == 1
    return parsed[0]


@pytest.fixture(scope="module")
def speech_records(shared_data, tmp_path_factory):
    """The 8 EmoDB wavs (labelled per frame, one with time-stamped labels), RD_Radio31_000.wav on
    a 10 fps grid, and one file that is not media, through the Beam job."""
    root = tmp_path_factory.mktemp("speech")
    emodb = sorted((shared_data / "audio" / "emodb").glob("*.wav"))
    rows = []
    for i, wav in enumerate(emodb):
        split = "validation" if i % 4 == 3 else "train"
        labels = root / f"{wav.stem}.csv"
        if i == 0:  # time-stamped: resampled onto the 25 fps grid
            labels.write_text("time,valence,arousal\n0,-1,1\n2,1,-1\n")
        else:
            v, a = (0.1 * i, -0.1 * i)
            labels.write_text("valence,arousal\n" + f"{v},{a}\n" * 50)
        rows.append([wav.stem, "", str(wav), wav.stem[:2], labels.name, split, ""])
    rows.append(["radio", "", str(shared_data / "audio" / "RD_Radio31_000.wav"), "rd", "", "", "10"])
    (root / "broken.wav").write_text("not audio")
    rows.append(["broken", "", "broken.wav", "x", "", "", ""])
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "video", "audio", "subject", "labels", "split", "fps"])
        writer.writerows(rows)
    out = root / "records"
    summary = beam_job.run_preprocess("csv", manifest, out, IN_PROCESS, workers=1, chunk_frames=500)
    return out, summary, emodb


@pytest.mark.slow
def test_speech_only_rows_through_the_beam_job(speech_records, shared_data):
    out, summary, emodb = speech_records
    assert summary["written"] == 9 and summary["failed"] == 1, summary["errors"]
    error = summary["errors"][0]
    assert error["id"] == "broken" and "broken.wav" in error["error"], error

    feats, labels, _ = _records(out, emodb[0].stem, "train")
    n = 50  # 2.0 s on the default 25 fps grid
    assert feats[F.FRAME_MASK].shape[0] == n
    assert not np.any(feats[F.FACE_MASK].numpy()) and not np.any(feats[F.FACE].numpy() != -1)
    assert not np.any(feats[F.LANDMARKS].numpy())
    assert np.all(feats[F.AUDIO_MASK].numpy() == 1)
    assert np.all(feats[F.EGEMAPS].numpy().std(0) > 0)  # real, varying LLDs
    # time-stamped labels from -1 to 1 (valence) over 2 s, at frame times i / 25
    np.testing.assert_allclose(labels[F.TARGETS].numpy()[:, 0], -1 + np.arange(n) / 25, atol=1e-5)

    feats, labels, _ = _records(out, emodb[1].stem, "train")
    np.testing.assert_allclose(labels[F.TARGETS].numpy()[0], [0.1, -0.1], atol=1e-6)

    feats, labels, _ = _records(out, "radio", "predict")
    seconds = len(decode.read_audio(shared_data / "audio" / "RD_Radio31_000.wav", SR)) / SR
    assert feats[F.FRAME_MASK].shape[0] == math.ceil(seconds * 10 - 1e-9)
    assert not np.any(labels[F.LABEL_MASK].numpy())


@pytest.mark.slow
def test_speech_records_train_export_and_predict(speech_records, shared_data, tmp_path):
    from affect_tf.cli import main
    from affect_tf.models.cnn_rnn import CnnRnnConfig
    from affect_tf.models.implicit_fusion import ImplicitFusionConfig
    from affect_tf.training import TrainConfig, train_and_evaluate

    out, _, emodb = speech_records
    common = dict(epochs=1, batch_size=2, window=25, tensorboard=False, early_stopping_patience=0)
    with pytest.raises(ValueError, match="needs the face"):
        face = CnnRnnConfig(crop_size=32, vgg_filters=(2, 2, 2, 2, 2), fc_units=4, rnn_units=2)
        train_and_evaluate(TrainConfig(model=face, **common), tmp_path / "face", str(out / "train"))
    audio = ImplicitFusionConfig(main="audio", alpha=0.0, units=4)
    run = train_and_evaluate(TrainConfig(model=audio, **common), tmp_path / "run", str(out / "train"),
                             str(out / "validation"))
    assert np.isfinite(run.metrics["val_loss"])
    assert main(["export", run.keras_path, str(tmp_path / "export")]) == 0
    assert main(["predict", str(emodb[2]), "--model", str(tmp_path / "export"),
                 "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    with open(tmp_path / "pred" / f"{emodb[2].stem}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50 and [float(r["time_s"]) for r in rows[:3]] == [0.0, 0.04, 0.08]
    assert all(r["face_present"] == "0" and r["audio_present"] == "1" for r in rows)
    assert (tmp_path / "pred" / f"{emodb[2].stem}.png").stat().st_size > 0
