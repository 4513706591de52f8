"""Degradations against numpy/scipy references (``000`` §III)."""
import numpy as np
import pytest
from scipy import ndimage

from affect_tf import degradations


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(-1, 1, (2, 16, 20, 3)).astype("float32")


@pytest.mark.parametrize("sigma", [0.8, 1.5])
def test_gaussian_blur_equals_scipy(images, sigma):
    out = degradations.gaussian_blur(images, sigma)
    assert isinstance(out, np.ndarray) and out.shape == images.shape
    ref = ndimage.gaussian_filter(images.astype("float64"), sigma=(0, sigma, sigma, 0), mode="reflect")
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_gaussian_blur_wider_than_the_image_folds_like_scipy():
    """Radius 8 on a 5x6 image: the mirror padding folds more than once."""
    small = np.random.default_rng(2).uniform(-1, 1, (5, 6, 2)).astype("float32")
    ref = ndimage.gaussian_filter(small.astype("float64"), sigma=(2.0, 2.0, 0), mode="reflect")
    np.testing.assert_allclose(degradations.gaussian_blur(small, 2.0), ref, atol=1e-5)


def test_blur_builds_no_depthwise_convolution():
    """TF 2.16's oneDNN crashes (SIGSEGV, or runs out of memory) while it JIT-builds a depthwise
    kernel for 1xK filters on AVX-512 CPUs with bf16/fp16 (issue 17): the blur, and so the
    denoising train steps, must not contain that op."""
    import tensorflow as tf

    graph = tf.function(lambda x: degradations.gaussian_blur(x, 1.5, max_sigma=2.0)).get_concrete_function(
        tf.TensorSpec((4, 32, 32, 3), tf.float32)).graph
    ops_used = {op.type for op in graph.get_operations()}
    assert not {t for t in ops_used if "Depthwise" in t}, ops_used


def test_denoising_gradient_step_runs_in_a_fresh_process():
    """The crash killed the whole test process; run the blur's forward and backward pass, as a
    train step does, in a child so a crash is a failure with its exit code."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        from affect_tf import degradations
        x = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32"))
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                y = degradations.gaussian_blur(x, tf.constant(1.2), max_sigma=2.0)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, x)
        g = step().numpy()
        assert np.all(np.isfinite(g))
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_downsample_equals_block_mean(images):
    out = degradations.downsample(images, 4)
    blocks = images.reshape(2, 4, 4, 5, 4, 3).mean(axis=(2, 4))
    ref = np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    with pytest.raises(ValueError, match="not divisible"):
        degradations.downsample(images, 3)


def test_colour_scale_equals_numpy(images):
    scale = np.array([0.5, 1.0, 1.3], "float32")
    out = degradations.colour_scale(images, scale)
    ref = np.clip(((images + 1) / 2 * scale) * 2 - 1, -1, 1)
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_gaussian_noise_statistics_and_seed():
    flat = np.zeros((4, 32, 32, 3), "float32")
    a = degradations.gaussian_noise(flat, 0.1, seed=3)
    b = degradations.gaussian_noise(flat, 0.1, seed=3)
    c = degradations.gaussian_noise(flat, 0.1, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert abs(a.std() - 0.1) < 0.005 and abs(a.mean()) < 0.005


def test_random_degradation_is_seeded_and_changes_about_half():
    x = np.random.default_rng(1).uniform(-0.8, 0.8, (64, 16, 16, 3)).astype("float32")
    a = degradations.random_degradation(x, seed=7)
    b = degradations.random_degradation(x, seed=7)
    np.testing.assert_array_equal(a, b)
    changed = np.abs(a - x).reshape(64, -1).max(axis=1) > 1e-6
    assert 16 < changed.sum() < 48, changed.sum()
    assert np.all(np.abs(a) <= 1.0)
    assert degradations.psnr(x, a) < degradations.psnr(x, x)


def test_random_degradation_in_tf_function():
    import keras
    import tensorflow as tf

    seed = keras.random.SeedGenerator(0)

    @tf.function
    def step(x):
        return degradations.random_degradation(x, seed=seed, probability=1.0)

    x = tf.zeros((3, 8, 8, 3))
    first, second = step(x).numpy(), step(x).numpy()
    assert first.shape == (3, 8, 8, 3) and not np.array_equal(first, second)
