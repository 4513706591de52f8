"""Face-image sets as drops: the ``image_folder`` and ``affectnet`` adapters, the circumplex table,
and face crops through the media pipeline into records (issue 23)."""
import collections
import warnings

import numpy as np
import pytest
from PIL import Image

from affect_tf.data import adapters, affectnet, circumplex, image_folder, schema

# ../shared/data/README.md: CK+48 dev set, images per category (3 per sequence)
CKPLUS_IMAGES = {"anger": 87, "contempt": 30, "disgust": 102, "fear": 54, "happiness": 123,
                 "sadness": 66, "surprise": 159}


def _png(path, size=48, seed=0, value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = np.full((size, size), value, np.uint8) if value is not None else rng.integers(0, 256, (size, size), np.uint8)
    Image.fromarray(pixels).save(path)


# ---------------------------------------------------------------------------- circumplex


def test_circumplex_points_synonyms_and_override(tmp_path):
    assert circumplex.point("angry") == circumplex.point("Anger") == (-0.6, 0.8)
    assert circumplex.point("sad") == (-0.7, -0.5) and circumplex.point("happy") == (0.8, 0.5)
    assert circumplex.point("surprised") == circumplex.point("surprise") == (0.3, 0.8)
    assert circumplex.point("contempt") == (-0.5, 0.2)
    table_file = tmp_path / "circumplex.csv"
    table_file.write_text("category,valence,arousal\npain,-0.8,0.4\nhappy,0.9,0.6\n")
    table = circumplex.load_table(table_file)
    assert table["pain"] == (-0.8, 0.4) and table["happiness"] == (0.9, 0.6) and table["fear"] == (-0.6, 0.6)
    with pytest.raises(ValueError, match="'boring'.*not in the circumplex table"):
        circumplex.point("boring", table, where="x")
    table_file.write_text("category,valence,arousal\npain,-3,0\n")
    with pytest.raises(ValueError, match="line 2.*outside"):
        circumplex.load_table(table_file)
    # nearest point: (0.7, 0.4) is happiness, (0.2, 0.9) surprise, (-0.65, 0.55) fear
    names = ["fear", "happiness", "surprise"]
    np.testing.assert_array_equal(circumplex.nearest_category([[0.7, 0.4], [0.2, 0.9], [-0.65, 0.55]], names),
                                  [1, 2, 0])


# ---------------------------------------------------------------------------- image_folder


def test_image_folder_synthetic_sequences_groups_and_overrides(tmp_path):
    for frame in (3, 10, 2):  # frame order is numeric, not the names' order
        _png(tmp_path / "Angry" / f"S005_001_{frame:08d}.png")
    _png(tmp_path / "Angry" / "S007_002_00000001.jpg")
    for i in range(image_folder.UNNAMED_GROUP + 5):  # no subject in the name: grouped
        _png(tmp_path / "sad" / f"img{i:04d}.png", seed=i)
    _png(tmp_path / "pain" / "S005_003_00000001.tiff")
    with pytest.raises(adapters.LayoutError, match="pain.*'pain' is not in the circumplex table"):
        image_folder.load_image_folder(tmp_path)
    (tmp_path / "circumplex.csv").write_text("category,valence,arousal\npain,-0.8,0.4\n")
    recordings = {r.id: r for r in adapters.load_manifest("image_folder", tmp_path)}
    assert sorted(recordings) == ["Angry/S005_001", "Angry/S007_002", "pain/S005_003", "sad/images0000", "sad/images0001"]
    seq = recordings["Angry/S005_001"]
    assert [p.rsplit("_", 1)[1] for p in seq.frames] == ["00000002.png", "00000003.png", "00000010.png"]
    assert seq.subject == "S005" and seq.category == "anger" and seq.face_crops
    np.testing.assert_allclose(seq.valence, -0.6) and np.testing.assert_allclose(seq.arousal, 0.8)
    assert recordings["pain/S005_003"].valence[0] == pytest.approx(-0.8)
    assert recordings["sad/images0000"].category == "sadness"
    assert len(recordings["sad/images0000"].frames) == image_folder.UNNAMED_GROUP
    assert len(recordings["sad/images0001"].frames) == 5
    assert recordings["sad/images0001"].subject == "sad/images0001"
    # another naming through image_folder.json: subject = the first word, no sequences
    (tmp_path / "image_folder.json").write_text('{"pattern": "^(?P<subject>[a-z]+)(?P<frame>\\\\d+)$"}')
    grouped = image_folder.load_image_folder(tmp_path)
    assert {r.subject for r in grouped if r.id.startswith("sad/")} == {"img"}


def test_image_folder_on_ckplus48(shared_data):
    recordings = adapters.load_manifest("image_folder", shared_data / "faces" / "ckplus48_dev", n_folds=5, fold=1)
    assert len(recordings) == 207 and sum(len(r.frames) for r in recordings) == 621
    assert len({r.subject for r in recordings}) == 72
    images = collections.Counter()
    for r in recordings:
        images[r.category] += len(r.frames)
        numbers = [int(p.rsplit("_", 1)[1].split(".")[0]) for p in r.frames]
        assert numbers == sorted(numbers) and len(numbers) == 3, r.id
        assert r.id.split("/")[1].startswith(r.subject + "_")
        np.testing.assert_allclose(np.stack([r.valence, r.arousal], -1), [circumplex.point(r.category)] * 3)
    assert dict(images) == CKPLUS_IMAGES
    splits = collections.defaultdict(set)
    for r in recordings:
        splits[r.split].add(r.subject)
    assert not splits["train"] & splits["validation"] and len(splits["validation"]) in (14, 15)


def test_image_folder_on_fer2013_subset(shared_data):
    recordings = image_folder.load_image_folder(shared_data / "faces" / "fer2013_subset")
    images = collections.Counter()
    for r in recordings:
        images[r.category] += len(r.frames)
    # FER's folder names are the synonyms: angry, sad, happy ...
    assert dict(images) == {c: 1000 for c in ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")}
    assert len(recordings) == 70 and len({r.subject for r in recordings}) == 70


# ---------------------------------------------------------------------------- affectnet


def _affectnet_drop(tmp_path):
    rows = [  # path, expression, valence, arousal, landmarks
        ("1/a.jpg", 1, 0.7, 0.2, True),
        ("1/b.jpg", 10, -2, -2, False),  # No-Face: skipped
        ("2/c.jpg", 6, -2, -2, True),  # valence/arousal -2: no face, skipped
        ("2/d.jpg", 9, -0.1, 0.3, True),  # Uncertain: labels kept, no category
        ("2/e.jpg", 8, 0.2, -0.4, False),  # None: no landmarks, no category
        ("3/missing.jpg", 0, 0.0, 0.0, True),  # image not there: that recording's error
    ]
    landmarks = ";".join(f"{10 + i % 7}.5;{20 + i // 7}" for i in range(68))
    lines = ["subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"]
    for path, code, v, a, marks in rows:
        lines.append(f"{path},0,0,48,48,{landmarks if marks else ''},{code},{v},{a}")
        if "missing" not in path:
            _png(tmp_path / "Manually_Annotated_Images" / path)
    (tmp_path / "training.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "validation.csv").write_text(lines[0] + "\n4/v.jpg,0,0,48,48,,3,0.5,0.9\n")
    _png(tmp_path / "Manually_Annotated_Images" / "4" / "v.jpg")


def test_affectnet_rows_no_face_uncertain_and_splits(tmp_path):
    _affectnet_drop(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recordings = {(r.split, r.id): r for r in adapters.load_manifest("affectnet", tmp_path)}
    assert any("training.csv: 2 rows without a face" in str(w.message) and "1 rows of expression None/Uncertain"
               not in str(w.message) and "2 rows of expression None/Uncertain" in str(w.message) for w in caught)
    assert sorted(recordings) == [("train", "1/a"), ("train", "2/d"), ("train", "2/e"), ("train", "3/missing"),
                                  ("validation", "4/v")]
    happy = recordings[("train", "1/a")]
    assert happy.category == "happiness" and happy.valence[0] == pytest.approx(0.7) and happy.arousal[0] == pytest.approx(0.2)
    assert happy.landmarks.shape == (1, 68, 2) and happy.landmarks[0, 8].tolist() == [11.5, 21.0]
    assert happy.frames[0].endswith("Manually_Annotated_Images/1/a.jpg") and happy.face_crops
    assert recordings[("train", "2/d")].category is None and recordings[("train", "2/d")].arousal[0] == pytest.approx(0.3)
    assert recordings[("train", "2/e")].landmarks is None
    assert "3/missing.jpg not found" in recordings[("train", "3/missing")].error
    assert recordings[("validation", "4/v")].category == "surprise"


def test_affectnet_bad_rows_name_the_line(tmp_path):
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    (tmp_path / "training.csv").write_text(header + "1/a.jpg,0,0,1,1,,1,1.5,0\n")
    with pytest.raises(adapters.LayoutError, match="training.csv: line 2: valence 1.5"):
        affectnet.load_affectnet(tmp_path)
    (tmp_path / "training.csv").write_text(header + "1/a.jpg,0,0,1,1,1;2;3,1,0.5,0\n")
    with pytest.raises(adapters.LayoutError, match="line 2: facial_landmarks has 3 numbers"):
        affectnet.load_affectnet(tmp_path)
    (tmp_path / "training.csv").write_text("path,valence\n")
    with pytest.raises(adapters.LayoutError, match="missing column"):
        affectnet.load_affectnet(tmp_path)


# ---------------------------------------------------------------------------- crops -> records


@pytest.fixture(scope="module")
def face_pipeline():
    from affect_tf.media import FacePipeline, MediaConfig

    return FacePipeline(MediaConfig(crop_size=96, detector="hog"))  # MTCNN: slow, and crops skip it


def test_a_crop_without_a_detected_face_keeps_its_face(tmp_path, face_pipeline, monkeypatch):
    _png(tmp_path / "flat.png", value=128)  # no detector finds a face here
    video_like = next(face_pipeline.process_images([tmp_path / "flat.png"], fps=25.0))
    assert not video_like.face_present  # a video frame without a face is masked ...
    item = next(face_pipeline.process_images([tmp_path / "flat.png"], fps=25.0, face_crops=True))
    assert item.face_present and item.face_confidence == 0.0  # ... a face crop never is
    # where even the 68-point fit inside the whole image is implausible, the image is the crop
    monkeypatch.setattr(face_pipeline.tracker, "fit_whole_image", lambda image: None)
    item = next(face_pipeline.process_images([tmp_path / "flat.png"], fps=25.0, face_crops=True))
    assert item.face_present and not item.landmarks_fitted
    assert item.face.shape == (96, 96, 3) and np.all(item.face == 128)
    from affect_tf.media import template

    np.testing.assert_allclose(item.landmarks_crop, template.template_68(96) / 95 * 2 - 1, atol=1e-5)


def test_ckplus_crops_are_aligned_as_video_frames_whatever_the_framing(shared_data, tmp_path, face_pipeline):
    """A 48x48 CK+ crop (upsampled) and the same face inside a loose 192x192 frame give the same
    alignment: the landmarks land on the same crop pixels."""
    from affect_tf.media import face as face_lib

    source = shared_data / "faces" / "ckplus48_dev" / "happy" / "S010_006_00000013.png"
    if not source.exists():
        source = sorted((shared_data / "faces" / "ckplus48_dev" / "happy").iterdir())[0]
    tight = next(face_pipeline.process_images([source], fps=25.0, face_crops=True))
    assert tight.face_present and tight.landmarks_fitted and tight.face_confidence > 0  # detected, not the fallback
    # exactly the video path: detection + 68 points + alignment on the 2x upsampled image
    grey = np.asarray(Image.open(source).convert("RGB"))
    upsampled = np.asarray(Image.fromarray(grey).resize((96, 96), Image.Resampling.BICUBIC))
    tracker = face_lib.FaceTracker(face_pipeline.config)
    crop, _ = tracker.aligned(upsampled, tracker.update(upsampled))
    np.testing.assert_array_equal(tight.face, crop)
    loose_path = tmp_path / "loose.png"
    Image.fromarray(np.pad(upsampled, ((48, 48), (48, 48), (0, 0)), mode="edge")).save(loose_path)
    loose = next(face_pipeline.process_images([loose_path], fps=25.0, face_crops=True))
    assert loose.face_present and loose.face_confidence > 0
    assert np.abs(loose.landmarks_crop - tight.landmarks_crop).mean() < 0.03  # of the crop's [-1, 1] width


def test_image_folder_records_carry_category_and_every_face(tmp_path):
    from affect_tf.data import beam_job

    for frame in (1, 2):
        _png(tmp_path / "drop" / "happy" / f"S001_001_{frame:08d}.png", seed=frame)
    _png(tmp_path / "drop" / "sad" / "S002_001_00000001.png", value=90)
    recordings = adapters.load_manifest("image_folder", tmp_path / "drop")
    processor = beam_job.face_pipeline_processor(crop_size=96)
    for recording in recordings:
        stats = beam_job.preprocess_recording(recording, processor, tmp_path / "records")
        assert stats["error"] is None and stats["faces_found"] == stats["frames"] == len(recording.frames)
    import tensorflow as tf

    path = tmp_path / "records" / "train" / "happy__S001_001.tfrecord.gz"
    feats, labels, meta = schema.parse_sequence_example(next(iter(tf.data.TFRecordDataset(str(path), "GZIP"))))
    assert meta["category"].numpy() == b"happiness" and meta["subject"].numpy() == b"S001"
    np.testing.assert_allclose(labels["valence_arousal"].numpy(), [[0.8, 0.5]] * 2)
    assert feats["face_mask"].numpy().tolist() == [1.0, 1.0]
