"""Synthetic media for the self-contained media tests, encoded and decoded for real with PyAV, and
librosa's mel spectrogram as the independent reference."""
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
    whole track in dB (ref max, 80 dB range), 128 columns centred on ``timestamp``, -80 outside."""
    import librosa

    full = librosa.feature.melspectrogram(y=samples, sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                          hop_length=cfg.hop_length, n_mels=128)
    centre = int(round(timestamp * cfg.sample_rate / cfg.hop_length))
    cols = [j for j in range(centre - 64, centre + 64) if 0 <= j < full.shape[1]]
    want = np.full((128, 128), -80.0, np.float32)
    want[:, [j - centre + 64 for j in cols]] = librosa.power_to_db(full[:, cols], ref=np.max, top_db=80)
    return want


def speechlike(seconds, sample_rate, seed=0):
    """A voiced, pitch-gliding harmonic signal with noise and pauses (gives eGeMAPS something)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.3).astype(float)
    return (0.3 * voiced * envelope + 0.01 * rng.normal(size=t.size)).astype(np.float32)
