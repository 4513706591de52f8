"""Implicit fusion by joint audiovisual training (``002`` §3.2, eq. 1-4).

Modality-specific GRU blocks map audio (eGeMAPS LLDs) and visual features (the 68 landmarks,
flattened) into one K-dimensional space (eq. 1); shared GRU blocks and the output layer give a
prediction from either representation (eq. 2). Training minimises ``L_main + alpha * L_aux``
(eq. 3-4): the main modality's CCC loss plus alpha times the auxiliary modality's, both through
the *same* shared layers. Inference needs the main modality only (:meth:`inference_model`).
Layer sizes follow §4.2: GRU(100), two specific and two shared layers (RECOLA setting).
"""
from __future__ import annotations

import dataclasses

import keras
from keras import ops

from affect_tf import features, losses
from affect_tf.config import ModelConfig, register_config
from affect_tf.models.affect_model import AffectModel, label_mask

MODALITIES = {"audio": features.EGEMAPS, "visual": features.LANDMARKS}
MASKS = {"audio": features.AUDIO_MASK, "visual": features.FACE_MASK}


@register_config
@dataclasses.dataclass(frozen=True)
class ImplicitFusionConfig(ModelConfig):
    main: str = "audio"  # the modality used at inference; the other one is auxiliary
    alpha: float = 0.5  # weight of the auxiliary loss (eq. 3-4); 0 = the mono-modal baseline
    units: int = 100
    specific_layers: int = 2
    shared_layers: int = 2
    inference_only: bool = False  # True: only the main branch exists (the served model)

    def __post_init__(self):
        if self.main not in MODALITIES:
            raise ValueError(f"main {self.main!r}: expected one of {sorted(MODALITIES)}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")

    @property
    def aux(self) -> str:
        return "visual" if self.main == "audio" else "audio"

    def modalities(self):
        return (self.main,) if self.inference_only else (self.main, self.aux)

    def input_shapes(self):
        shapes = {
            "audio": {features.EGEMAPS: (None, features.EGEMAPS_DIM)},
            "visual": {features.LANDMARKS: (None, features.N_LANDMARKS, 2)},
        }
        out = {}
        for modality in self.modalities():
            out.update(shapes[modality])
        return out


def _gru_block(units, n, prefix):
    return [keras.layers.GRU(units, return_sequences=True, name=f"{prefix}_gru{i + 1}")
            for i in range(n)]


@keras.saving.register_keras_serializable(package="affect_tf")
class ImplicitFusion(AffectModel):
    """``call`` predicts from the main modality; the auxiliary branch enters only the loss."""

    def __init__(self, config: ImplicitFusionConfig = None, **kwargs):
        config = config or ImplicitFusionConfig()
        super().__init__(config=config, **kwargs)
        self.specific = {
            m: _gru_block(config.units, config.specific_layers, f"{m}_specific")
            for m in config.modalities()
        }
        self.shared = _gru_block(config.units, config.shared_layers, "shared")
        self.head = keras.layers.Dense(2, dtype="float32", name="valence_arousal")
        # Build every branch now: the auxiliary one is never reached by call(), only by the loss.
        for modality, shape in zip(config.modalities(), config.input_shapes().values()):
            dim = 1
            for d in shape[1:]:
                dim *= d
            for layer in self.specific[modality]:
                layer.build((None, None, dim))
                dim = config.units
        for layer in self.shared:
            layer.build((None, None, config.units))
        self.head.build((None, None, config.units))

    def predict_from(self, inputs, modality, training=False):
        """p_m = SH(SP_m(f_m)) (eq. 1-2), (B, T, 2)."""
        return self._branch(inputs, modality, training)[0]

    def _branch(self, inputs, modality, training=False, states=None):
        """:meth:`predict_from` and each GRU's state after the last frame (its last output), the
        GRUs starting from ``states`` (zeros when None)."""
        x = self.standardized(inputs)[MODALITIES[modality]]
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], -1))
        after = []
        for i, layer in enumerate(self.specific[modality] + self.shared):
            x = layer(x, initial_state=None if states is None else states[i], training=training)
            after.append(x[:, -1])
        return self.head(x), after

    def call(self, inputs, training=False):
        return {features.TARGETS: self.predict_from(inputs, self.config.main, training=training)}

    # -- streaming: the served branch is GRUs only, all causal (affect_tf.export's serving_stream)
    def stream_state_shapes(self) -> list:
        """Per-example shape of each GRU state of the served branch (main-specific, then shared)."""
        return [(self.config.units,)] * (self.config.specific_layers + self.config.shared_layers)

    def call_streaming(self, inputs, states):
        """Inference over one chunk of frames from ``states``: (outputs, states after it)."""
        out, after = self._branch(inputs, self.config.main, states=states)
        return {features.TARGETS: out}, after

    def affect_loss(self, x, y, y_pred, training=True):
        loss = super().affect_loss(x, y, y_pred, training=training)
        cfg = self.config
        if not training or cfg.alpha == 0 or cfg.inference_only:
            return loss
        mask = label_mask(x, y)
        if x.get(MASKS[cfg.aux]) is not None:  # frames where the auxiliary modality is missing
            mask = mask * ops.expand_dims(ops.cast(x[MASKS[cfg.aux]], "float32"), -1)
        aux_pred = self.predict_from(x, cfg.aux, training=True)
        return loss + cfg.alpha * losses.ccc_loss(y[features.TARGETS], aux_pred, mask)

    def inference_model(self):
        """The main branch + shared layers only, with these weights (the served model)."""
        cfg = self.config.replace(inference_only=True)
        model = ImplicitFusion(config=cfg, name=self.name)
        dummy = {k: ops.zeros((1, 2, *s[1:])) for k, s in cfg.input_shapes().items()}
        model(dummy)
        for src, dst in zip(self.specific[cfg.main] + self.shared + [self.head],
                            model.specific[cfg.main] + model.shared + [model.head]):
            dst.set_weights(src.get_weights())
        model.standardization.copy_statistics(self.standardization)
        return model


ImplicitFusionConfig.model_class = ImplicitFusion
