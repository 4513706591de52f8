"""train_and_evaluate: learning, masks, checkpoints, resume files, strategies, mixed precision."""
import dataclasses
import importlib.util
import json

import keras
import numpy as np
import pytest

from affect_tf import features, metrics
from affect_tf.config import config_from_json
from affect_tf.training import TrainConfig, train_and_evaluate
from affect_tf.training import fitting

from tests.training import tiny_task


def _cfg(**kw):
    base = dict(model=tiny_task.TinyGruConfig(units=8), epochs=6, learning_rate=0.02,
                early_stopping_patience=0, tensorboard=False)
    base.update(kw)
    return TrainConfig(**base)


def test_train_config_round_trip_and_validation():
    cfg = _cfg(optimizer="sgd", clipnorm=1.0)
    assert config_from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(strategy="parameter_server")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_learns_known_task_and_writes_artifacts(tmp_path):
    train = tiny_task.task_dataset(64, seed=0)
    val = tiny_task.task_dataset(32, seed=1)
    result = train_and_evaluate(_cfg(tensorboard=True), tmp_path, train, val)

    # Learning: the validation CCC ends high on held-out sequences and beats the first epoch.
    hist = result.history
    assert hist["val_mean_ccc"][0] < max(hist["val_mean_ccc"])
    assert result.metrics["val_mean_ccc"] > 0.7, result.metrics
    for key in ("val_valence_ccc", "val_arousal_ccc", "val_valence_rmse", "val_loss"):
        assert key in result.metrics
    # The final metrics are those of the best checkpoint (restored before evaluation).
    assert result.metrics["val_mean_ccc"] == pytest.approx(max(hist["val_mean_ccc"]), abs=1e-4)

    # Independent check of the streaming CCC: numpy CCC over the labelled frames only.
    feats, labels, clean = tiny_task.task_arrays(32, seed=1)
    pred = keras.ops.convert_to_numpy(result.model(feats)[features.TARGETS])
    mask = labels[features.LABEL_MASK] > 0
    for d, name in enumerate(metrics.DIMENSIONS):
        x, y = pred[..., d][mask[..., d]], clean[..., d][mask[..., d]]
        ccc = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
        assert result.metrics[f"val_{name}_ccc"] == pytest.approx(ccc, abs=1e-4)

    assert (tmp_path / "checkpoints" / "best.weights.h5").exists()
    if importlib.util.find_spec("tensorboard"):  # not installed in every environment
        assert any((tmp_path / "logs").rglob("events.out.tfevents*"))
    assert config_from_json((tmp_path / "train_config.json").read_text()) == _cfg(tensorboard=True)
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(result.metrics)
    restored = keras.saving.load_model(result.keras_path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(feats)[features.TARGETS]), pred, atol=1e-6)


def test_masked_labels_do_not_leak(tmp_path):
    """Sentinel values (-5) behind the mask must not change the loss."""
    model = tiny_task.TinyGruConfig().build()
    feats, labels, clean = tiny_task.task_arrays(4, seed=3, missing=0.5)
    pred = model(feats)
    loss_sentinel = float(model.compute_loss(feats, labels, pred))
    labels_clean = dict(labels, **{features.TARGETS: clean})
    assert float(model.compute_loss(feats, labels_clean, pred)) == pytest.approx(loss_sentinel)
    # ...while padding frames (frame_mask = 0) are excluded as well.
    padded = dict(feats, **{features.FRAME_MASK: np.zeros((4, 8), "float32")})
    assert float(model.compute_loss(padded, labels, pred)) == pytest.approx(1.0)


def test_warm_start_and_early_stopping_callbacks(tmp_path):
    source = tiny_task.TinyGruConfig(units=8).build()
    source(tiny_task.task_arrays(1)[0])
    source.save(tmp_path / "source.keras")
    cfg = _cfg(epochs=1, warm_start=str(tmp_path / "source.keras"), learning_rate=1e-12,
               optimizer="sgd")
    result = train_and_evaluate(cfg, tmp_path / "run", tiny_task.task_dataset(4))
    assert result.checkpoint_path and "val_mean_ccc" not in result.metrics
    for a, b in zip(source.get_weights(), result.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    callbacks, _ = fitting.callbacks_for(_cfg(early_stopping_patience=3), tmp_path, "val_mean_ccc", True)
    (stop,) = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
    assert (stop.monitor, stop.patience, stop.mode) == ("val_mean_ccc", 3, "max")
    with pytest.raises(FileNotFoundError, match="nowhere.keras"):
        train_and_evaluate(_cfg(warm_start="nowhere.keras"), tmp_path / "x", tiny_task.task_dataset(4))
    target = tiny_task.TinyGruConfig(units=4).build()  # same layers, other widths: a clear error
    target(tiny_task.task_arrays(1)[0])
    with pytest.raises(ValueError, match=r"source.keras: \d+ of its \d+ weights have no counterpart"):
        fitting.warm_start(target, str(tmp_path / "source.keras"))


def test_mirrored_strategy_with_mixed_precision(tmp_path):
    """MirroredStrategy over the one CPU device, mixed_float16 policy: finite, falling loss."""
    cfg = _cfg(strategy="mirrored", mixed_precision=True, epochs=2)
    result = train_and_evaluate(cfg, tmp_path, tiny_task.task_dataset(8), tiny_task.task_dataset(4, seed=1))
    assert result.model.proj.compute_dtype == "float16"
    assert isinstance(result.trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(v) for v in result.history["loss"])
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert np.isfinite(result.metrics["val_mean_ccc"])
    assert keras.mixed_precision.global_policy().name == "float32"  # not leaked


class RecordingTrainer(keras.Model):
    """A minimal registered trainer following the contract: wraps the model, own train_step."""

    def __init__(self, model, train_config):
        super().__init__()
        self.model = model
        self.train_config = train_config
        self.steps = keras.metrics.Sum(name="steps")

    def call(self, x, training=False):
        return self.model(x, training=training)

    def compile_for(self, train_config):
        self.compile(optimizer=keras.optimizers.SGD(train_config.learning_rate))
        self.compiled_by = "compile_for"

    def train_step(self, data):
        self.steps.update_state(1.0)
        return {"steps": self.steps.result(), "mean_ccc": self.steps.result()}

    @property
    def metrics(self):
        return [self.steps]


@dataclasses.dataclass(frozen=True)
class HookedConfig(tiny_task.TinyGruConfig):
    pass


def test_registered_trainer_hook(tmp_path):
    from affect_tf.config import register_config
    from affect_tf.training import registry
    if "HookedConfig" not in __import__("affect_tf.config").config._CONFIG_TYPES:
        register_config(HookedConfig)
    registry.register_trainer(HookedConfig, RecordingTrainer)
    result = train_and_evaluate(_cfg(model=HookedConfig(), epochs=2), tmp_path,
                                tiny_task.task_dataset(8))
    assert isinstance(result.trainer, RecordingTrainer)
    assert result.trainer.compiled_by == "compile_for"
    assert result.trainer.model is result.model
    assert result.history["steps"] == [2.0, 2.0]  # trackers reset each epoch
