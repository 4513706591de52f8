import numpy as np
import pytest
import scipy.stats
from keras import ops

from affect_tf import metrics


def np_ccc(x, y):
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return 2 * cov / (x.var() + y.var() + (mx - my) ** 2)


def np_icc(x, y):
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    return 2 * cov / (x.var() + y.var())


def value(t):
    return float(ops.convert_to_numpy(t))


def test_hand_computed_case():
    # y = 1..4, x = 2y: means 2.5 / 5, population variances 1.25 / 5, covariance 2.5.
    y = np.array([1.0, 2.0, 3.0, 4.0])
    x = 2 * y
    assert value(metrics.ccc(y, x)) == pytest.approx(5 / 12.5, abs=1e-6)  # 0.4
    assert value(metrics.pcc(y, x)) == pytest.approx(1.0, abs=1e-6)
    assert value(metrics.icc(y, x)) == pytest.approx(5 / 6.25, abs=1e-6)  # 0.8
    assert value(metrics.mse(y, x)) == pytest.approx(7.5, abs=1e-5)
    assert value(metrics.rmse(y, x)) == pytest.approx(2.7386128, abs=1e-5)
    assert value(metrics.sagr(y, x)) == pytest.approx(1.0)


def test_hand_computed_sign_agreement_and_negative_correlation():
    y = np.array([-0.5, 0.5, 0.2, -0.1])
    x = np.array([-0.4, 0.3, -0.1, 0.2])
    assert value(metrics.sagr(y, x)) == pytest.approx(0.5)
    # Perfect anti-correlation: x = -y gives PCC -1 and CCC -var/(var + mean^2)-type values.
    y2 = np.array([0.0, 1.0])
    assert value(metrics.pcc(y2, -y2)) == pytest.approx(-1.0, abs=1e-6)
    # means 0.5 / -0.5, variances 0.25 each, cov -0.25: ccc = -0.5 / (0.5 + 1) = -1/3
    assert value(metrics.ccc(y2, -y2)) == pytest.approx(-1 / 3, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_random_against_numpy_and_scipy(seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, 500)
    x = 0.6 * y + rng.normal(0.1, 0.3, 500)
    assert value(metrics.ccc(y, x)) == pytest.approx(np_ccc(x, y), abs=1e-5)
    assert value(metrics.pcc(y, x)) == pytest.approx(scipy.stats.pearsonr(x, y)[0], abs=1e-5)
    assert value(metrics.icc(y, x)) == pytest.approx(np_icc(x, y), abs=1e-5)
    assert value(metrics.mse(y, x)) == pytest.approx(np.mean((x - y) ** 2), rel=1e-5)
    assert value(metrics.rmse(y, x)) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), rel=1e-5)
    assert value(metrics.sagr(y, x)) == pytest.approx(np.mean((x >= 0) == (y >= 0)))


def test_mask_ignores_missing_labels_even_nan_and_sentinels():
    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, 100)
    x = y + rng.normal(0, 0.2, 100)
    mask = rng.uniform(size=100) > 0.3
    y_holes = np.where(mask, y, np.nan)
    y_holes[~mask & (np.arange(100) % 2 == 0)] = -5.0  # Aff-Wild2's "unannotated"
    for name, fn in metrics.FUNCTIONS.items():
        got = value(fn(y_holes, x, mask=mask.astype("float32")))
        want = value(fn(y[mask], x[mask]))
        assert np.isfinite(got) and got == pytest.approx(want, abs=1e-5), name


def test_constant_inputs_give_zero_correlation_not_nan():
    c = np.full(10, 0.3)
    for fn in (metrics.ccc, metrics.pcc, metrics.icc):
        assert value(fn(c, c)) == 0.0
        assert value(fn(c, np.linspace(-1, 1, 10))) == pytest.approx(0.0, abs=1e-6)
    empty = np.zeros(4)
    for fn in metrics.FUNCTIONS.values():
        assert np.isfinite(value(fn(empty, empty, mask=empty)))


def test_axis_reduces_per_sequence():
    rng = np.random.default_rng(1)
    y = rng.uniform(-1, 1, (3, 50))
    x = y * 0.5 + rng.normal(0, 0.1, (3, 50))
    got = ops.convert_to_numpy(metrics.ccc(y, x, axis=1))
    assert np.allclose(got, [np_ccc(x[i], y[i]) for i in range(3)], atol=1e-5)


def test_streaming_metric_equals_whole_set_not_mean_of_batches():
    rng = np.random.default_rng(2)
    # Batches with different label offsets: per-batch CCCs differ from the corpus CCC.
    batches = []
    for offset in (-0.6, 0.0, 0.5):
        y = np.clip(rng.normal(offset, 0.2, (4, 20, 2)), -1, 1)
        x = y + rng.normal(0.05, 0.15, y.shape)
        batches.append((y.astype("float32"), x.astype("float32")))
    metric = metrics.StreamingAffectMetric("ccc", "arousal")
    per_batch = []
    for y, x in batches:
        metric.update_state(y, x)
        per_batch.append(np_ccc(x[..., 1].ravel(), y[..., 1].ravel()))
    all_y = np.concatenate([b[0] for b in batches])[..., 1].ravel()
    all_x = np.concatenate([b[1] for b in batches])[..., 1].ravel()
    whole = np_ccc(all_x, all_y)
    result = value(metric.result())
    assert result == pytest.approx(whole, abs=1e-4)
    assert abs(result - np.mean(per_batch)) > 0.05
    metric.reset_state()
    assert value(metric.result()) == 0.0


@pytest.mark.parametrize("kind", sorted(metrics.FUNCTIONS))
def test_streaming_metric_with_mask_matches_function(kind):
    rng = np.random.default_rng(3)
    y = rng.uniform(-1, 1, (6, 10, 2)).astype("float32")
    x = (y + rng.normal(0, 0.3, y.shape)).astype("float32")
    mask = (rng.uniform(size=(6, 10, 2)) > 0.2).astype("float32")
    metric = metrics.StreamingAffectMetric(kind, "valence")
    for i in range(0, 6, 2):
        metric.update_state(y[i : i + 2], x[i : i + 2], sample_weight=mask[i : i + 2])
    want = value(metrics.FUNCTIONS[kind](y[..., 0], x[..., 0], mask=mask[..., 0]))
    assert value(metric.result()) == pytest.approx(want, abs=1e-5)


def test_streaming_metric_config_round_trip_and_bad_names():
    m = metrics.StreamingAffectMetric("icc", "arousal")
    clone = metrics.StreamingAffectMetric.from_config(m.get_config())
    assert (clone.kind, clone.dimension, clone.name) == ("icc", "arousal", "arousal_icc")
    with pytest.raises(ValueError, match="unknown metric kind"):
        metrics.StreamingAffectMetric("r2")
    with pytest.raises(ValueError, match="unknown dimension"):
        metrics.StreamingAffectMetric("ccc", "dominance")
    names = [m.name for m in metrics.affect_metrics(("ccc",))]
    assert names == ["valence_ccc", "arousal_ccc"]
