"""Face detection, tracking, 68 landmarks and 5-point similarity alignment (``004_…`` §4).

dlib's HOG (or CNN) detector and its 68-point shape predictor come from the
``face_recognition_models`` package; the pose-robust MTCNN (``mtcnn`` package, weights in its
wheel) runs only where HOG finds nothing (``detector="hog+mtcnn"``). Detection runs every
``detect_every`` frames; in between the face is tracked by fitting the landmarks inside the box
of the previous frame's landmarks, or, for a face the 68-point fit cannot follow (profile), by
MTCNN's last stage (O-Net, one 48x48 forward pass) on the previous box. A
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
from typing import NamedTuple

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


class Detection(NamedTuple):
    """One face found by a detector: box (x0, y0, x1, y1) in image pixels, confidence on
    [0, 1] and, from MTCNN, its five points (eye centres, nose tip, mouth corners; (5, 2))."""

    box: tuple
    confidence: float
    five: np.ndarray | None = None


def logistic(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def placed_mean_shape(five: np.ndarray, crop_size: int, weights=None) -> np.ndarray:
    """The mean 68-point shape put on ``five`` image points by the 5-point alignment: what a
    frame aligned on the detector's points (68-point fit implausible) reports as landmarks."""
    matrix = tpl.similarity_transform(five, tpl.frontal_template(crop_size), weights)
    return tpl.apply_transform(tpl.invert_similarity(matrix), tpl.template_68(crop_size)).astype(np.float32)


class FaceTracker:
    """Detects, follows and landmarks one target face through a sequence of frames.

    After :meth:`update`, ``confidence`` (detector confidence of the followed face, [0, 1]) and
    ``landmarks_fitted`` (False when the frame is aligned on the detector's five points because
    the 68-point fit is implausible, e.g. a profile) describe the frame.
    """

    def __init__(self, config: MediaConfig):
        self.config = config
        self._hog = self._cnn = self._mtcnn = None
        if config.detector == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat"))
        elif config.detector in ("hog", "hog+mtcnn"):
            self._hog = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))
        self._identity = None  # dlib's face recognition ResNet, loaded for the "subject" policy
        if config.target_face == "subject":
            self._identity = dlib.face_recognition_model_v1(
                model_path("dlib_face_recognition_resnet_model_v1.dat"))
        self.reset()

    def reset(self):
        self._track = None  # landmark box (x0, y0, x1, y1) of the followed face
        self._box = None  # detector-like box of the followed face
        self._five = None  # detector's five points when aligned on them
        self._since_detect = None
        self._reference = None  # appearance at the last detection (tracking check)
        self._subject = []  # identity descriptors seen on the recording's subject
        self._subject_seen_at = None  # time of the last frame the subject was found in
        self._descriptor = None  # descriptor of the face just chosen at a detection frame
        self._time = -0.04
        self._thumbnail = None  # 32x18 grey copy of the previous frame (cut detection)
        self._on_subject = False
        self.confidence = 0.0
        self.landmarks_fitted = False
        self.last_alignment = None
        self.track_id = -1  # raised each time a face is picked up afresh
        self.detections = 0  # detector runs (for benchmarks)
        self.pose_detections = 0  # full MTCNN runs

    @property
    def uses_mtcnn(self) -> bool:
        return "mtcnn" in self.config.detector and not self.crops

    # True while following face-image crops: MTCNN is for small or turned faces in big frames
    # (about 1 s per crop here); on a crop where HOG finds nothing, the whole image is the face
    crops = False

    def _mtcnn_model(self):
        if self._mtcnn is None:
            from mtcnn import MTCNN  # imports TensorFlow: only when first needed

            self._mtcnn = MTCNN(stages="face_and_landmarks_detection")
        return self._mtcnn

    def warm_up(self):
        """Load MTCNN and run its full detection and its O-Net once (on a grey image): a live
        stream then does not stall the first time HOG misses a face (0.35 s on 2 cores)."""
        if self.uses_mtcnn:
            grey = np.full((96, 96, 3), 128, np.uint8)
            self._detect_mtcnn(grey, 1)
            self._onet_track(grey, (24.0, 24.0, 72.0, 72.0))
            self.pose_detections = 0

    # -- detection -----------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in the frame (big frames are strided down first): HOG or CNN, and MTCNN when
        the configured detector includes it and the first found nothing."""
        self.detections += 1
        stride = max(1, int(np.ceil(max(image.shape[:2]) / self.config.detect_max_side)))
        small = np.ascontiguousarray(image[::stride, ::stride])
        found = []
        if self._cnn is not None:
            found = [(d.rect, d.confidence) for d in self._cnn(small, self.config.detect_upsample)]
        elif self._hog is not None:
            rects, scores, _ = self._hog.run(small, self.config.detect_upsample, 0.0)
            found = list(zip(rects, scores))
        # dlib scores are SVM margins (0 = the detector's threshold): logistic maps them to [0, 1].
        dets = [Detection((r.left() * stride, r.top() * stride, (r.right() + 1) * stride,
                           (r.bottom() + 1) * stride), logistic(s)) for r, s in found]
        if not dets and self.uses_mtcnn:
            dets = self._detect_mtcnn(small, stride)
        return dets

    def _detect_mtcnn(self, small, stride) -> list[Detection]:
        self.pose_detections += 1
        rows = self._mtcnn_model().detect_faces(
            small, box_format="xyxy", output_type="numpy",
            min_face_size=self.config.mtcnn_min_face, threshold_onet=self.config.mtcnn_min_confidence)
        return [_mtcnn_detection(row, stride) for row in np.asarray(rows).reshape(-1, 16)]

    def _onet_track(self, image, box) -> Detection | None:
        """Refine the previous box with MTCNN's O-Net alone (cheap tracking of a face the
        68-point fit cannot follow); None when O-Net no longer sees a face there."""
        import tensorflow as tf

        # O-Net was trained on R-Net's square proposals: a square of the box's mean side.
        side = ((box[2] - box[0]) + (box[3] - box[1])) / 2
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        h, w = image.shape[:2]
        rx0, ry0 = int(max(0, cx - side)), int(max(0, cy - side))
        rx1, ry1 = int(min(w, cx + side)), int(min(h, cy + side))
        if rx1 - rx0 < 12 or ry1 - ry0 < 12:
            return None
        region = (image[ry0:ry1, rx0:rx1].astype(np.float32) - 127.5) / 128.0
        square = np.array([[0, cx - side / 2 - rx0, cy - side / 2 - ry0,
                            cx + side / 2 - rx0, cy + side / 2 - ry0, 1.0]])
        rows = self._mtcnn_model().stages[-1](
            images_normalized=tf.constant(region[None]), bboxes_batch=square,
            threshold_onet=self.config.mtcnn_min_confidence, nms_onet=0.7)
        if len(rows) == 0:
            return None
        row = np.array(rows[0], np.float64)
        row[[1, 3, 6, 7, 8, 9, 10]] += rx0
        row[[2, 4, 11, 12, 13, 14, 15]] += ry0
        return _mtcnn_detection(row, 1)

    def landmarks(self, image: np.ndarray, box) -> np.ndarray:
        rect = dlib.rectangle(int(round(box[0])), int(round(box[1])),
                              int(round(box[2])) - 1, int(round(box[3])) - 1)
        shape = self._predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def _fit(self, image, det: Detection):
        """``(landmarks (68, 2), fitted)`` for a detection, or None when it is no usable face.

        The 68 points are fitted inside the detector's box; when that fit is implausible and
        the detector gave five points, the frame is aligned on those (``fitted`` False) and the
        landmarks are the mean shape placed by them."""
        lm = self.landmarks(image, det.box)
        if self._plausible(lm, image.shape) and (det.five is None or self._agrees(lm, det.five)):
            return lm, True
        if det.five is None:
            return None
        size = min(det.box[2] - det.box[0], det.box[3] - det.box[1])
        if size < self.config.min_face_size:
            return None
        return placed_mean_shape(det.five, self.config.crop_size, self.config.alignment_weights), False

    def _agrees(self, lm, five) -> bool:
        """The 68-point fit's five points lie near the detector's (mean distance over the
        eye-to-mouth height below ``five_point_max_error``)."""
        height = np.linalg.norm(five[3:].mean(0) - five[:2].mean(0))
        error = np.linalg.norm(tpl.five_points(lm) - five, axis=1).mean()
        return error <= self.config.five_point_max_error * max(height, 1.0)

    def _choose(self, image, dets):
        """``(detection, landmarks, fitted)`` of the face to follow, or None (docs/media.md)."""
        fits = [(d, *f) for d in dets for f in [self._fit(image, d)] if f is not None]
        if not fits:
            return None
        policy, (h, w) = self.config.target_face, image.shape[:2]

        def area(f):
            b = f[0].box
            return (b[2] - b[0]) * (b[3] - b[1])

        def centre_distance(f):
            b = f[0].box
            return np.hypot((b[0] + b[2]) / 2 - w / 2, (b[1] + b[3]) / 2 - h / 2)

        if policy == "largest":
            return max(fits, key=area)
        if policy == "central":
            return min(fits, key=centre_distance)
        self._descriptor = None
        if policy == "subject":
            descriptors = [self._face_descriptor(image, f[0].box) for f in fits]
            if self._subject:
                distance = [min(np.linalg.norm(d - s) for s in self._subject) for d in descriptors]
                best = int(np.argmin(distance))
                if distance[best] <= self.config.subject_max_distance:
                    self._on_subject, self._descriptor = True, descriptors[best]
                    return fits[best]
                # someone else (an audience shot, a passer-by): no face rather than theirs
                if not self._subject_gone():
                    return None
                self._subject = []  # away too long: whoever is prominent now is the subject
        if self._box is not None:
            best = max(fits, key=lambda f: box_iou(f[0].box, self._box))
            if box_iou(best[0].box, self._box) > 0.2:
                return best
        self._on_subject = not self._subject
        if policy == "track":
            return max(fits, key=area)
        # Prominence: big, central and confidently detected.
        half_diagonal = np.hypot(w, h) / 2
        best = max(range(len(fits)), key=lambda i: np.sqrt(area(fits[i])) * (
            1 - centre_distance(fits[i]) / half_diagonal) * fits[i][0].confidence)
        if policy == "subject":
            self._descriptor = descriptors[best]
        return fits[best]

    def _face_descriptor(self, image, box) -> np.ndarray:
        """dlib's 128-d identity descriptor of the face in ``box`` (same person: distance < 0.6)."""
        rect = dlib.rectangle(int(round(box[0])), int(round(box[1])),
                              int(round(box[2])) - 1, int(round(box[3])) - 1)
        image = np.ascontiguousarray(image)  # dlib takes no strided views (e.g. a cropped frame)
        return np.array(self._identity.compute_face_descriptor(image, self._predictor(image, rect)))

    def _subject_gone(self) -> bool:
        seen = self._subject_seen_at
        return seen is not None and self._time - seen > self.config.subject_patience_s

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
        """``align`` with this config (on the detector's five points when the frame's 68-point
        fit was implausible); the result for the last landmarks is kept so the pipeline does
        not warp the same face twice."""
        cached = self.last_alignment
        if cached is not None and cached[0] is lm:
            return cached[1], cached[2]
        crop, crop_lm, _ = align(image, lm, self.config.crop_size,
                                 weights=self.config.alignment_weights,
                                 five=None if self.landmarks_fitted else self._five)
        self.last_alignment = (lm, crop, crop_lm)
        return crop, crop_lm

    def _looks_like_reference(self, image, lm) -> bool:
        """Appearance check: the predictor returns a face-shaped set of points even on a wall,
        so the tracked face must also correlate with the face seen at the last detection."""
        patch = appearance_patch(self.aligned(image, lm)[0])
        return normalised_correlation(patch, self._reference) >= self.config.track_min_correlation

    @property
    def box(self) -> tuple:
        """Detector-like box (x0, y0, x1, y1) of the followed face; zeros when there is none."""
        box = self._box if self._box is not None else self._track  # given landmarks: their box
        return tuple(float(v) for v in box) if box is not None else (0.0, 0.0, 0.0, 0.0)

    def faces(self, image: np.ndarray) -> list:
        """Every usable face of one image as ``(detection, landmarks, fitted)``, left to right
        (a photo: no tracking, no choice of target)."""
        fits = [(d, *f) for d in self.detect(image) for f in [self._fit(image, d)] if f is not None]
        return sorted(fits, key=lambda f: f[0].box[0])

    def _follow(self, image, det, lm, fitted, detected: bool):
        if self._box is None or box_iou(det.box, self._box) <= 0.2:
            self.track_id += 1  # a face picked up afresh, not the one followed so far
        self.landmarks_fitted, self._five = fitted, None if fitted else det.five
        self._track = (*lm.min(0), *lm.max(0))
        self._box = det.box if det.five is not None or not fitted else self._detector_box(self._track)
        self.confidence = det.confidence
        if detected:
            self._reference = appearance_patch(self.aligned(image, lm)[0])
            if self._on_subject and self._descriptor is not None:
                self._subject = (self._subject + [self._descriptor])[-20:]
        if self._on_subject:
            self._subject_seen_at = self._time
        return lm

    def fit_whole_image(self, image: np.ndarray):
        """Landmarks (68, 2) fitted inside the whole image, for an image that is itself a face
        on which detection found none (a tight crop), or None when the fit is implausible."""
        height, width = image.shape[:2]
        lm = self.landmarks(image, (0, 0, width, height))
        if not self._plausible(lm, image.shape):
            return None
        self._track = (*lm.min(0), *lm.max(0))
        self.confidence, self.landmarks_fitted, self._five = 0.0, True, None
        return lm

    def _lose(self):
        self._track = self._box = self._five = None
        self.confidence, self.landmarks_fitted = 0.0, False

    @staticmethod
    def _detector_box(lm_box):
        w, h = lm_box[2] - lm_box[0], lm_box[3] - lm_box[1]
        dl, dt, dr, db = LANDMARK_TO_DETECTOR_BOX
        return (lm_box[0] + dl * w, lm_box[1] + dt * h, lm_box[2] + dr * w, lm_box[3] + db * h)

    # -- per frame -----------------------------------------------------------------------------
    def update(self, image: np.ndarray, given_landmarks: np.ndarray | None = None, timestamp=None):
        """Landmarks (68, 2) of the target face in this frame, or None when there is none.
        ``timestamp`` (seconds; default: frames counted at 25 fps) times the subject's absence."""
        self._time = self._time + 0.04 if timestamp is None else float(timestamp)
        if given_landmarks is not None:
            lm = np.asarray(given_landmarks, np.float32)
            self._track = (*lm.min(0), *lm.max(0))
            self.confidence, self.landmarks_fitted, self._five = 1.0, True, None
            return lm
        cfg = self.config
        due = self._since_detect is None or self._since_detect + 1 >= cfg.detect_every
        # a cut (the whole picture changes at once): detect now, never track across it
        thumbnail = np.asarray(Image.fromarray(image).convert("L").resize((32, 18)), np.float32) / 255
        if self._thumbnail is not None and np.abs(thumbnail - self._thumbnail).mean() > cfg.cut_min_change:
            due = True
        self._thumbnail = thumbnail
        if self._box is not None and not due:
            if self.landmarks_fitted:
                lm = self.landmarks(image, self._detector_box(self._track))
                if self._plausible(lm, image.shape, self._track) and self._looks_like_reference(image, lm):
                    self._track = (*lm.min(0), *lm.max(0))
                    self._box = self._detector_box(self._track)
                    self._since_detect += 1
                    return lm
            if self.uses_mtcnn:
                det = self._onet_track(image, self._box)
                if det is not None and box_iou(det.box, self._box) >= cfg.track_min_iou:
                    fit = self._fit(image, det)
                    if fit is not None:
                        self._since_detect += 1
                        return self._follow(image, det, *fit, detected=False)
        # Detection frame, or tracking lost.
        self._since_detect = 0
        chosen = self._choose(image, self.detect(image))
        if chosen is None:
            self._lose()
            return None
        return self._follow(image, *chosen, detected=True)


def _mtcnn_detection(row, stride) -> Detection:
    """A row of MTCNN's numpy output (image, x0, y0, x1, y1, confidence, 5 x, 5 y) as a
    :class:`Detection` in frame pixels; MTCNN's point order matches ``template.five_points``."""
    row = np.asarray(row, np.float64)
    five = np.stack([row[6:11], row[11:16]], axis=1) * stride
    return Detection(tuple(float(v) * stride for v in row[1:5]), float(row[5]), five.astype(np.float32))


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


def align(image: np.ndarray, landmarks: np.ndarray, crop_size: int, weights=None, five=None):
    """Warp ``image`` so the 5 alignment points (of ``landmarks``, or ``five`` (5, 2) when
    given: a detector's points) land on the frontal template.

    Returns ``(crop uint8 (S, S, 3), landmarks in crop pixels (68, 2), 2x3 image->crop matrix)``.
    Bilinear sampling (PIL); when the face is shrunk by more than 2x, the source region is
    box-averaged first so the crop is not aliased (4K frames). Pixel centres are at integer
    coordinates, as in dlib's landmarks. ``weights`` weight the 5 points in the
    least squares (:attr:`MediaConfig.alignment_weights`).
    """
    dst = tpl.frontal_template(crop_size)
    src_points = tpl.five_points(landmarks) if five is None else np.asarray(five, np.float64)
    matrix = tpl.similarity_transform(src_points, dst, weights)
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
