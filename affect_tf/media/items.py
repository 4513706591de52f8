"""The per-frame item the media preprocessing yields for each video frame."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class FrameItem:
    """Everything preprocessing knows about one video frame.

    Arrays follow the shapes in :mod:`affect_tf.features`. When no face is found the crop and
    landmarks are zeros and ``face_present`` is False; when the recording has no audio the audio
    features are zeros and ``audio_present`` is False. Nothing is ever ``None``.
    """

    index: int  # 0-based frame number in decode order
    timestamp: float  # presentation time in seconds
    face: np.ndarray  # uint8 (S, S, 3) aligned crop, RGB
    face_present: bool
    landmarks_image: np.ndarray  # float32 (68, 2) x, y in source-frame pixels
    landmarks_crop: np.ndarray  # float32 (68, 2) x, y in the crop, scaled to [-1, 1]
    mel: np.ndarray  # float32 (128, 128) mel window in dB, (mels, STFT frames)
    egemaps: np.ndarray  # float32 (25,) eGeMAPS LLDs pooled over the frame's span
    audio_present: bool
    face_confidence: float = 0.0  # the face detector's confidence on [0, 1]; 0 without a face
    # False when aligned on the detector's five points (68-point fit implausible, e.g. a
    # profile): landmarks are then the mean shape placed by those points.
    landmarks_fitted: bool = False
    # the followed face's detector-like box (x0, y0, x1, y1) in source-frame pixels; zeros without a face
    face_box: tuple = (0.0, 0.0, 0.0, 0.0)
    # which face: a new id each time the tracker starts following a face; in a photo, the face's rank
    track_id: int = 0
