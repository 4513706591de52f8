"""FacePipeline end to end on synthetic media (real PyAV encoding/decoding) and bad inputs."""
import json

import numpy as np
import pytest
from PIL import Image

from affect_tf import features
from affect_tf.media.encode import write_video
from affect_tf.config import config_from_json
from affect_tf.media import FacePipeline, FrameItem, MediaConfig, MediaError
from affect_tf.media import decode
from affect_tf.media import template as tpl

from tests.media.synthetic_media import face_image, librosa_mel_window, speechlike


def test_config_round_trip_and_validation():
    cfg = MediaConfig(crop_size=128, target_face="central", detect_every=3)
    assert config_from_json(cfg.to_json()) == cfg
    for bad in ({"crop_size": 100}, {"target_face": "nearest"}, {"detector": "haar"},
                {"detect_every": 0}):
        with pytest.raises(ValueError):
            MediaConfig(**bad)


def check_item(item, size=96):
    assert isinstance(item, FrameItem)
    assert item.face.shape == (size, size, 3) and item.face.dtype == np.uint8
    assert item.landmarks_image.shape == (68, 2) and item.landmarks_crop.shape == (68, 2)
    assert item.mel.shape == features.feature_shapes(size)[features.MEL]
    assert item.egemaps.shape == (features.EGEMAPS_DIM,)
    for array in (item.landmarks_image, item.landmarks_crop, item.mel, item.egemaps):
        assert array.dtype == np.float32 and np.isfinite(array).all()


def check_alignment(item, size=96):
    """Crop landmarks are a similarity image of the image landmarks, scaled to [-1, 1], and the
    eyes sit on the template (the eyes weigh most in the fit; a person's nose and mouth are not
    the mean face's: the astronaut's wide smile puts her mouth corners ~8 px out)."""
    crop_px = (item.landmarks_crop.astype(float) + 1) / 2 * (size - 1)
    fit = tpl.similarity_transform(item.landmarks_image, crop_px)
    np.testing.assert_allclose(tpl.apply_transform(fit, item.landmarks_image), crop_px, atol=1e-3)
    error = np.abs(tpl.five_points(crop_px) - tpl.frontal_template(size))
    assert error[:2].max() < 2.5 and error.max() < 12, error


def test_video_with_face_and_audio(face_video, pipeline):
    items = list(pipeline.process_video(face_video))
    assert len(items) == 50
    assert [i.index for i in items] == list(range(50))
    np.testing.assert_allclose([i.timestamp for i in items], np.arange(50) / 25, atol=1e-6)
    for item in items:
        check_item(item)
    assert all(i.face_present for i in items) and all(i.audio_present for i in items)
    check_alignment(items[10])
    assert np.abs(items[10].landmarks_crop).max() <= 1.0
    assert items[10].mel.max() > -1e-3 and items[10].mel.min() >= -80
    assert np.abs(items[10].egemaps).sum() > 0


def test_mel_of_a_decoded_video_equals_librosa(face_video, pipeline):
    samples = decode.read_audio(face_video, pipeline.config.sample_rate)
    items = list(pipeline.process_video(face_video))
    for item in items[::7]:
        want = librosa_mel_window(samples, pipeline.config, item.timestamp)
        np.testing.assert_allclose(item.mel, want, atol=2e-3)


def test_crop_size_128(face_video):
    items = list(FacePipeline(MediaConfig(crop_size=128)).process_video(face_video))
    check_item(items[0], 128)
    assert items[0].face_present


def test_variable_frame_rate_timestamps(tmp_path, pipeline):
    pts = np.cumsum([0, 40, 40, 80, 33, 33, 120, 40, 40, 40])  # milliseconds
    frames = [face_image(256)] * len(pts)
    path = write_video(tmp_path / "vfr.mp4", frames, pts_ms=pts)
    items = list(pipeline.process_video(path))
    np.testing.assert_allclose([i.timestamp for i in items], pts / 1000, atol=1e-3)


def test_video_without_audio_is_masked(tmp_path, pipeline):
    path = write_video(tmp_path / "mute.mp4", [face_image(256)] * 5)
    items = list(pipeline.process_video(path))
    assert len(items) == 5 and all(i.face_present for i in items)
    for item in items:
        check_item(item)
        assert not item.audio_present
        assert not item.mel.any() and not item.egemaps.any()


def test_silent_audio_gives_floor_mel(tmp_path, pipeline):
    path = write_video(tmp_path / "silent.mp4", [face_image(256)] * 10,
                       audio=np.zeros(44100 // 2, np.float32))
    items = list(pipeline.process_video(path))
    assert all(i.audio_present for i in items)
    for item in items:
        check_item(item)
        np.testing.assert_array_equal(item.mel, -80.0)


def test_separate_audio_file(tmp_path, face_video, pipeline):
    import soundfile

    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speechlike(2.0, 16000, seed=5), 16000)
    mute = write_video(tmp_path / "mute.mp4", [face_image(256)] * 10)
    items = list(pipeline.process_video(mute, audio_path=wav))
    assert all(i.audio_present for i in items)
    assert np.abs(items[3].egemaps).sum() > 0


def test_not_a_video(tmp_path, pipeline):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    with pytest.raises(MediaError, match="notes.mp4") as err:
        list(pipeline.process_video(path))
    assert isinstance(err.value, ValueError) and err.value.path == str(path)
    with pytest.raises(MediaError, match="no such file"):
        list(pipeline.process_video(tmp_path / "missing.mp4"))


def test_audio_only_file_is_not_a_video(tmp_path, pipeline):
    import soundfile

    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speechlike(0.5, 16000), 16000)
    with pytest.raises(MediaError, match="no video stream"):
        list(pipeline.process_video(wav))


def test_truncated_mp4_raises_media_error(tmp_path, face_video, pipeline):
    data = face_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: unusable
    with pytest.raises(MediaError, match="cut.mp4"):
        list(pipeline.process_video(cut))


def test_truncated_stream_keeps_the_decodable_frames(tmp_path, pipeline):
    rng = np.random.default_rng(0)  # noisy frames: the video dominates the file size
    frames = [np.clip(face_image(256) + rng.normal(0, 20, (256, 256, 3)), 0, 255).astype(np.uint8)
              for _ in range(30)]
    whole = write_video(tmp_path / "whole.mpg", frames, codec="mpeg1video", container_format="mpeg", audio_codec="mp2",
                        audio=speechlike(1.2, 44100))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mpg"
    cut.write_bytes(data[: len(data) // 2])
    items = list(pipeline.process_video(cut))
    assert 0 < len(items) < 30
    for item in items:
        check_item(item)


def test_two_faces_image_picks_one(tmp_path):
    canvas = np.full((600, 900, 3), 120, np.uint8)  # faces ~124 px (left) and ~103 px (centre)
    canvas[0:340, 0:340] = face_image(340)
    canvas[300:570, 320:590] = face_image(270)
    path = tmp_path / "two.png"
    Image.fromarray(canvas).save(path)
    for policy, centre_x in (("largest", 170), ("central", 455)):
        cfg = MediaConfig(target_face=policy, detect_max_side=900)
        (item,) = FacePipeline(cfg).process_images([path], fps=25)
        assert item.face_present and not item.audio_present
        assert abs(item.landmarks_image[:, 0].mean() - centre_x) < 40


def test_4k_frame(tmp_path, pipeline):
    frame = np.full((2160, 3840, 3), 100, np.uint8)
    frame[500:1500, 1400:2400] = face_image(1000)
    path = tmp_path / "uhd.jpg"
    Image.fromarray(frame).save(path, quality=90)
    (item,) = pipeline.process_images([path], fps=25)
    check_item(item)
    assert item.face_present
    assert 1400 < item.landmarks_image[:, 0].mean() < 2400
    check_alignment(item)


def test_images_with_given_landmarks_skip_detection(tmp_path):
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 80, np.uint8)).save(path)  # no face to detect
    landmarks = tpl.apply_transform(np.array([[2.0, 0, 50], [0, 2.0, 40]]), tpl.template_68(96))
    pipe = FacePipeline()
    (item,) = pipe.process_images([path], fps=25, landmarks=landmarks[None])
    assert item.face_present and pipe.tracker.detections == 0
    np.testing.assert_allclose(item.landmarks_image, landmarks, atol=1e-4)
    with pytest.raises(ValueError, match="landmarks"):
        list(pipe.process_images([path], fps=25, landmarks=landmarks))


def test_unreadable_image(tmp_path, pipeline):
    path = tmp_path / "frame.jpg"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="frame.jpg"):
        list(pipeline.process_images([path], fps=25))
