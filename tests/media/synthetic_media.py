"""Synthetic media for the self-contained media tests, encoded and decoded for real with PyAV, and
librosa's mel spectrogram as the independent reference."""
import fractions

import av
import numpy as np
from PIL import Image
from skimage import data as skdata


def face_image(size=256):
    """The face region of skimage's astronaut photo (a real frontal face, about a third of the
    width), RGB uint8 ``size`` x ``size``."""
    crop = skdata.astronaut()[0:256, 96:352]
    if size == 256:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))


def librosa_mel_window(samples, cfg, timestamp):
    """The independent reference for a frame's mel image: librosa's power mel spectrogram of the
    whole track in dB (re power 1.0 floored at -80, or with ``cfg.mel_reference="window_max"``
    re the window's maximum, 80 dB range), 128 columns centred on ``timestamp``, -80 outside."""
    import librosa

    full = librosa.feature.melspectrogram(y=samples, sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                          hop_length=cfg.hop_length, n_mels=128)
    centre = int(round(timestamp * cfg.sample_rate / cfg.hop_length))
    cols = [j for j in range(centre - 64, centre + 64) if 0 <= j < full.shape[1]]
    want = np.full((128, 128), -80.0, np.float32)
    if cfg.mel_reference == "fixed":
        db = np.maximum(10 * np.log10(np.maximum(full[:, cols], 1e-10)), -80.0)
    else:
        db = librosa.power_to_db(full[:, cols], ref=np.max, top_db=80)
    want[:, [j - centre + 64 for j in cols]] = db
    return want


def write_video(path, frames, fps=25, audio=None, sample_rate=44100, pts=None, codec="libx264",
                fmt=None):
    """Encode RGB frames (and an optional mono float audio signal) with PyAV.

    ``pts`` (in 1/1000 s) gives variable frame timing."""
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = frames[0].shape[1], frames[0].shape[0]
        vs.pix_fmt = "yuv420p"
        if pts is not None:
            vs.time_base = fractions.Fraction(1, 1000)
            vs.codec_context.time_base = fractions.Fraction(1, 1000)
        if audio is not None:
            aus = out.add_stream("aac" if codec == "libx264" else "mp2", rate=sample_rate)
            aus.layout = "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = int(pts[i]), fractions.Fraction(1, 1000)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if audio is not None:
            samples = np.asarray(audio, np.float32)
            chunk = 1024
            for start in range(0, len(samples), chunk):
                block = samples[start:start + chunk].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, start
                for packet in aus.encode(frame):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return path


def speechlike(seconds, sample_rate, seed=0):
    """A voiced, pitch-gliding harmonic signal with noise and pauses (gives eGeMAPS something)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.3).astype(float)
    return (0.3 * voiced * envelope + 0.01 * rng.normal(size=t.size)).astype(np.float32)
