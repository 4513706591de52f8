"""Implicit fusion's alpha grid as the preset's recipe (002 §4.2), pinned by --alpha, and the
warning on records without the auxiliary modality."""
import json
import warnings

import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features
from affect_tf.models.implicit_fusion.implicit_fusion import ImplicitFusionConfig
from affect_tf.training import TrainConfig, option_search

TINY = ImplicitFusionConfig(main="audio", alpha=0.5, units=4, specific_layers=1, shared_layers=1)


def test_implicit_fusion_presets_search_the_papers_grid():
    for name in ("implicit_fusion_audio", "implicit_fusion_visual"):
        cfg = TrainConfig.for_preset(name)
        assert cfg.search_option == "alpha"
        np.testing.assert_allclose(cfg.search_values, np.arange(0, 1.01, 0.1))  # [0.0, 1.0] by 0.1
    assert TrainConfig.for_preset("rnn_baseline_audio").search_values == ()
    pinned = option_search.pin_option(TrainConfig.for_preset("implicit_fusion_audio"), "alpha", 0.3)
    assert pinned.model_config().alpha == 0.3 and pinned.search_values == ()
    with pytest.raises(ValueError, match="no option 'alpha'"):
        option_search.pin_option(TrainConfig.for_preset("cnn_3rnn_fusion_rnn"), "alpha", 0.3)


def _data(face: bool, n=8, frames=6, seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.normal(size=(n, frames, features.EGEMAPS_DIM)).astype("float32")
    y = np.tanh(audio[..., :2])
    x = {features.EGEMAPS: audio, features.LANDMARKS: rng.normal(size=(n, frames, 68, 2)).astype("float32"),
         features.AUDIO_MASK: np.ones((n, frames), "float32"),
         features.FACE_MASK: np.full((n, frames), float(face), "float32")}
    labels = {features.TARGETS: y.astype("float32"), features.LABEL_MASK: np.ones((n, frames, 2), "float32")}
    return tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)


def _cfg():
    return TrainConfig(preset="implicit_fusion_audio", model=TINY, epochs=1, tensorboard=False,
                       early_stopping_patience=0, search_option="alpha", search_values=(0.0, 1.0))


def test_search_runs_each_alpha_and_keeps_the_best_on_validation(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, scores = option_search.train(_cfg(), tmp_path, _data(True), _data(True, seed=1))
    assert not [w for w in caught if "features, so the auxiliary loss" in str(w.message)]  # both present
    assert sorted(scores) == [0.0, 1.0]
    best = max(scores, key=scores.get)
    assert result.model.config.alpha == best
    assert json.loads((tmp_path / "search.json").read_text())["best"] == best
    for alpha in (0.0, 1.0):
        assert (tmp_path / f"alpha={alpha}" / "model.keras").exists()


def test_speech_only_records_say_so_once_and_train_once(tmp_path):
    with pytest.warns(UserWarning, match="no visual features.*baseline.*search is skipped") as caught:
        result, scores = option_search.train(_cfg(), tmp_path, _data(False), _data(False, seed=1))
    assert len([w for w in caught if "no visual features" in str(w.message)]) == 1
    assert scores == {} and not list(tmp_path.glob("alpha=*"))
    assert (tmp_path / "model.keras").exists() and result.model.config.alpha == 0.5


def test_without_validation_data_the_configs_value_is_trained(tmp_path):
    with pytest.warns(UserWarning, match="no validation data to search alpha on: training alpha=0.5 only"):
        result, scores = option_search.train(_cfg(), tmp_path, _data(True))
    assert scores == {} and result.model.config.alpha == 0.5 and not list(tmp_path.glob("alpha=*"))
