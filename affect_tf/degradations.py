"""Image degradations that the adversarial generators learn to undo (``000`` §III, ``001`` §3.1).

Four artefact types as in the papers: Gaussian blur, Gaussian noise, downsampling and colour
scaling. Images are (..., H, W, C) floats in [-1, 1] (faces, or mel "images" scaled the same way).
Everything is ``keras.ops`` so the same code runs on numpy arrays (a numpy array in gives a numpy
array out), inside a TF ``train_step`` and on JAX. Random strengths come from a seed (an int or a
``keras.random.SeedGenerator``), so a run is reproducible.
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops, random

DEGRADATIONS = ("blur", "noise", "downsample", "colour")


def _prepare(images):
    is_numpy = isinstance(images, np.ndarray)
    x = ops.convert_to_tensor(images, "float32")
    if len(x.shape) < 3:
        raise ValueError(f"expected images (..., H, W, C), got shape {tuple(x.shape)}")
    return x, is_numpy


def _finish(x, is_numpy):
    return ops.convert_to_numpy(x) if is_numpy else x


def _as_4d(x):
    shape = ops.shape(x)
    return ops.reshape(x, (-1, *x.shape[-3:])), shape


def gaussian_kernel_1d(sigma, radius: int):
    """Normalised 1-D Gaussian taps on ``-radius..radius`` (``sigma`` may be a tensor)."""
    taps = ops.arange(-radius, radius + 1, dtype="float32")
    sigma = ops.maximum(ops.cast(sigma, "float32"), 1e-3)
    weights = ops.exp(-0.5 * ops.square(taps / sigma))
    return weights / ops.sum(weights)


def reflect_indices(size: int, radius: int) -> np.ndarray:
    """(size, 2 * radius + 1) source index of each tap of each output position under mirror
    padding that repeats the edge sample (scipy's ``reflect``, numpy's ``symmetric``), folded as
    often as the radius needs."""
    idx = np.arange(size)[:, None] + np.arange(-radius, radius + 1)[None, :]
    idx = np.mod(idx, 2 * size)
    return np.where(idx >= size, 2 * size - 1 - idx, idx)


def _blur_matrix(kernel, size: int, radius: int):
    """(size, size) matrix A with ``A @ signal`` = the mirror-padded 1-D convolution."""
    taps = np.eye(size, dtype="float32")[reflect_indices(size, radius)]  # (out, tap, in) one-hot
    return ops.einsum("t,oti->oi", kernel, ops.convert_to_tensor(taps))


def gaussian_blur(images, sigma, max_sigma: float | None = None, truncate: float = 4.0):
    """Separable Gaussian blur with mirror padding (``scipy.ndimage.gaussian_filter``, mode
    ``reflect``, over the two spatial axes). ``sigma`` may be a tensor; the kernel radius is fixed
    by ``max_sigma`` (default ``sigma``) as ``int(truncate * max_sigma + 0.5)``.

    Written as two matrix products with banded, mirror-folded matrices rather than a depthwise
    convolution: TF 2.16's oneDNN builds a JIT depthwise kernel (``brdgmm``) for 1xK filters that
    crashes or exhausts memory while it is generated on AVX-512 CPUs with bf16/fp16 support, and a
    product is as fast at face sizes."""
    x, is_numpy = _prepare(images)
    if max_sigma is None:
        max_sigma = float(sigma)
    radius = max(int(truncate * float(max_sigma) + 0.5), 1)
    kernel = gaussian_kernel_1d(sigma, radius)
    h, w = x.shape[-3], x.shape[-2]
    x = ops.einsum("hi,...iwc->...hwc", _blur_matrix(kernel, h, radius), x)
    x = ops.einsum("wj,...hjc->...hwc", _blur_matrix(kernel, w, radius), x)
    return _finish(x, is_numpy)


def gaussian_noise(images, stddev, seed=None):
    """Additive Gaussian noise of standard deviation ``stddev``, clipped back to [-1, 1]."""
    x, is_numpy = _prepare(images)
    noise = random.normal(ops.shape(x), seed=seed) * ops.cast(stddev, "float32")
    return _finish(ops.clip(x + noise, -1.0, 1.0), is_numpy)


def downsample(images, factor: int):
    """Lose resolution: average over ``factor`` x ``factor`` blocks, then repeat each block value
    back to the original size (nearest-neighbour upsampling). H and W must divide by ``factor``."""
    x, is_numpy = _prepare(images)
    h, w, c = x.shape[-3:]
    if h % factor or w % factor:
        raise ValueError(f"downsample: size {h}x{w} is not divisible by factor {factor}")
    x4, shape = _as_4d(x)
    small = ops.mean(ops.reshape(x4, (-1, h // factor, factor, w // factor, factor, c)), axis=(2, 4))
    up = ops.repeat(ops.repeat(small, factor, axis=1), factor, axis=2)
    return _finish(ops.reshape(up, shape), is_numpy)


def colour_scale(images, scale):
    """Scale colour intensities by ``scale`` (a scalar or one factor per channel) in [0, 1]
    terms: ``((x + 1) / 2 * scale) * 2 - 1``, clipped to [-1, 1]."""
    x, is_numpy = _prepare(images)
    scale = ops.cast(scale, "float32")
    return _finish(ops.clip((x + 1.0) * scale - 1.0, -1.0, 1.0), is_numpy)


def random_degradation(
    images,
    seed=None,
    probability: float = 0.5,
    max_sigma: float = 2.0,
    max_noise: float = 0.2,
    factors: tuple[int, ...] = (2, 4),
    scale_range: tuple[float, float] = (0.6, 1.4),
):
    """Degrade each image with ``probability``: one artefact type drawn uniformly, its strength
    drawn uniformly (blur sigma in (0.5, max_sigma], noise std up to ``max_noise``, a downsampling
    factor from ``factors``, per-channel colour scales in ``scale_range``). The blur sigma is drawn
    once per call (one kernel for the batch); everything else per image. Returns a degraded copy."""
    x, is_numpy = _prepare(images)
    x4, shape = _as_4d(x)
    n = ops.shape(x4)[0]
    seed = seed if seed is not None else random.SeedGenerator(0)

    def per_image(minval=0.0, maxval=1.0, extra=()):
        return random.uniform((n, *extra), minval, maxval, seed=seed)

    sigma = random.uniform((), 0.5, max_sigma, seed=seed)
    candidates = [
        gaussian_blur(x4, sigma, max_sigma=max_sigma),
        ops.clip(x4 + random.normal(ops.shape(x4), seed=seed)
                 * ops.reshape(per_image(0.0, max_noise), (-1, 1, 1, 1)), -1.0, 1.0),
        colour_scale(x4, ops.reshape(per_image(*scale_range, extra=(x4.shape[-1],)),
                                     (-1, 1, 1, x4.shape[-1]))),
    ]
    down = [downsample(x4, f) for f in factors]
    pick_factor = ops.cast(ops.floor(per_image() * len(factors)), "int32")
    pick_factor = ops.one_hot(ops.minimum(pick_factor, len(factors) - 1), len(factors))
    candidates.append(sum(ops.reshape(pick_factor[:, i], (-1, 1, 1, 1)) * d for i, d in enumerate(down)))
    kind = ops.cast(ops.floor(per_image() * len(candidates)), "int32")
    kind = ops.one_hot(ops.minimum(kind, len(candidates) - 1), len(candidates))
    degraded = sum(ops.reshape(kind[:, i], (-1, 1, 1, 1)) * c for i, c in enumerate(candidates))
    apply = ops.reshape(ops.cast(per_image() < probability, "float32"), (-1, 1, 1, 1))
    out = apply * degraded + (1.0 - apply) * x4
    return _finish(ops.reshape(out, shape), is_numpy)


def psnr(clean, other) -> float:
    """Peak signal-to-noise ratio in dB for images in [-1, 1] (peak-to-peak 2)."""
    mse = float(np.mean((np.asarray(clean, "float64") - np.asarray(other, "float64")) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(4.0 / mse)
