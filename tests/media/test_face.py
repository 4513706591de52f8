"""Template, similarity alignment and the face tracker."""
import numpy as np
import pytest
from scipy import ndimage

from affect_tf.media import MediaConfig
from affect_tf.media import template as tpl
from affect_tf.media.face import FaceTracker, align, shape_residual

from tests.media.synthetic_media import face_image


def rotation(theta, scale, shift):
    c, s = np.cos(theta) * scale, np.sin(theta) * scale
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(5, 2)) * 30
    true = rotation(0.4, 1.7, (12.0, -5.0))
    np.testing.assert_allclose(tpl.similarity_transform(src, tpl.apply_transform(true, src)), true,
                               atol=1e-9)
    inverse = tpl.invert_similarity(true)
    np.testing.assert_allclose(tpl.apply_transform(inverse, tpl.apply_transform(true, src)), src,
                               atol=1e-9)


def test_template_is_symmetric_and_fits_the_crop():
    for size in (96, 128):
        five = tpl.frontal_template(size)
        np.testing.assert_allclose(five[0, 0] + five[1, 0], size, atol=1e-9)  # eyes mirror
        np.testing.assert_allclose(five[2, 0], size / 2, atol=1e-9)  # nose on the midline
        np.testing.assert_allclose(five[0, 1], five[1, 1], atol=1e-9)  # eyes level
        shape = tpl.template_68(size)
        assert shape.min() > 0 and shape.max() < size
    np.testing.assert_allclose(tpl.frontal_template(128), tpl.frontal_template(96) * 128 / 96)


@pytest.mark.parametrize("size", [96, 128])
def test_alignment_puts_five_points_on_the_template(size):
    # Landmarks that are an exact similarity image of the template must land on it exactly.
    true = rotation(-0.3, 3.1, (200.0, 90.0))
    landmarks = tpl.apply_transform(true, tpl.template_68(size))
    image = np.random.default_rng(1).integers(0, 255, (600, 700, 3), dtype=np.uint8)
    crop, crop_lm, matrix = align(image, landmarks, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(tpl.five_points(crop_lm), tpl.frontal_template(size), atol=1e-4)
    np.testing.assert_allclose(matrix, tpl.invert_similarity(true), atol=1e-9)


def test_warp_equals_scipy_bilinear_sampling():
    rng = np.random.default_rng(2)
    image = ndimage.gaussian_filter(rng.uniform(0, 255, (300, 300, 3)), (3, 3, 0)).astype(np.uint8)
    landmarks = tpl.apply_transform(rotation(0.2, 1.6, (70.0, 60.0)), tpl.template_68(96))
    crop, _, matrix = align(image, landmarks, 96)
    inv = tpl.invert_similarity(matrix)
    ys, xs = np.mgrid[0:96, 0:96]
    src = tpl.apply_transform(inv, np.stack([xs.ravel(), ys.ravel()], 1))
    want = np.stack([ndimage.map_coordinates(image[..., c].astype(float), [src[:, 1], src[:, 0]],
                                             order=1).reshape(96, 96) for c in range(3)], -1)
    # PIL's bilinear is 8-bit fixed point: a level or two off at most
    assert np.abs(crop.astype(float) - want)[2:-2, 2:-2].max() <= 2.0


def test_warp_of_a_huge_face_is_antialiased():
    # A fine stripe pattern shrunk 10x must average to grey, not alias into stripes.
    stripes = np.zeros((2000, 2000, 3), np.uint8)
    stripes[:, ::2] = 255
    landmarks = tpl.apply_transform(rotation(0.0, 10.0, (500.0, 500.0)), tpl.template_68(96))
    crop, _, _ = align(stripes, landmarks, 96)
    assert abs(crop[10:-10, 10:-10].mean() - 127.5) < 3 and crop[10:-10, 10:-10].std() < 3


def test_mean_shape_has_a_small_residual_and_noise_a_large_one():
    assert shape_residual(tpl.template_68(96)) < 1e-9
    noise = np.random.default_rng(3).uniform(0, 100, (68, 2))
    assert shape_residual(noise) > MediaConfig().track_max_residual


def two_faces():
    """A big face (~124 px) at the left edge and a smaller one (~103 px) near the centre."""
    canvas = np.full((600, 900, 3), 120, np.uint8)
    canvas[0:340, 0:340] = face_image(340)
    canvas[300:570, 320:590] = face_image(270)
    return canvas


@pytest.mark.parametrize("policy, expect_centre_x", [("largest", 170), ("central", 455)])
def test_target_face_policy_with_two_faces(policy, expect_centre_x):
    tracker = FaceTracker(MediaConfig(target_face=policy, detect_max_side=900))
    image = two_faces()
    assert len(tracker.detect(image)) == 2
    lm = tracker.update(image)
    assert abs(lm[:, 0].mean() - expect_centre_x) < 40


def test_tracking_detects_every_k_frames_and_follows_motion():
    tracker = FaceTracker(MediaConfig(detect_every=5))
    base = face_image(256)
    canvas = np.full((256, 400, 3), 90, np.uint8)
    centres = []
    for i in range(20):
        frame = canvas.copy()
        frame[:, 3 * i:3 * i + 256] = base
        centres.append(tracker.update(frame)[:, 0].mean() - 3 * i)
    assert tracker.detections == 4  # frames 0, 5, 10, 15
    assert np.ptp(centres) < 4  # the landmarks moved with the face


def test_tracking_loss_triggers_redetection_and_masks():
    tracker = FaceTracker(MediaConfig(detect_every=50))
    face = np.full((300, 300, 3), 90, np.uint8)
    face[20:276, 20:276] = face_image(256)
    assert tracker.update(face) is not None
    blank = np.full_like(face, 90)
    assert tracker.update(blank) is None  # the face left: landmarks fail the checks, no face
    assert tracker.detections == 2
