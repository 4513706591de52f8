"""Arrays shared by the data tests."""
import numpy as np


def random_recording_arrays(n, crop=16, seed=0):
    """Arrays for ``schema.encode_recording`` with n frames (random but valid)."""
    rng = np.random.default_rng(seed)
    return dict(
        face=rng.integers(0, 256, (n, crop, crop, 3), dtype=np.uint8),
        landmarks=rng.uniform(-1, 1, (n, 68, 2)).astype(np.float32),
        face_mask=(rng.random(n) > 0.3).astype(np.float32),
        mel=rng.uniform(-80, 0, (n, 128, 128)).astype(np.float32),
        egemaps=rng.standard_normal((n, 25)).astype(np.float32),
        audio_mask=(rng.random(n) > 0.2).astype(np.float32),
        valence=rng.uniform(-1, 1, n).astype(np.float32),
        arousal=rng.uniform(-1, 1, n).astype(np.float32),
        label_mask=(rng.random((n, 2)) > 0.1).astype(np.float32),
    )
