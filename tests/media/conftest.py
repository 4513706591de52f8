"""Synthetic media for the self-contained media tests (real decoding through PyAV)."""
import numpy as np
import pytest

from affect_tf.media.encode import write_video
from tests.media.synthetic_media import face_image, speechlike


@pytest.fixture(scope="session")
def face_video(tmp_path_factory):
    """2 s, 25 fps, 256x256 H.264 video of the astronaut drifting, with AAC speech-like audio."""
    base = face_image(256)
    frames = [np.roll(base, (i // 5, i // 4), axis=(0, 1)) for i in range(50)]
    path = tmp_path_factory.mktemp("media") / "astronaut.mp4"
    return write_video(path, frames, audio=speechlike(2.0, 44100))


@pytest.fixture(scope="session")
def pipeline():
    from affect_tf.media import FacePipeline, MediaConfig

    return FacePipeline(MediaConfig())
