"""The optimizer a :class:`TrainConfig` names (the Keras loop and every registered trainer)."""
from __future__ import annotations

import keras

from affect_tf.training.config import TrainConfig


def make_optimizer(train_config: TrainConfig):
    """The optimizer named in the config with its learning rate, Adam beta_1 and clipnorm."""
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    kwargs = {"learning_rate": train_config.learning_rate}
    if train_config.optimizer in ("adam", "adamw"):
        kwargs["beta_1"] = train_config.adam_beta_1
    if train_config.clipnorm:
        kwargs["clipnorm"] = train_config.clipnorm
    return classes[train_config.optimizer](**kwargs)
