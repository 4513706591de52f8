"""``affect_tf.load_model(...).predict(...)``: the Python API (issue 28) on real decoded video,
photos and a served model; honest outputs (no value without the modality the model reads,
provenance, model card, the synthetic-only notice, clipped signatures)."""
from __future__ import annotations

import io
import json
import pathlib
import re

import numpy as np
import pytest

import affect_tf
from affect_tf import features as F
from affect_tf.media.decode import MediaError

REPO = pathlib.Path(__file__).resolve().parents[2]
# HOG alone: MTCNN would search every faceless frame of the test clip (slow, and not under test)
HOG = dict(crop_size=96, detector="hog", detect_upsample=1)


def _hog():
    from affect_tf.media import MediaConfig

    return MediaConfig(**HOG)


def _astronaut_frames(n, blank_from=None):
    from skimage import data
    from PIL import Image

    face = np.asarray(Image.fromarray(data.astronaut()).resize((224, 224)))
    return [np.full_like(face, 90) if blank_from is not None and i >= blank_from else face
            for i in range(n)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1 s at 10 fps with speech-like audio: a face in frames 0-5, an empty grey wall after."""
    from affect_tf.data.synthetic import speech_like_audio, write_video

    path = tmp_path_factory.mktemp("clip") / "half_face.mp4"
    audio = speech_like_audio(np.full(10, 0.5), 10.0, np.random.default_rng(0))
    write_video(path, _astronaut_frames(10, blank_from=6), 10.0, audio)
    return path


class ConstantModel:
    """A backend reading only ``inputs``: every frame 2.0 (valence) and -0.25 (arousal)."""

    def __init__(self, inputs):
        self.input_names = (*inputs, F.FACE_MASK, F.AUDIO_MASK)
        self.metadata = {"crop_size": 96}
        self.description = f"constant {inputs}"

    def __call__(self, batch):
        shape = batch[F.FACE_MASK].shape
        return {"valence": np.full(shape, 2.0, np.float32), "arousal": np.full(shape, -0.25, np.float32)}


def test_readme_example_runs(export_base, clip, tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    code = re.search(r"<!-- python-api-example -->\s*```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 5
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "affect").symlink_to(export_base)
    (tmp_path / "interview.mp4").symlink_to(clip)
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    frames = scope["frames"]
    assert list(frames.columns) == list(affect_tf.COLUMNS) and len(frames) == 10
    assert frames["face_present"].tolist() == [1] * 6 + [0] * 4


def test_in_process_and_served_models_agree(export_base, server, clip):
    local = affect_tf.load_model(export_base).predict(clip, media_config=_hog())
    served = affect_tf.load_model(server.target).predict(clip, media_config=_hog())
    np.testing.assert_allclose(local[["valence_raw", "arousal_raw"]], served[["valence_raw", "arousal_raw"]],
                               atol=1e-5)
    assert local["time_s"].tolist() == pytest.approx(np.arange(10) / 10)
    assert np.isfinite(local["valence"]).all()  # a fusion model: the audio carries the faceless frames
    boxes = local.loc[local.face_present == 1, ["face_x0", "face_y0", "face_x1", "face_y1"]].to_numpy()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 224 + 20).all()
    assert local.loc[local.face_present == 0, "face_x0"].isna().all()
    assert (local.loc[local.face_present == 1, "face_confidence"] > 0.5).all()


def test_frames_without_the_models_modality_get_no_value(clip, tmp_path):
    from affect_tf.inference import AffectModel
    from affect_tf.serving.predict import predict_video

    face_only = AffectModel(ConstantModel((F.FACE, F.LANDMARKS)))
    frames = face_only.predict(clip, media_config=_hog())
    assert frames["valence"].isna().tolist() == [False] * 6 + [True] * 4
    assert frames.loc[:5, "valence"].eq(1.0).all()  # 2.0 clipped to [-1, 1]
    assert frames.loc[:5, "valence_raw"].eq(2.0).all()
    summary = predict_video(clip, tmp_path / "face", face_only, media_config=_hog(), progress=None)
    assert summary["rows_with_a_value"] == 6 and summary["mean_arousal"] == pytest.approx(-0.25)
    row = (tmp_path / "face" / "half_face.csv").read_text().splitlines()[-1].split(",")
    assert row[3:5] == ["", ""]  # empty valence and arousal, not 0
    speech_only = AffectModel(ConstantModel((F.MEL, F.EGEMAPS)))
    frames = speech_only.predict(clip, media_config=_hog())
    assert not frames["valence"].isna().any()
    summary = predict_video(clip, tmp_path / "speech", speech_only, media_config=_hog(), progress=None)
    assert summary["rows_with_a_value"] == 10
    doc = json.loads((tmp_path / "speech" / "half_face.json").read_text())
    assert "without no" not in doc["model"]


def test_plot_does_not_shade_a_speech_model_as_no_face(clip, tmp_path):
    from PIL import Image

    from affect_tf.inference import AffectModel
    from affect_tf.serving.predict import predict_video

    predict_video(clip, tmp_path, AffectModel(ConstantModel((F.MEL,))), media_config=_hog(), progress=None)
    image = np.asarray(Image.open(tmp_path / "half_face.png").convert("RGB")).astype(int)
    row = image[image.shape[0] // 3]
    assert np.all(np.abs(row - 217) <= 3, axis=-1).sum() < 5  # no 0.85-grey span


def test_photo_one_row_per_face_and_exif_orientation(export_base, tmp_path):
    from PIL import Image

    model = affect_tf.load_model(export_base)
    # A phone photo stored sideways: the pixels lie turned, the EXIF orientation (6) turns them back.
    pair = np.concatenate(_astronaut_frames(1) * 2, axis=1)  # two faces side by side
    stored = Image.fromarray(pair).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[274] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    frames = model.predict(tmp_path / "phone.jpg", media_config=_hog())
    assert len(frames) == 2 and frames["face_present"].tolist() == [1, 1]
    assert frames["track_id"].tolist() == [0, 1] and frames["face_x0"].is_monotonic_increasing
    assert frames["audio_present"].tolist() == [0, 0] and np.isfinite(frames["valence"]).all()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "wall.png")
    frames = model.predict(tmp_path / "wall.png", media_config=_hog())
    assert frames["face_present"].tolist() == [0] and frames["valence"].isna().all()


def test_shared_photos(export_base, shared_data, tmp_path, capsys):
    """obama.jpg carries EXIF data, which PyAV's side data once failed on ("31 is not a valid Type")."""
    from affect_tf.cli import main

    model = affect_tf.load_model(export_base)
    assert model.predict(shared_data / "images" / "obama.jpg")["face_present"].tolist() == [1]
    assert len(model.predict(shared_data / "images" / "two_people.jpg")) == 2
    assert main(["preview", str(shared_data / "images" / "two_people.jpg"), "--out", str(tmp_path / "s.png")]) == 0
    assert "2 frames, face in 2" in capsys.readouterr().out
    assert main(["predict", str(shared_data / "images" / "obama.jpg"), "--model", str(export_base),
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "obama.csv").read_text().count("\n") == 2


def test_errors_name_the_file(export_base, tmp_path):
    with pytest.raises(ValueError, match="no_such_dir: no such model folder"):
        affect_tf.load_model(tmp_path / "no_such_dir")
    model = affect_tf.load_model(export_base)
    with pytest.raises(FileNotFoundError) as info:
        model.predict(tmp_path / "missing.mp4")
    assert info.value.filename == str(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(MediaError, match="notes.mp4"):
        model.predict(tmp_path / "notes.mp4")


def test_signatures_clip_to_the_label_range():
    import keras

    from affect_tf import export

    class Overshoot(keras.Model):
        serving_inputs = (F.EGEMAPS, F.FACE_MASK, F.AUDIO_MASK)

        def call(self, inputs, training=False):
            return {F.TARGETS: inputs[F.EGEMAPS][..., :2] * 10.0}

    serve = export.make_serving_signatures(Overshoot(), 96, sequence_examples=False)[export.DEFAULT_SIGNATURE]
    egemaps = np.zeros((1, 3, F.EGEMAPS_DIM), np.float32)
    egemaps[0, :, 0] = [0.05, 0.5, -3.0]
    out = serve({F.EGEMAPS: egemaps, F.FACE_MASK: np.ones((1, 3), np.float32),
                 F.AUDIO_MASK: np.ones((1, 3), np.float32)})
    np.testing.assert_allclose(out["valence"].numpy()[0], [0.5, 1.0, -1.0])


def _preprocessed(root_dir, dataset, drop_root, subjects):
    """A preprocessing output as the Beam job leaves it: summary.json, _stats/, records."""
    from affect_tf.data.beam_job import summarize

    stats = [{"id": f"r{i}", "split": "train", "subject": s, "frames": 40, "faces_found": 40,
              "frames_without_face": 0, "frames_without_audio": 0, "frames_unlabelled": 0, "error": ""}
             for i, s in enumerate(subjects)]
    (root_dir / "_stats").mkdir(parents=True)
    for s in stats:
        (root_dir / "_stats" / f"{s['id']}.json").write_text(json.dumps(s))
    summarize(stats, str(root_dir), dataset, str(drop_root))
    (root_dir / "train").mkdir()
    record = root_dir / "train" / "r0.tfrecord.gz"
    record.write_bytes(b"")
    return record


def test_provenance_model_card_and_synthetic_notice(trained, tmp_path):
    from affect_tf import export, provenance
    from affect_tf.training.config import TrainConfig

    # the two files by which the synthetic drop is known (write_synthetic_drop takes ~10 s)
    (tmp_path / "drop" / "videos").mkdir(parents=True)
    (tmp_path / "drop" / "videos" / "synth_s00_v0.mp4").write_bytes(b"")
    (tmp_path / "drop" / "curves.json").write_text("{}")
    synthetic = _preprocessed(tmp_path / "synth_records", "affwild2", tmp_path / "drop", ["s0", "s1", "s1"])
    (tmp_path / "real_drop").mkdir()
    real = _preprocessed(tmp_path / "real_records", "recola", tmp_path / "real_drop", ["p1", "p2"])
    cfg = TrainConfig()
    prov = provenance.training_provenance([synthetic], [synthetic], cfg, {"valence_ccc": 0.31})
    assert prov["synthetic_only"] and prov["drops"][0]["subjects"] == 2
    assert prov["drops"][0]["frames"] == 120 and prov["held_out"] == {"valence_ccc": 0.31}
    assert prov["preset"] == cfg.preset and prov["paper"]
    mixed = provenance.training_provenance([synthetic, real], [], cfg, {"valence_ccc": 0.9})
    assert not mixed["synthetic_only"] and sorted(d["dataset"] for d in mixed["drops"]) == ["affwild2", "recola"]
    assert mixed["held_out"] == {} and "training data" in mixed["held_out_note"]

    version = export.export_for_serving(trained[0], tmp_path / "models", metadata={"provenance": prov})
    card = (version / provenance.MODEL_CARD_FILE).read_text()
    assert "Trained only on synthetic data" in card and "valence_ccc: 0.3100" in card and "2 subjects" in card
    warned = io.StringIO()
    model = affect_tf.load_model(version, warn=warned)
    assert model.synthetic_only and warned.getvalue().count("trained only on synthetic data") == 1
    assert not provenance.trained_on_synthetic_only({"provenance": mixed})
    card = provenance.model_card({"provenance": mixed, "version": 2})
    assert "Trained only" not in card and "recola (real" in card and "affwild2 (synthetic" in card


def test_overlay_video_has_box_gauge_and_audio(clip, tmp_path):
    import av

    from affect_tf.inference import AffectModel
    from affect_tf.media.overlay import draw_frame
    from affect_tf.serving.predict import predict_video

    summary = predict_video(clip, tmp_path, AffectModel(ConstantModel((F.FACE, F.LANDMARKS))),
                            media_config=_hog(), progress=None, overlay=tmp_path / "over.mp4")
    assert summary["outputs"]["overlay"] == str(tmp_path / "over.mp4")
    with av.open(str(tmp_path / "over.mp4")) as out:
        assert out.streams.audio and out.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in out.decode(video=0)]
    assert len(frames) == 10
    # the gauge's dot sits at (valence 1, arousal -0.25) of a radius-28 disc at (38, 224 - 28 - 24)
    radius, cx, cy = 28, 38, 172
    x, y = cx + radius, int(round(cy + 0.25 * radius))
    assert abs(frames[0][y, x] - (255, 80, 80)).max() < 60, frames[0][y, x]
    # a frame drawn directly: the face box in its colour exactly where the row says
    row = {"face_present": 1, "face_x0": 50.0, "face_y0": 60.0, "face_x1": 150.0, "face_y1": 170.0,
           "valence": np.nan, "arousal": np.nan}
    drawn = draw_frame(np.zeros((224, 224, 3), np.uint8), row)
    assert tuple(drawn[100, 50]) == (255, 220, 0) and tuple(drawn[100, 100]) == (0, 0, 0)
