"""Which trainer fits a model config: model configs do not name their trainers, the trainers
register here (config class -> trainer class). Configs without one use the standard Keras loop."""
from __future__ import annotations

_TRAINERS: dict[type, type] = {}


def register_trainer(config_class: type, trainer_class: type) -> None:
    """``trainer_class(model, train_config)`` trains models of ``config_class`` (and sub-classes)."""
    _TRAINERS[config_class] = trainer_class


def trainer_class(model_config):
    """The registered trainer class of ``model_config``'s class (nearest base first), or None
    (the trainers' modules must have been imported: :mod:`affect_tf.training.fitting` imports them)."""
    for cls in type(model_config).__mro__:
        if cls in _TRAINERS:
            return _TRAINERS[cls]
    return None
