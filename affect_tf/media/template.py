"""The frontal face template used for 5-point similarity alignment (``004_…`` §4).

``MEAN_SHAPE_68`` is the mean of 68-point dlib shapes after generalized Procrustes analysis
(:func:`mean_shape`), measured on frontal frames of the GRID and HDTF clips, the AFEW-VA clip's
supplied landmarks and ``obama.jpg`` in ``../shared/data``; ``tests/media/test_face.py`` checks
the template's symmetry and fit in the crop. It is normalised so that the 68-point bounding box
spans [0, 1] horizontally and starts at y = 0 at the brows.

The 5 alignment points are the two eye centres (means of points 36-41 and 42-47), the nose tip
(30) and the mouth corners (48, 54). :func:`frontal_template` places the mean shape in an S x S
crop: the 68-point box is ``FACE_WIDTH_FRACTION`` of the crop wide, centred horizontally, with
its vertical centre at ``FACE_CENTRE_Y`` of the crop height, so a little forehead and chin show.
The same relative layout is used for 96x96 and 128x128 crops.
"""
from __future__ import annotations

import numpy as np

FACE_WIDTH_FRACTION = 0.72
FACE_CENTRE_Y = 0.52

LEFT_EYE = slice(36, 42)  # image-left eye (the subject's right eye)
RIGHT_EYE = slice(42, 48)
NOSE_TIP = 30
MOUTH_LEFT = 48
MOUTH_RIGHT = 54


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks -> (5, 2): eye centres, nose tip, mouth corners."""
    lm = np.asarray(landmarks, np.float64)
    return np.stack([
        lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0), lm[NOSE_TIP], lm[MOUTH_LEFT], lm[MOUTH_RIGHT]
    ])


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights=None) -> np.ndarray:
    """Least-squares similarity (rotation, isotropic scale, translation) mapping ``src`` to ``dst``.

    The 2-D Procrustes solution in complex form: with centred points as complex numbers,
    ``a = sum(w conj(s) d) / sum(w |s|^2)`` is scale times rotation (no reflection possible);
    ``weights`` (one per point, default equal) weight the squared errors.
    Returns a 2x3 matrix ``A`` with ``dst ~ A @ [x, y, 1]``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    s = (src[:, 0] - mu_s[0]) + 1j * (src[:, 1] - mu_s[1])
    d = (dst[:, 0] - mu_d[0]) + 1j * (dst[:, 1] - mu_d[1])
    norm = float((w * (s.real ** 2 + s.imag ** 2)).sum())
    a = complex((w * np.conj(s) * d).sum() / norm) if norm > 0 else 1.0 + 0j
    lin = np.array([[a.real, -a.imag], [a.imag, a.real]])
    out = np.empty((2, 3))
    out[:, :2] = lin
    out[:, 2] = mu_d - lin @ mu_s
    return out


def invert_similarity(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 similarity matrix."""
    lin = matrix[:, :2]
    inv = lin.T / (lin[0, 0] ** 2 + lin[1, 0] ** 2)
    return np.hstack([inv, (-inv @ matrix[:, 2])[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def normalise_shape(shape: np.ndarray) -> np.ndarray:
    """Scale and shift a 68-point shape so its box spans x in [0, 1] and starts at y = 0."""
    shape = np.asarray(shape, np.float64)
    lo, hi = shape.min(0), shape.max(0)
    return (shape - lo) / (hi[0] - lo[0])


# Index of each point's left-right mirror partner in the 68-point markup.
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)


def mirror_shape(shape: np.ndarray) -> np.ndarray:
    """The shape of the mirrored face: x negated and left/right points swapped."""
    shape = np.asarray(shape, np.float64)
    return shape[MIRROR_68] * np.array([-1.0, 1.0])


def mean_shape(shapes, iterations: int = 10) -> np.ndarray:
    """Generalized Procrustes mean of (N, 68, 2) shapes and their mirror images (so the mean is
    left-right symmetric, i.e. frontal), normalised with :func:`normalise_shape`."""
    shapes = np.asarray(shapes, np.float64)
    shapes = np.concatenate([shapes, [mirror_shape(s) for s in shapes]])
    mean = normalise_shape(shapes[0])
    for _ in range(iterations):
        aligned = [apply_transform(similarity_transform(s, mean), s) for s in shapes]
        mean = np.mean(aligned, axis=0)
        mean = mean - mean.mean(0)
        mean = normalise_shape(0.5 * (mean + mirror_shape(mean)))  # exact symmetry, upright
    return mean


# Derived with mean_shape() from the shapes listed in the module docstring (4 decimals).
MEAN_SHAPE_68 = np.array(
    [[0.    , 0.2606],
    [0.0057, 0.3979],
    [0.0216, 0.5359],
    [0.047 , 0.6745],
    [0.0901, 0.8046],
    [0.1581, 0.9221],
    [0.2493, 1.0228],
    [0.3645, 1.0952],
    [0.5   , 1.1175],
    [0.6355, 1.0952],
    [0.7507, 1.0228],
    [0.8419, 0.9221],
    [0.9099, 0.8046],
    [0.953 , 0.6745],
    [0.9784, 0.5359],
    [0.9943, 0.3979],
    [1.    , 0.2606],
    [0.0965, 0.1077],
    [0.1511, 0.0322],
    [0.2399, 0.    ],
    [0.3345, 0.0093],
    [0.421 , 0.0501],
    [0.579 , 0.0501],
    [0.6655, 0.0093],
    [0.7601, 0.    ],
    [0.8489, 0.0322],
    [0.9035, 0.1077],
    [0.5   , 0.171 ],
    [0.5   , 0.2581],
    [0.5   , 0.3442],
    [0.5   , 0.4325],
    [0.3998, 0.5168],
    [0.4482, 0.534 ],
    [0.5   , 0.5484],
    [0.5518, 0.534 ],
    [0.6002, 0.5168],
    [0.1961, 0.2092],
    [0.2463, 0.1709],
    [0.3128, 0.1696],
    [0.3701, 0.2114],
    [0.3105, 0.2287],
    [0.245 , 0.2317],
    [0.6299, 0.2114],
    [0.6872, 0.1696],
    [0.7537, 0.1709],
    [0.8039, 0.2092],
    [0.755 , 0.2317],
    [0.6895, 0.2287],
    [0.3202, 0.7461],
    [0.3832, 0.6904],
    [0.452 , 0.663 ],
    [0.5   , 0.6742],
    [0.548 , 0.663 ],
    [0.6168, 0.6904],
    [0.6798, 0.7461],
    [0.6191, 0.8135],
    [0.5521, 0.8422],
    [0.5   , 0.8478],
    [0.4479, 0.8422],
    [0.3809, 0.8135],
    [0.3524, 0.7451],
    [0.4519, 0.7144],
    [0.5   , 0.7167],
    [0.5481, 0.7144],
    [0.6476, 0.7451],
    [0.5487, 0.7699],
    [0.5   , 0.7761],
    [0.4513, 0.7699]]
)


def template_68(crop_size: int) -> np.ndarray:
    """The mean 68-point shape placed in an S x S crop (pixel coordinates, x right, y down)."""
    shape = MEAN_SHAPE_68
    height = shape[:, 1].max()
    scale = FACE_WIDTH_FRACTION * crop_size
    offset = np.array([(crop_size - scale) / 2, FACE_CENTRE_Y * crop_size - scale * height / 2])
    return shape * scale + offset


def frontal_template(crop_size: int) -> np.ndarray:
    """(5, 2) target positions of the alignment points in an S x S crop."""
    return five_points(template_68(crop_size))
