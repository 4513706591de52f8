"""Face detection, tracking, 68 landmarks and 5-point similarity alignment (``004_…`` §4).

dlib's HOG (or CNN) detector and its 68-point shape predictor come from the
``face_recognition_models`` package. Detection runs every ``detect_every`` frames; in between the
face is tracked by fitting the landmarks inside the box of the previous frame's landmarks. A
track is lost (and detection runs at once) when the new landmark box overlaps the previous one
by less than ``track_min_iou``, when the landmarks fit the mean shape badly (similarity
Procrustes residual, as a fraction of the face size, above ``track_max_residual``), when the
face gets smaller than ``min_face_size`` or leaves the frame, or when a small aligned grey patch
of the tracked face correlates with the one taken at the last detection by less than
``track_min_correlation`` (dlib's predictor puts a face-shaped set of points even on a blank
wall, so the shape alone cannot tell that the face is gone).
"""
from __future__ import annotations

import importlib.util
import os

import dlib
import numpy as np
from PIL import Image

from affect_tf.media.config import MediaConfig
from affect_tf.media import template as tpl

# Box of the dlib detector relative to the box of the 68 landmarks it yields (left, top, right,
# bottom as fractions of the landmark box size), mean over 43 GRID/HDTF frames: used to turn
# a tracked landmark box back into a detector-like box for the shape predictor.
LANDMARK_TO_DETECTOR_BOX = (-0.05, -0.11, 0.06, -0.07)


def model_path(name: str) -> str:
    """Path of a model file shipped in ``face_recognition_models`` (located without importing
    the package, whose ``__init__`` needs the removed ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models is not installed (pip install face_recognition_models)")
    path = os.path.join(spec.submodule_search_locations[0], "models", name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: face model file missing from face_recognition_models")
    return path


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def shape_residual(landmarks: np.ndarray) -> float:
    """RMS distance of the landmarks from the similarity-fitted mean shape, over the face width."""
    mean = tpl.MEAN_SHAPE_68
    fit = tpl.apply_transform(tpl.similarity_transform(mean, landmarks), mean)
    width = np.ptp(fit[:, 0])
    return float(np.sqrt(((fit - landmarks) ** 2).sum(1).mean()) / max(width, 1e-6))


class FaceTracker:
    """Detects, follows and landmarks one target face through a sequence of frames."""

    def __init__(self, config: MediaConfig):
        self.config = config
        if config.detector == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat"))
            self._hog = None
        else:
            self._hog = dlib.get_frontal_face_detector()
            self._cnn = None
        self._predictor = dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))
        self.reset()

    def reset(self):
        self._track = None  # landmark box (x0, y0, x1, y1) of the followed face
        self._since_detect = None
        self._reference = None
        self.last_alignment = None
        self.detections = 0  # detector runs (for benchmarks)

    # -- detection -----------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1) in image pixels; big frames are strided down first."""
        self.detections += 1
        stride = max(1, int(np.ceil(max(image.shape[:2]) / self.config.detect_max_side)))
        small = np.ascontiguousarray(image[::stride, ::stride])
        if self._cnn is not None:
            rects = [d.rect for d in self._cnn(small, self.config.detect_upsample)]
        else:
            rects = list(self._hog(small, self.config.detect_upsample))
        return [(r.left() * stride, r.top() * stride, (r.right() + 1) * stride,
                 (r.bottom() + 1) * stride) for r in rects]

    def landmarks(self, image: np.ndarray, box) -> np.ndarray:
        rect = dlib.rectangle(int(round(box[0])), int(round(box[1])),
                              int(round(box[2])) - 1, int(round(box[3])) - 1)
        shape = self._predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def _choose(self, boxes, image_shape):
        if not boxes:
            return None
        policy = self.config.target_face
        if policy == "track" and self._track is not None:
            best = max(boxes, key=lambda b: box_iou(b, self._detector_box(self._track)))
            if box_iou(best, self._detector_box(self._track)) > 0.2:
                return best
        if policy == "central":
            cy, cx = image_shape[0] / 2, image_shape[1] / 2
            return min(boxes, key=lambda b: ((b[0] + b[2]) / 2 - cx) ** 2 + ((b[1] + b[3]) / 2 - cy) ** 2)
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))

    @staticmethod
    def _detector_box(lm_box):
        w, h = lm_box[2] - lm_box[0], lm_box[3] - lm_box[1]
        dl, dt, dr, db = LANDMARK_TO_DETECTOR_BOX
        return (lm_box[0] + dl * w, lm_box[1] + dt * h, lm_box[2] + dr * w, lm_box[3] + db * h)

    def _plausible(self, lm: np.ndarray, image_shape, previous=None) -> bool:
        cfg = self.config
        box = (*lm.min(0), *lm.max(0))
        size = min(box[2] - box[0], box[3] - box[1])
        h, w = image_shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if size < cfg.min_face_size or not (0 <= cx < w and 0 <= cy < h):
            return False
        if previous is not None and box_iou(box, previous) < cfg.track_min_iou:
            return False
        return shape_residual(lm) <= cfg.track_max_residual

    def aligned(self, image, lm):
        """``align`` with this config; the result for the last landmarks is kept so the
        pipeline does not warp the same face twice."""
        cached = self.last_alignment
        if cached is not None and cached[0] is lm:
            return cached[1], cached[2]
        crop, crop_lm, _ = align(image, lm, self.config.crop_size,
                                 weights=self.config.alignment_weights)
        self.last_alignment = (lm, crop, crop_lm)
        return crop, crop_lm

    def _looks_like_reference(self, image, lm) -> bool:
        """Appearance check: the predictor returns a face-shaped set of points even on a wall,
        so the tracked face must also correlate with the face seen at the last detection."""
        patch = appearance_patch(self.aligned(image, lm)[0])
        return normalised_correlation(patch, self._reference) >= self.config.track_min_correlation

    # -- per frame -----------------------------------------------------------------------------
    def update(self, image: np.ndarray, given_landmarks: np.ndarray | None = None):
        """Landmarks (68, 2) of the target face in this frame, or None when there is none."""
        if given_landmarks is not None:
            lm = np.asarray(given_landmarks, np.float32)
            self._track = (*lm.min(0), *lm.max(0))
            return lm
        cfg = self.config
        due = self._since_detect is None or self._since_detect + 1 >= cfg.detect_every
        if self._track is not None and not due:
            lm = self.landmarks(image, self._detector_box(self._track))
            if self._plausible(lm, image.shape, self._track) and self._looks_like_reference(image, lm):
                self._track = (*lm.min(0), *lm.max(0))
                self._since_detect += 1
                return lm
        # Detection frame, or tracking lost.
        self._since_detect = 0
        box = self._choose(self.detect(image), image.shape)
        if box is None:
            self._track = None
            return None
        lm = self.landmarks(image, box)
        if not self._plausible(lm, image.shape):
            self._track = None
            return None
        self._track = (*lm.min(0), *lm.max(0))
        self._reference = appearance_patch(self.aligned(image, lm)[0])
        return lm


PATCH_SIZE = 32


def appearance_patch(crop: np.ndarray) -> np.ndarray:
    """32x32 grey block average of an aligned crop (for the tracking appearance check)."""
    f = crop.shape[0] // PATCH_SIZE
    grey = crop[:PATCH_SIZE * f, :PATCH_SIZE * f].astype(np.float32).mean(-1)
    return grey.reshape(PATCH_SIZE, f, PATCH_SIZE, f).mean((1, 3))


def normalised_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def align(image: np.ndarray, landmarks: np.ndarray, crop_size: int, weights=None):
    """Warp ``image`` so the 5 alignment points land on the frontal template.

    Returns ``(crop uint8 (S, S, 3), landmarks in crop pixels (68, 2), 2x3 image->crop matrix)``.
    Bilinear sampling (PIL); when the face is shrunk by more than 2x, the source region is
    box-averaged first so the crop is not aliased (4K frames). Pixel centres are at integer
    coordinates, as in dlib's landmarks. ``weights`` weight the 5 points in the
    least squares (:attr:`MediaConfig.alignment_weights`).
    """
    dst = tpl.frontal_template(crop_size)
    matrix = tpl.similarity_transform(tpl.five_points(landmarks), dst, weights)
    inv = tpl.invert_similarity(matrix)
    scale = float(np.hypot(*matrix[:, 0]))
    # Only the source region that maps into the crop is converted and filtered.
    corners = tpl.apply_transform(inv, np.array(
        [[0, 0], [crop_size, 0], [0, crop_size], [crop_size, crop_size]], np.float64))
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int) - 2, 0, [w, h])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 2, 0, [w, h])
    crop_lm = tpl.apply_transform(matrix, landmarks).astype(np.float32)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((crop_size, crop_size, 3), np.uint8), crop_lm, matrix
    region = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    factor = int(1 / scale) if scale < 0.5 else 1
    factor = max(1, min(factor, region.width, region.height))
    if factor > 1:
        region = region.reduce(factor)  # box filter: pooled pixel i covers [i*f, (i+1)*f)
    # crop pixel (x, y) -> region pixel: inverse similarity, shift to the region, then pool.
    # PIL works with pixel-edge coordinates (centre of pixel i at i + 0.5).
    lin = inv[:, :2] / factor
    off = (inv[:, 2] - [x0, y0] - (factor - 1) / 2) / factor + 0.5 - lin @ [0.5, 0.5]
    coeffs = (lin[0, 0], lin[0, 1], off[0], lin[1, 0], lin[1, 1], off[1])
    crop = region.transform((crop_size, crop_size), Image.Transform.AFFINE, coeffs,
                            resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(crop), crop_lm, matrix
