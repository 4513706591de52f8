"""Known-answer tasks for the adversarial latent family, shared by its model and recipe tests."""
import numpy as np

from affect_tf import features


def two_modality_task(n_seq, frames, seed, size=128):
    """Valence moves a blob across the face, arousal moves a band up the mel image: positions,
    because the front ends' instance norms erase global brightness or loudness. Returns
    ``(features, labels)`` arrays of ``n_seq`` sequences of ``frames`` frames."""
    rng = np.random.default_rng(seed)
    va = np.cumsum(rng.normal(0, 0.5, (n_seq, frames, 2)), axis=1)
    va = np.tanh(va - va.mean(axis=1, keepdims=True)).astype("float32")
    yy, xx = np.meshgrid(np.arange(size) / size, np.arange(size) / size, indexing="ij")
    cx = 0.5 + 0.35 * va[..., 0, None, None]
    face = 1.6 * np.exp(-((xx - cx) ** 2 + (yy - 0.5) ** 2) / 0.01)[..., None] * np.ones(3) - 0.8
    row = 0.5 + 0.35 * va[..., 1, None, None]
    mel = -60 + 50 * np.exp(-((yy - row) ** 2) / 0.005)
    x = {features.FACE: (face + rng.normal(0, 0.05, face.shape)).astype("float32"),
         features.MEL: (mel + rng.normal(0, 2.0, mel.shape)).astype("float32")}
    return x, {features.TARGETS: va, features.LABEL_MASK: np.ones_like(va)}
