"""affect_tf.evaluation and affect_tf.evaluation_io against numpy/scipy references and
hand-computed cases."""
import json

import numpy as np
import pytest
from scipy import ndimage, stats

from affect_tf import evaluation as ev
from affect_tf import evaluation_io, export, postprocess
from affect_tf import features as F


def ref_ccc(x, y):
    mx, my = x.mean(), y.mean()
    return 2 * np.mean((x - mx) * (y - my)) / (x.var() + y.var() + (mx - my) ** 2)


def ref_icc(x, y):
    return 2 * np.mean((x - x.mean()) * (y - y.mean())) / (x.var() + y.var())


def make_recordings(seed=0, n=4):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(5, 30))
        labels = rng.uniform(-1, 1, (length, 2))
        preds = 0.7 * labels + rng.normal(0, 0.3, (length, 2)) + 0.1
        mask = (rng.uniform(size=(length, 2)) > 0.2).astype(float)
        labels[mask == 0] = -5.0  # Aff-Wild2's "unannotated" sentinel must not leak in
        out.append(ev.RecordingPredictions(f"rec{i}", preds, labels, mask))
    return out


def test_frame_metrics_match_numpy_over_all_valid_frames():
    recs = make_recordings()
    got = ev.frame_metrics(recs)
    for d, name in enumerate(("valence", "arousal")):
        x = np.concatenate([r.predictions[r.label_mask[:, d] > 0, d] for r in recs])
        y = np.concatenate([r.labels[r.label_mask[:, d] > 0, d] for r in recs])
        assert got["frames"][d] == len(x)
        assert got[name]["ccc"] == pytest.approx(ref_ccc(x, y), abs=1e-5)
        assert got[name]["pcc"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-5)
        assert got[name]["icc"] == pytest.approx(ref_icc(x, y), abs=1e-5)
        assert got[name]["rmse"] == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), abs=1e-5)


def test_chosen_median_window_is_the_evaluators_best():
    # Traces that sit far from 0 at their ends: an edge rule that pads with zeros scores the
    # windows differently from one that repeats the end values, so the chooser must filter as
    # the evaluator does.
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    recs = []
    for i in range(6):
        labels = np.stack([0.8 - 0.1 * t + 0.05 * np.sin(20 * t + i), -0.7 + 0.1 * t], -1)
        recs.append(ev.RecordingPredictions(str(i), labels + rng.normal(0, 0.15, labels.shape), labels,
                                            np.ones_like(labels)))
    candidates = (1, 3, 5, 9, 17, 33)
    chosen = ev.choose_median_window(recs, candidates)
    for d, name in enumerate(("valence", "arousal")):
        scores = {}
        for w in candidates:
            window = (w, 1) if d == 0 else (1, w)
            scores[w] = ev.evaluate_recordings(recs, ev.EvaluationConfig(median_window=window))["frame"][name]["ccc"]
        assert chosen[d] == max(scores, key=scores.get)


def test_utterance_metrics_hand_computed():
    # Three utterances with constant labels (as in OMG-Emotion); median of the frames predicts.
    recs = [
        ev.RecordingPredictions("a", np.array([[0.1, 0.0], [0.3, 0.2], [0.9, 0.4]]), np.full((3, 2), 0.2), np.ones((3, 2))),
        ev.RecordingPredictions("b", np.array([[-0.5, 0.5], [-0.4, 0.7]]), np.full((2, 2), -0.6), np.ones((2, 2))),
        # last frame unlabelled: its (wild) prediction is left out of the utterance value
        ev.RecordingPredictions("c", np.array([[0.6, -0.2], [0.8, -0.4], [-9.0, 9.0]]), np.full((3, 2), 0.7),
                     np.array([[1, 1], [1, 1], [0, 0]], float)),
    ]
    pred, label, mask = ev.utterance_values(recs[0], "median")
    np.testing.assert_allclose(pred, [0.3, 0.2])
    np.testing.assert_allclose(label, [0.2, 0.2])
    got = ev.utterance_metrics(recs, "median")
    xv = np.array([0.3, -0.45, 0.7])
    xa = np.array([0.2, 0.6, -0.3])
    y = np.array([0.2, -0.6, 0.7])
    assert got["utterances"] == [3, 3]
    assert got["valence"]["ccc"] == pytest.approx(ref_ccc(xv, y), abs=1e-5)
    assert got["arousal"]["ccc"] == pytest.approx(ref_ccc(xa, y), abs=1e-5)
    mean_got = ev.utterance_metrics(recs, "mean")
    xv_mean = np.array([np.mean([0.1, 0.3, 0.9]), -0.45, 0.7])
    assert mean_got["valence"]["rmse"] == pytest.approx(np.sqrt(np.mean((xv_mean - y) ** 2)), abs=1e-5)


def test_postprocessing_applies_per_dimension_windows():
    rec = make_recordings(n=1)[0]
    config = ev.EvaluationConfig(median_window=(5, 1))
    out = ev.postprocess_predictions(rec, config)
    np.testing.assert_allclose(out.predictions[:, 0], ndimage.median_filter(rec.predictions[:, 0], 5, mode="nearest"))
    np.testing.assert_allclose(out.predictions[:, 1], rec.predictions[:, 1])


def test_report_score_and_bless_rule():
    recs = make_recordings()
    config = ev.EvaluationConfig(margin=0.05, floor=0.3)
    good = ev.evaluate_recordings(recs, config)
    assert good["score"]["value"] == pytest.approx(
        np.mean([good["frame"]["valence"]["ccc"], good["frame"]["arousal"]["ccc"]]))
    worse_recs = [ev.RecordingPredictions(r.recording_id, 0.5 * r.predictions + 0.5 * np.random.default_rng(3).normal(
        size=r.predictions.shape), r.labels, r.label_mask) for r in recs]
    worse = ev.evaluate_recordings(worse_recs, config)
    assert worse["score"]["value"] < good["score"]["value"]

    assert ev.bless(good, None, config).blessed  # first model: only the floor applies
    assert not ev.bless(worse, good, config).blessed
    assert ev.bless(good, worse, config).blessed == (good["score"]["value"] - worse["score"]["value"] >= 0.05)
    assert not ev.bless(good, good, config).blessed  # equal is not better by the margin
    assert ev.bless(good, good, config.replace(margin=0.0)).blessed
    high_floor = config.replace(floor=good["score"]["value"] + 0.01)
    decision = ev.bless(good, None, high_floor)
    assert not decision.blessed and "floor" in decision.reason
    # the blessed model's score is recorded even when the floor already rejects the candidate
    rejected = ev.bless(worse, good, config.replace(floor=0.99))
    assert not rejected.blessed and rejected.baseline == pytest.approx(good["score"]["value"])
    # RMSE: lower is better
    rmse_config = ev.EvaluationConfig(metric="rmse", margin=0.0, floor=10.0)
    assert ev.bless(ev.evaluate_recordings(recs, rmse_config), ev.evaluate_recordings(worse_recs, rmse_config),
                    rmse_config).blessed


def test_config_validation_and_round_trip():
    from affect_tf.config import config_from_json

    config = ev.EvaluationConfig(median_window=(81, 3), level="utterance", margin=0.02, floor=0.5)
    assert config_from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="odd"):
        ev.EvaluationConfig(median_window=(4, 1))
    with pytest.raises(ValueError, match="metric"):
        ev.EvaluationConfig(metric="f1")


def test_collect_predictions_stitches_windows_and_drops_padding():
    # One recording of 5 frames in windows of 3 (the last window padded), one of 2 frames.
    labels = np.arange(10, dtype=float).reshape(5, 2) / 10
    batches = []
    windows = [("r1", [0, 1, 2], 3), ("r1", [3, 4, 0], 2), ("r2", [0, 1, 0], 2)]
    feats = {F.FRAME_MASK: [], }
    meta = {F.RECORDING_ID: [], F.FRAME_INDEX: []}
    targets, masks = [], []
    for rid, idx, valid in windows:
        feats[F.FRAME_MASK].append([1.0] * valid + [0.0] * (3 - valid))
        meta[F.RECORDING_ID].append(rid.encode())
        meta[F.FRAME_INDEX].append(idx)
        targets.append([labels[i] for i in idx])
        masks.append(np.ones((3, 2)))
    batch = ({F.FRAME_MASK: np.array(feats[F.FRAME_MASK])},
             {F.TARGETS: np.array(targets), F.LABEL_MASK: np.array(masks)},
             {k: np.array(v) for k, v in meta.items()})
    batches.append(batch)
    recs = ev.collect_predictions(lambda f: np.asarray(batch[1][F.TARGETS]) * 2.0, batches)
    assert [r.recording_id for r in recs] == ["r1", "r2"]
    np.testing.assert_allclose(recs[0].predictions, labels * 2.0)
    np.testing.assert_allclose(recs[0].labels, labels)
    assert len(recs[1].predictions) == 2


def test_report_and_plot_written(tmp_path):
    recs = make_recordings()
    report = ev.evaluate_recordings(recs, ev.EvaluationConfig())
    path = evaluation_io.write_json(report, str(tmp_path / "out" / "report.json"))
    assert json.load(open(path))["frame"]["valence"]["ccc"] == pytest.approx(report["frame"]["valence"]["ccc"])
    png = evaluation_io.plot_predictions(recs, str(tmp_path / "out" / "plot.png"), title="t")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plot.png", "report.json"]


def test_evaluation_config_takes_the_export_window_unless_given(tmp_path):
    version = tmp_path / "models" / "3"
    (version / "assets").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    export.update_metadata(version, {"median_window": [33, 3]})
    base = tmp_path / "models"
    assert evaluation_io.config_with_export_window({"floor": 0.2}, str(base)).median_window == (33, 3)
    given = evaluation_io.config_with_export_window({"median_window": [1, 5]}, str(base))
    assert given.median_window == (1, 5)
    (version / "assets" / export.METADATA_FILE).unlink()
    assert evaluation_io.config_with_export_window({}, str(base)).median_window == (1, 1)
