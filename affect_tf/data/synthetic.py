"""A learnable synthetic drop in the Aff-Wild2 layout (the embedded default data set).

Each "subject" is the astronaut photo bundled with scikit-image under its own crop, zoom,
rotation, mirror and colour cast. Per video, smooth valence/arousal curves on [-0.9, 0.9] drive:

* valence -> the mouth corners move up (smile) or down, and the image gets brighter or darker;
* arousal -> colour saturation rises, the head shakes faster and wider, and the speech-like
  audio (a harmonic voice with syllable-rate bursts) rises in pitch and loudness.

So valence is visible in the aligned face crop and arousal in the crop and in the audio. The
labels are written as Aff-Wild2 ``valence,arousal`` files (``annotations/VA_Set/Train_Set`` and
``Validation_Set``, split by subject) and ``subjects.csv`` names the subject of every video, so
the drop goes through the real Aff-Wild2 adapter. Everything is a function of the seed.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from affect_tf import files
from affect_tf.media import encode

FRAME_SIZE = 224
SAMPLE_RATE = 16000
# Mouth corners and face centre of skimage.data.astronaut(), (x, y) in pixels.
_MOUTH_CORNERS = ((203.0, 145.0), (243.0, 145.0))
_FACE_CENTRE = (224.0, 125.0)


def _subject_style(subject: int) -> dict:
    rng = np.random.default_rng([7919, subject])
    return {
        "size": 230.0 + 40.0 * rng.random(),
        "dx": rng.uniform(-12, 12),
        "dy": rng.uniform(-10, 10),
        "angle": np.deg2rad(rng.uniform(-10, 10)),
        "mirror": subject % 2 == 1,
        "gains": rng.uniform(0.8, 1.15, size=3),
    }


def label_curves(n_frames: int, fps: float, rng) -> np.ndarray:
    """(n_frames, 2) smooth valence/arousal curves on [-0.9, 0.9] (two sinusoids each)."""
    t = np.arange(n_frames) / fps
    curves = []
    for _ in range(2):
        f1, f2 = rng.uniform(0.15, 0.35), rng.uniform(0.4, 0.8)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        curves.append(0.65 * np.sin(2 * np.pi * f1 * t + p1) + 0.25 * np.sin(2 * np.pi * f2 * t + p2))
    return np.clip(np.stack(curves, -1), -0.9, 0.9).astype(np.float32)


def render_frame(base: np.ndarray, style: dict, valence: float, arousal: float, t: float) -> np.ndarray:
    """One uint8 RGB frame (FRAME_SIZE^2) of the subject at the given valence/arousal."""
    from scipy import ndimage

    size = FRAME_SIZE
    # Head shake: amplitude and rate grow with arousal (motion energy).
    amp = 1.0 + 5.0 * (arousal + 1.0) / 2.0
    rate = 1.0 + 3.0 * (arousal + 1.0) / 2.0
    shake = amp * np.array([np.sin(2 * np.pi * rate * t), np.cos(2 * np.pi * rate * 0.7 * t)])
    grid = (np.mgrid[0:size, 0:size].astype(np.float32) - size / 2) * (style["size"] / size)
    rows, cols = grid
    if style["mirror"]:
        cols = -cols
    c, s = np.cos(style["angle"]), np.sin(style["angle"])
    x = _FACE_CENTRE[0] + style["dx"] + shake[0] + c * cols - s * rows
    y = _FACE_CENTRE[1] + style["dy"] + shake[1] + s * cols + c * rows
    # Mouth: sample from below the corners for a smile (they move up), above for a frown.
    for mx, my in _MOUTH_CORNERS:
        bump = np.exp(-((x - mx) ** 2 + (y - my) ** 2) / (2 * 9.0**2))
        y = y + 8.0 * valence * bump
    centre = np.exp(-((x - 223.0) ** 2 + (y - 150.0) ** 2) / (2 * 7.0**2))
    y = y - 3.0 * valence * centre
    out = np.stack([ndimage.map_coordinates(base[..., ch], [y, x], order=1, mode="nearest")
                    for ch in range(3)], -1)
    grey = out.mean(-1, keepdims=True)
    saturation = 1.0 + 0.7 * arousal
    out = grey + (out - grey) * saturation
    out = out * (1.0 + 0.3 * valence) * style["gains"]
    return np.clip(out, 0, 255).astype(np.uint8)


def speech_like_audio(arousal_per_frame: np.ndarray, fps: float, rng, sample_rate: int = SAMPLE_RATE):
    """float32 mono signal: a harmonic voice whose pitch and loudness follow arousal, gated into
    syllable-like bursts at 4 Hz, plus a little noise."""
    n = int(round(len(arousal_per_frame) / fps * sample_rate))
    t = np.arange(n) / sample_rate
    frame_t = np.arange(len(arousal_per_frame)) / fps
    a = np.interp(t, frame_t, arousal_per_frame)
    f0 = 110.0 + 90.0 * (a + 1.0)  # 110..290 Hz
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    # syllable-like bursts at 4 Hz, shallow enough that loudness per frame still tracks arousal
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)) ** 2
    loudness = 0.02 + 0.3 * (a + 1.0) / 2.0
    signal = loudness * syllables * voice / 2.0 + 0.003 * rng.standard_normal(n)
    return np.clip(signal, -1, 1).astype(np.float32)


def write_video(path, frames, fps: float, audio: np.ndarray | None, sample_rate: int = SAMPLE_RATE):
    """H.264 MP4 (+ AAC audio), the same bytes for the same frames on any machine; written to a
    temp name, then renamed."""
    with files.atomic_path(path) as tmp:
        # asm=0: x264's AVX-512 routines (chosen on CPUs that report AVX-512) give a different
        # bitstream on every run, and each instruction set gives its own; threads=1: with its
        # default threads the bitstream still changed in about one run in six (PyAV 18's x264).
        # Plain C on one thread gives the same bytes on every machine (~10 ms a frame, not 2).
        encode.write_video(tmp, frames, int(fps), audio=audio, sample_rate=sample_rate, container_format="mp4",
                           options={"crf": "12", "preset": "veryfast", "x264-params": "asm=0:threads=1"})


def write_synthetic_drop(root, n_subjects: int = 6, n_videos_per_subject: int = 2,
                         seconds: float = 4.0, fps: float = 10.0, seed: int = 0,
                         n_validation_subjects: int | None = None, audio: bool = True) -> list[str]:
    """Write the drop under ``root`` (Aff-Wild2 layout) and return the video names.

    Layout: ``videos/<name>.mp4``, ``annotations/VA_Set/{Train_Set,Validation_Set}/<name>.txt``
    (header ``valence,arousal``, one line per frame), ``subjects.csv`` and ``curves.json``
    (the exact curves, for tests). The last ``n_validation_subjects`` (default a third)
    subjects form the validation split. Existing complete videos are kept (resumable).
    """
    from skimage import data

    root = pathlib.Path(root)
    n_val = max(1, n_subjects // 3) if n_validation_subjects is None else n_validation_subjects
    base = data.astronaut().astype(np.float32)
    n_frames = int(round(seconds * fps))
    (root / "videos").mkdir(parents=True, exist_ok=True)
    names, subjects, curves = [], [], {}
    for subject in range(n_subjects):
        style = _subject_style(subject)
        split = "Validation_Set" if subject >= n_subjects - n_val else "Train_Set"
        label_dir = root / "annotations" / "VA_Set" / split
        label_dir.mkdir(parents=True, exist_ok=True)
        for v in range(n_videos_per_subject):
            name = f"synth_s{subject:02d}_v{v}"
            rng = np.random.default_rng([seed, subject, v])
            va = np.round(label_curves(n_frames, fps, rng), 4)
            sound = speech_like_audio(va[:, 1], fps, rng) if audio else None
            video_path = root / "videos" / f"{name}.mp4"
            if not video_path.exists():
                frames = (render_frame(base, style, float(val), float(aro), i / fps)
                          for i, (val, aro) in enumerate(va))
                write_video(video_path, frames, fps, sound)
            lines = ["valence,arousal"] + [f"{val:.4f},{aro:.4f}" for val, aro in va]
            files.write_text_atomic(label_dir / f"{name}.txt", "\n".join(lines) + "\n")
            names.append(name)
            subjects.append((name, f"subject{subject:02d}"))
            curves[name] = va.tolist()
    files.write_text_atomic(root / "subjects.csv", "video,subject\n" + "".join(f"{n},{s}\n" for n, s in subjects))
    files.write_text_atomic(root / "curves.json", json.dumps({"fps": fps, "curves": curves}))
    return names

