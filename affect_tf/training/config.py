"""The training configuration (one frozen, JSON round-trippable object per run)."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from affect_tf import presets
from affect_tf.config import Config, ModelConfig, register_config

STRATEGIES = ("default", "mirrored", "one_device", "multi_worker_mirrored")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


@register_config
@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Everything that varies between training runs.

    Defaults follow ``004`` §6.1 (CNN-RNN family): Adam, batches of 4 sequences of 80 frames,
    learning rate 1e-4 for end-to-end training.

    ``model`` overrides the preset's model config (e.g. a shrunk copy for tests). A preset's own
    training defaults (its paper's settings) come with :meth:`for_preset`.
    """

    # Fields older versions wrote into train_config.json: such files still load, with a warning.
    RETIRED_FIELDS: ClassVar[dict] = {
        "trainer_options": "no trainer ever read it (removed with the training recipes, issue 11); "
                           "loss weights are model config fields, e.g. DiLaSTConfig.lambda_d; "
                           "it will stop loading in a later release: save the config again"}

    preset: str = "cnn_3rnn_2ndpool_lastpool_fc"
    model: ModelConfig | None = None
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training data
    validation_steps: int | None = None
    batch_size: int = 4
    window: int = 80  # frames per training sequence (T)
    learning_rate: float = 1e-4
    optimizer: str = "adam"
    adam_beta_1: float = 0.9  # Adam/AdamW first-moment decay (the adversarial papers' code: 0.5)
    clipnorm: float | None = None
    early_stopping_patience: int = 5  # epochs without a better monitored value; 0 = off
    monitor: str = "val_mean_ccc"  # maximised; "mean_ccc" when there is no validation data
    mixed_precision: bool = False  # "mixed_float16" policy (loss scaling added by compile)
    strategy: str = "default"  # one of STRATEGIES
    seed: int = 0
    warm_start: str | None = None  # .weights.h5 or .keras file to start from
    # .npz of the face CNN (affect-tf pretrain, tools/convert_vgg_face.py), loaded before a warm start
    backbone_weights: str | None = None
    # with backbone_weights: the face CNN keeps the file's weights and only the layers above it
    # train (on a few hundred faces as good as fine-tuning it, in 60 % of the time: docs/faces.md)
    freeze_backbone: bool = False
    refit_standardization: bool = False  # warm starts keep the source's feature statistics
    # model-level fusion (004 §5.4.1): one trained member model per member, in order (.keras files
    # or `affect-tf train` work directories); their CNN and RNN weights are loaded before training
    fusion_members: tuple[str, ...] = ()
    # a model-config field searched as part of the recipe (implicit fusion's alpha grid, 002
    # §4.2): one run per value, the best on validation kept (affect_tf.training.option_search)
    search_option: str | None = None
    search_values: tuple[float, ...] = ()
    shuffle: bool = True
    tensorboard: bool = True
    jit_compile: bool = False
    # L_afc's class balancing (affect_tf.losses.AFC_BALANCES): "per_class" reads 000 eq. 5 / 001
    # eq. 14-18 as written (terms per label bin, weighted by its share); the default keeps the
    # authors' inverse-frequency weights, with which the generator-denoising and AVi-GaS learning
    # tests pass (with per_class both fail: measured after issue 24's change)
    afc_balance: str = "inverse_frequency"

    def __post_init__(self):
        if self.freeze_backbone and not self.backbone_weights:
            raise ValueError("TrainConfig.freeze_backbone needs backbone_weights (a random CNN would stay random)")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"TrainConfig.strategy {self.strategy!r}: expected one of {STRATEGIES}")
        from affect_tf.losses import AFC_BALANCES

        if self.afc_balance not in AFC_BALANCES:
            raise ValueError(f"TrainConfig.afc_balance {self.afc_balance!r}: expected one of {AFC_BALANCES}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer {self.optimizer!r}: expected one of {OPTIMIZERS}")
        for name in ("epochs", "batch_size", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")

    @classmethod
    def for_preset(cls, name: str, **overrides) -> "TrainConfig":
        """The preset's training defaults (``Preset.training``), then ``overrides``."""
        return cls(preset=name, **{**presets.get_preset(name).training, **overrides})

    def model_config(self) -> ModelConfig:
        """``model`` when given, else the registered preset's config."""
        if self.model is not None:
            return self.model
        return presets.get_preset(self.preset).config
