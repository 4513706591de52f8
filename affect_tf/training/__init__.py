"""Training: :class:`TrainConfig` and :func:`train_and_evaluate` (used by the CLI, TFX and tests)."""
from affect_tf.training.config import TrainConfig
from affect_tf.training.fitting import TrainResult
from affect_tf.training.optimizers import make_optimizer
from affect_tf.training.trainer import search_model_option, train_and_evaluate

__all__ = ["TrainConfig", "TrainResult", "make_optimizer", "search_model_option", "train_and_evaluate"]
