"""Configuration of the per-recording media preprocessing (``docs/media.md``)."""
from __future__ import annotations

import dataclasses

from affect_tf import features
from affect_tf.config import Config, register_config

TARGET_POLICIES = ("subject", "largest", "central", "track")
DETECTORS = ("hog+mtcnn", "hog", "cnn", "mtcnn")


@register_config
@dataclasses.dataclass(frozen=True)
class MediaConfig(Config):
    """How one recording becomes per-frame :class:`~affect_tf.media.FrameItem` s.

    Face (``004_…`` §4): detect every ``detect_every`` frames, track with the landmark box in
    between, 5-point similarity alignment to a frontal template, ``crop_size`` x ``crop_size``.
    Audio: mel window (``001_…`` §3.4) and eGeMAPS LLDs pooled per frame (``000_…`` §III-D).
    """

    crop_size: int = 96  # 96 (CNN-RNN family) or 128 (adversarial family)
    detect_every: int = 10  # k: full detection every k frames, landmark tracking in between
    target_face: str = "subject"  # "subject" | "largest" | "central" | "track" (docs/media.md)
    # "hog+mtcnn": dlib HOG, MTCNN only where HOG finds nothing (profiles, small faces);
    # "hog", "cnn" (dlib MMOD) or "mtcnn" alone.
    detector: str = "hog+mtcnn"
    mtcnn_min_face: int = 20  # px in the detection image: smallest face MTCNN looks for
    mtcnn_min_confidence: float = 0.8  # MTCNN O-Net face probability to accept (its default)
    # 68-point fit vs the detector's five points: mean distance above this fraction of the
    # eye-to-mouth height = implausible fit, align on the five points instead.
    five_point_max_error: float = 0.25
    # "subject": a face is the subject when its dlib identity descriptor lies within this distance
    # of one seen on the subject (dlib's same-person threshold); after subject_patience_s seconds
    # without the subject, the next prominent face becomes the subject
    subject_max_distance: float = 0.6
    subject_patience_s: float = 10.0
    # mean absolute change of a 32x18 grey thumbnail (0-1) from the previous frame above which
    # the frame is a cut: detection runs at once (on the in-the-wild clip cuts change 0.10-0.12,
    # motion at most 0.05)
    cut_min_change: float = 0.08
    detect_upsample: int = 0  # dlib upsampling passes (finds faces below ~80 px)
    detect_max_side: int = 640  # frames are strided down to at most this for detection only
    min_face_size: int = 24  # px in the source frame; smaller tracks count as lost
    track_min_iou: float = 0.4  # landmark box IoU between frames below this = tracking lost
    track_max_residual: float = 0.12  # Procrustes residual vs the mean shape above this = lost
    track_min_correlation: float = 0.5  # tracked face vs face at last detection (32x32 grey)
    # Least-squares weights of (left eye, right eye, nose tip, mouth corners) in the 5-point
    # similarity fit; 1s = the paper's plain Procrustes. The eyes weigh more by default so they
    # land within ~1 px of the template (docs/media.md has the measurements).
    alignment_weights: tuple = (5.0, 5.0, 1.0, 1.0, 1.0)
    sample_rate: int = features.SAMPLE_RATE
    n_mels: int = features.N_MELS
    mel_frames: int = features.MEL_FRAMES  # STFT frames per window, centred on the frame
    n_fft: int = 2048  # librosa's default: 93 ms at 22.05 kHz
    hop_length: int = 512  # librosa's default: 23.2 ms, so a window spans 2.97 s
    top_db: float = -features.MEL_FLOOR_DB
    # dB of the mel windows against power 1.0 ("fixed", keeps loudness, 001 §3.4) or against each
    # window's own maximum ("window_max", before issue 24); affect_tf.media.audio
    mel_reference: str = "fixed"
    egemaps_context: int = 1  # video frames of audio added before and after the frame's span
    egemaps_block_s: float = 20.0  # openSMILE runs on blocks this long (bounded memory)
    egemaps_margin_s: float = 1.0  # extra audio each side of a block (exact block edges)
    audio_block_s: float = 5.0  # mel STFT computed on this much new audio at a time

    def __post_init__(self):
        if self.crop_size not in features.CROP_SIZES:
            raise ValueError(f"crop_size must be one of {features.CROP_SIZES}, got {self.crop_size}")
        if self.target_face not in TARGET_POLICIES:
            raise ValueError(f"target_face must be one of {TARGET_POLICIES}, got {self.target_face!r}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.mel_reference not in ("fixed", "window_max"):
            raise ValueError(f"mel_reference must be 'fixed' or 'window_max', got {self.mel_reference!r}")
        if self.n_mels != features.N_MELS or self.mel_frames != features.MEL_FRAMES:
            raise ValueError("n_mels and mel_frames are fixed by affect_tf.features (128 x 128)")
