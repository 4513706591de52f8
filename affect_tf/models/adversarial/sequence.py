"""Sequence models on ZQ latents: ANCLaF-S-n / ANCLaF-SA-n (``003`` §3.2) and DiLaST-SA
(Vi-DeS, Au-DeS, AVi-CaS, AVi-GaS; ``001`` §3.2).

Per modality a frozen front end (G and D of a trained DiLaST/ANCLaF) turns each frame into ZQ; the
modalities are used alone, concatenated (ZQ^CAT, eq. 4) or fused by a gated multimodal unit
(ZQ^GATE, eq. 5-8); enc_P turns every frame into a feature vector and an LSTM with attention over
its n previous [h; c] states (eq. 9-12) followed by an FC layer gives valence/arousal per frame.
``latents(features)`` and ``predict_latents(latents)`` split the two stages, so the second stage
can train on cached ZQ latents (``003`` §3.4, ``001`` §3.4).
"""
from __future__ import annotations

import dataclasses

import keras
from keras import layers, ops

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.layers import GatedMultimodalUnit, StateAttentionLSTM
from affect_tf.models.adversarial.latent_encoder import LatentEncoder, estimated_quadrant, zq
from affect_tf.models.adversarial.adversarial_model import AdversarialModel, fold, unfold
from affect_tf.models.adversarial.dilast import LatentFrontendFields, make_frontend

FUSIONS = ("none", "concat", "gmu")


@register_config
@dataclasses.dataclass(frozen=True)
class LatentSequenceConfig(ModelConfig, LatentFrontendFields):
    """``modalities``: ("face",), ("mel",) or both; ``fusion``: "none" (one modality), "concat"
    (AVi-CaS) or "gmu" (AVi-GaS); ``attention`` over ``n_states`` previous states (-SA / DeS) or a
    plain LSTM (-S); ``lstm_units`` as in our size budget (Table 11 of ``001``).
    ``attention_from_start``: the sequence curriculum trains with attention at every length
    (``001`` §3.4, DiLaST-SA) instead of plain S-2 ... S-n then SA-n (``003`` §3.4)."""

    modalities: tuple[str, ...] = (features.FACE,)
    fusion: str = "none"
    attention: bool = True
    n_states: int = 8
    lstm_units: int = 128
    denoise: bool = True  # how the front ends are trained (degraded inputs or not)
    attention_from_start: bool = False
    # the GMU's h_v, h_s (eq. 7-8): "elementwise" W ⊙ ZQ as the equations write them, or "dense"
    # (1x1 convolutions, before issue 24); affect_tf.layers.GatedMultimodalUnit
    gmu_projection: str = "elementwise"

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ValueError(f"LatentSequenceConfig.fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if (self.fusion == "none") != (len(self.modalities) == 1):
            raise ValueError("LatentSequenceConfig: fusion 'none' takes one modality, concat/gmu two")
        for m in self.modalities:
            if m not in (features.FACE, features.MEL):
                raise ValueError(f"LatentSequenceConfig: unknown modality {m!r}")
        self.check_sizes(self.modalities)

    def input_shapes(self):
        shapes = {}
        for m in self.modalities:
            shapes[m] = ((None, features.N_MELS, features.MEL_FRAMES) if m == features.MEL
                         else (None, self.image_size, self.image_size, 3))
        return shapes

    def frontend_config(self, modality: str):
        """The per-frame DiLaST/ANCLaF whose G and D this model's ``modality`` front end takes."""
        from affect_tf.models.adversarial.dilast import DiLaSTConfig

        sizes = {f.name: getattr(self, f.name) for f in dataclasses.fields(LatentFrontendFields)}
        return DiLaSTConfig(modality=modality, denoise=self.denoise, **sizes)

    def latent_shape(self):
        side = self.image_size // 4
        return (side, side, 4 * self.generator_filters + 1)


@keras.saving.register_keras_serializable(package="affect_tf")
class LatentSequenceModel(AdversarialModel):
    """Outputs ``valence_arousal`` (B, T, 2), plus ``attention`` (B, T, n_states) with attention
    and ``gate`` (B, T) (the GMU gate averaged over the ZQ map) with GMU fusion."""

    def __init__(self, config: LatentSequenceConfig = None, **kwargs):
        super().__init__(config=config or LatentSequenceConfig(), **kwargs)
        cfg = self.config
        self.frontends = {m: make_frontend(cfg, m, with_critic=False) for m in cfg.modalities}
        # keep them as tracked attributes with deterministic names
        for m, (generator, discriminator) in self.frontends.items():
            setattr(self, f"{m}_generator", generator)
            setattr(self, f"{m}_discriminator", discriminator)
        channels = cfg.latent_shape()[-1]
        self.gmu = GatedMultimodalUnit(channels, cfg.gmu_projection, name="gmu") if cfg.fusion == "gmu" else None
        self.latent_encoder = LatentEncoder(cfg.encoder_filters, cfg.features, name="latent_encoder")
        self.lstm = StateAttentionLSTM(cfg.lstm_units, cfg.n_states, cfg.attention, name="lstm")
        self.va_head = layers.Dense(2, name="va_head")

    def latents(self, inputs, training=False):
        """Stage one: {modality: ZQ (B, T, H, W, C + 1)} from the frozen front ends."""
        out = {}
        for m, (generator, discriminator) in self.frontends.items():
            image, batch, frames = self.modality_image(inputs, m)
            x_hat, z = generator(image, training=False)
            q = estimated_quadrant(discriminator(x_hat, training=False)["quadrant"])
            out[m] = unfold(zq(z, q), batch, frames)
        return out

    def predict_latents(self, latents, training=False):
        """Stage two: fusion, enc_P, attention LSTM and FC on ZQ latents (B, T, H, W, C)."""
        return self._predict_latents_from(latents, None, training)[0]

    # -- streaming: the front ends work frame by frame and the LSTM attends to earlier states
    # only, so a chunk continued from the last one's LSTM state gives one call's values
    def stream_state_shapes(self) -> list:
        return self.lstm.state_shapes()

    def call_streaming(self, inputs, states):
        return self._predict_latents_from(self.latents(inputs), states)

    def _predict_latents_from(self, latents, states, training=False):
        cfg = self.config
        first = latents[cfg.modalities[0]]
        batch, frames = ops.shape(first)[0], ops.shape(first)[1]
        outputs = {}
        if cfg.fusion == "none":
            fused = fold(first)
        elif cfg.fusion == "concat":
            fused = ops.concatenate([fold(latents[m]) for m in cfg.modalities], axis=-1)
        else:
            fused, gate = self.gmu([fold(latents[m]) for m in cfg.modalities])
            outputs[features.GATE] = unfold(ops.mean(gate, axis=(1, 2, 3)), batch, frames)
        feats = unfold(self.latent_encoder(fused, training=training), batch, frames)
        h, weights, state = self.lstm(feats, initial_state=states, return_state=True, training=training)
        if cfg.attention:
            outputs[features.ATTENTION] = weights
        outputs[features.TARGETS] = self.va_head(h)
        return outputs, state

    def call(self, inputs, training=False):
        return self.predict_latents(self.latents(inputs, training=training), training=training)

    def load_frontend(self, per_frame_model, modality: str | None = None) -> list[str]:
        """Take G, D (and enc_P when it fits) from a trained per-frame DiLaST/ANCLaF model."""
        from affect_tf.models.adversarial.adversarial_model import copy_matching_weights, relative_variables

        modality = modality or per_frame_model.config.modality
        frontend = (f"{modality}_generator/", f"{modality}_discriminator/")
        prefixes = frontend + (("latent_encoder/",) if self.config.fusion == "none" else ())
        prefixes += (f"standardization/{modality}_",)  # the statistics the front end trained with
        try:
            copied = copy_matching_weights(per_frame_model, self, prefixes)
        except ValueError as error:
            raise ValueError(f"the {modality} front end does not match this model: {error}") from None
        missing = [path for path in relative_variables(self) if path.startswith(frontend) and path not in copied]
        if missing:  # a sequence model must never run over untrained front ends
            raise ValueError(f"the {modality} front end does not match this model: "
                             f"{len(missing)} weights not found, e.g. {missing[0]}")
        return copied


LatentSequenceConfig.model_class = LatentSequenceModel
