"""Post-processing (004 §6.3) against scipy.ndimage.median_filter and numpy."""
import numpy as np
import pytest
from scipy import ndimage

from affect_tf import postprocess


def nearest_median(x, window):
    return ndimage.median_filter(x, window, mode="nearest")


@pytest.mark.parametrize("window", [1, 3, 5, 81])
def test_median_filter_matches_scipy(window):
    x = np.random.default_rng(window).normal(size=100) + 0.7
    np.testing.assert_allclose(postprocess.median_filter(x, window), nearest_median(x, window))


def test_median_filter_ends_repeat_the_end_values():
    # hand-computed: windows at the ends are [2, 2, 3] and [5, 7, 7], not [0, 2, 3] and [5, 7, 0]
    np.testing.assert_allclose(postprocess.median_filter([2.0, 3.0, 9.0, 5.0, 7.0], 3), [2, 3, 5, 7, 7])


def test_per_dimension_windows():
    x = np.random.default_rng(0).normal(size=(90, 2))
    out = postprocess.median_filter_per_dimension(x, (81, 3))
    np.testing.assert_allclose(out[:, 0], nearest_median(x[:, 0], 81))
    np.testing.assert_allclose(out[:, 1], nearest_median(x[:, 1], 3))
    with pytest.raises(ValueError, match="odd"):
        postprocess.median_filter(x[:, 0], 4)


def test_aggregation_over_the_whole_utterance():
    v = np.array([[0.0, 1.0], [3.0, 1.0], [6.0, 4.0], [9.0, 4.0]])
    mask = np.array([1, 1, 0, 1])
    np.testing.assert_allclose(postprocess.aggregate(v, mask, "mean"), v[[0, 1, 3]].mean(0))
    np.testing.assert_allclose(postprocess.aggregate(v, mask, "median"), np.median(v[[0, 1, 3]], 0))


def test_utterance_value_is_the_mean_of_sequence_medians():
    # 004 §1/§7 by hand: 7 frames in sequences of 3 -> [1, 2, 9] [4, 4, 5] [30] (frame 4 masked)
    v = np.array([1.0, 2.0, 9.0, 4.0, 100.0, 5.0, 30.0])
    mask = np.array([1, 1, 1, 1, 0, 1, 1])
    # medians 2, 4.5, 30 -> mean 12.1666...; the median over the utterance would be 4.5
    assert postprocess.aggregate(v, mask, "median", sequence_frames=3) == pytest.approx((2 + 4.5 + 30) / 3)
    assert postprocess.aggregate(v, mask, "median") == pytest.approx(4.5)
    assert postprocess.aggregate(v, mask, "mean", sequence_frames=3) == pytest.approx((4 + 4.5 + 30) / 3)


def test_evaluation_reports_the_papers_utterance_value():
    from affect_tf import evaluation

    rec = evaluation.RecordingPredictions("u", np.stack([np.r_[np.zeros(80), np.ones(40)]] * 2, -1),
                                          np.zeros((120, 2)), np.ones((120, 2)))
    # sequences of 80: medians 0 and 1 -> 0.5 (the utterance median would be 0)
    pred, _, _ = evaluation.utterance_values(rec)
    np.testing.assert_allclose(pred, [0.5, 0.5])
    pred, _, _ = evaluation.utterance_values(rec, sequence_frames=0)
    np.testing.assert_allclose(pred, [0.0, 0.0])
    assert evaluation.EvaluationConfig().utterance_sequence == 80


def test_choose_windows_keeps_filtering_only_when_it_helps():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 6, 200)
    label = np.stack([np.sin(t), np.cos(3 * t)], -1)
    # valence predictions carry impulsive noise (a median filter helps); arousal is exact
    noisy = label.copy()
    spikes = rng.choice(200, 30, replace=False)
    noisy[spikes, 0] += rng.choice([-3, 3], 30)
    windows = postprocess.choose_median_windows([noisy], [label])
    assert windows[0] > 1 and windows[1] == 1
