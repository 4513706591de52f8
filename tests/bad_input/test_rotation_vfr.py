"""Rotation metadata and variable frame rates (issue 14): frames come out upright whatever the
container's display matrix says, and time-stamped labels follow each frame's own time stamp."""
from __future__ import annotations

import types

import numpy as np
import pytest

from affect_tf.data import adapters
from affect_tf.media.encode import write_video
from affect_tf.data.beam_job import _frame_labels
from affect_tf.media import decode
from tests.bad_input.cases import write_rotated
from tests.media.synthetic_media import face_image


ORIENTATIONS = [(90, False, False), (-90, False, False), (180, False, False), (0, False, False),
                (0, True, False), (0, False, True), (90, True, False), (-90, True, False)]


@pytest.mark.parametrize("degrees, hflip, vflip", ORIENTATIONS, ids=lambda v: str(v))
def test_frames_are_upright_and_unmirrored_whatever_the_display_matrix(tmp_path, degrees, hflip, vflip):
    """The eight orientations a display matrix can give (EXIF's): stored as numpy turns and
    flips of the upright image, decoded back upright."""
    upright = np.ascontiguousarray(face_image(128)[:, 16:112])  # 128 x 96: a turn shows in the shape
    path = write_rotated(tmp_path / "clip.mp4", upright, degrees, hflip=hflip, vflip=vflip)
    frames = list(decode.iter_video_frames(str(path)))
    assert len(frames) == 2
    for _, _, image in frames:
        assert image.shape == upright.shape
        error = np.abs(image.astype(float) - upright).mean()
        mirrored = np.abs(image[:, ::-1].astype(float) - upright).mean()
        sideways = np.abs(np.rot90(image, 1).astype(float)[:96, :96] - upright[:96, :96]).mean()
        assert error < 6 < min(sideways, mirrored), (error, sideways, mirrored)


def test_time_stamped_labels_follow_each_frame_of_a_vfr_video(tmp_path):
    times_ms = [0, 100, 300, 350, 700, 1000]
    write_video(tmp_path / "vfr.mp4", [face_image(64)] * len(times_ms), pts_ms=times_ms)
    (tmp_path / "ramp.csv").write_text("time,valence,arousal\n0,0,0\n1,1,-1\n")  # value = time
    (tmp_path / "m.csv").write_text("recording,video,subject,labels\nv,vfr.mp4,s,ramp.csv\n")
    (recording,) = adapters.load_csv_manifest(tmp_path / "m.csv")
    frames = list(decode.iter_video_frames(str(tmp_path / "vfr.mp4")))
    np.testing.assert_allclose([t for _, t, _ in frames], np.array(times_ms) / 1000, atol=1e-3)
    # Labels sit on a grid at the average frame rate (8.7 fps here), ending at its last point
    # before 1.0 s: each frame gets the grid point nearest its own time, up to that end.
    step = 1 / recording.label_fps
    grid_end = (recording.n_labels - 1) * step
    for index, timestamp, _ in frames:
        valence, arousal, mask = _frame_labels(recording, types.SimpleNamespace(index=index, timestamp=timestamp))
        want = min(timestamp, grid_end)
        assert mask == (1.0, 1.0)
        assert abs(valence - want) <= step / 2 + 1e-6 and abs(arousal + want) <= step / 2 + 1e-6, index


def test_per_frame_labels_stay_by_index(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")
    (tmp_path / "l.csv").write_text("valence,arousal\n0.1,0.2\n0.3,0.4\n")
    (tmp_path / "m.csv").write_text("recording,video,subject,labels\nv,v.mp4,s,l.csv\n")
    (recording,) = adapters.load_csv_manifest(tmp_path / "m.csv")
    assert recording.label_fps is None
    v, a, _ = _frame_labels(recording, types.SimpleNamespace(index=1, timestamp=123.0))
    assert (v, a) == pytest.approx((0.3, 0.4))
