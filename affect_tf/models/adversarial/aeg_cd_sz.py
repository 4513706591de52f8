"""AEG-CD-SZ and its ablations Disc and AEG-CD (``000`` §III, Tables I-II).

An auto-encoder generator (AEG) denoises the face and yields z; a conditional discriminator (CD)
takes the denoised face, an audio plane made from the frame's eGeMAPS LLDs, and z joined to an
intermediate activation, and outputs real/fake and valence/arousal. The CD's V/A is the output.

Audio: the authors' code feeds 46 openSMILE LLD values per video frame (which set gives 46 is not
stated). We feed the ``egemaps`` feature of :mod:`affect_tf.features`: the 25 eGeMAPSv02 LLDs
pooled over the frame's span with its neighbours as context (``000`` §III-D).
"""
from __future__ import annotations

import dataclasses

import keras

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models.adversarial.adversarial_model import AdversarialModel, fold, unfold
from affect_tf.models.adversarial.discriminator import Discriminator
from affect_tf.models.adversarial.generator import Generator


@register_config
@dataclasses.dataclass(frozen=True)
class AEGCDSZConfig(ModelConfig):
    """``use_generator=False`` is "Disc" (the CD alone, trained with an l2 loss); AEG-CD adds the
    adversarially trained generator; AEG-CD-SZ adds audio (S) and z (Z) conditioning.
    Sizes from the authors' code: G with one residual block (its skip off) giving z with
    4 * ``generator_filters`` channels at a quarter of the image size, concatenated after the CD's
    ``latent_after``-th conv; CD convs down to 2x2."""

    use_generator: bool = True
    use_audio: bool = True
    use_latent: bool = True
    denoise: bool = True
    image_size: int = 128
    generator_filters: int = 16
    residual_blocks: int = 1
    latent_block: int = 1
    discriminator_filters: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    latent_after: int = 2
    with_critic: bool = True
    lambda_afc: float = 1.0
    lambda_rec: float = 10.0

    def __post_init__(self):
        if self.use_latent and not self.use_generator:
            raise ValueError("AEGCDSZConfig: z conditioning needs the generator")
        if self.use_latent and self.discriminator_filters[self.latent_after - 1] != 4 * self.generator_filters:
            raise ValueError(
                "AEGCDSZConfig: z has 4 * generator_filters channels and must match discriminator "
                f"conv {self.latent_after} ({self.discriminator_filters[self.latent_after - 1]})"
            )
        if self.image_size // 2 ** len(self.discriminator_filters) != 2:
            raise ValueError("AEGCDSZConfig: the CD convs must take the image down to 2x2")

    def input_shapes(self):
        shapes = {features.FACE: (None, self.image_size, self.image_size, 3)}
        if self.use_audio:
            shapes[features.EGEMAPS] = (None, features.EGEMAPS_DIM)
        return shapes


@keras.saving.register_keras_serializable(package="affect_tf")
class AEGCDSZ(AdversarialModel):
    """``call``: face -> AEG -> (x_hat, z); CD(x_hat, audio, z) -> V/A (the inference path)."""

    def __init__(self, config: AEGCDSZConfig = None, **kwargs):
        super().__init__(config=config or AEGCDSZConfig(), **kwargs)
        cfg = self.config
        self.generator = (
            Generator(cfg.generator_filters, cfg.residual_blocks, cfg.latent_block, name="face_generator")
            if cfg.use_generator else None
        )
        self.discriminator = Discriminator(
            cfg.discriminator_filters,
            audio_dim=features.EGEMAPS_DIM if cfg.use_audio else 0,
            latent_after=cfg.latent_after if cfg.use_latent else None,
            with_critic=cfg.with_critic,
            image_size=cfg.image_size,
            name="face_discriminator",
        )

    def audio(self, inputs):
        return fold(self.standardized(inputs)[features.EGEMAPS]) if self.config.use_audio else None

    def judge(self, image, audio, training=False):
        """Run AEG then CD on folded frames; returns x_hat, z, critic logits and V/A."""
        if self.generator is not None:
            x_hat, z = self.generator(image, training=training)
        else:
            x_hat, z = image, None
        judged = self.discriminator(x_hat, audio, z if self.config.use_latent else None, training=training)
        return {"x_hat": x_hat, "z": z, **judged}

    def call(self, inputs, training=False):
        image, batch, frames = self.modality_image(inputs, features.FACE)
        va = self.judge(image, self.audio(inputs), training=training)["va"]
        return {features.TARGETS: unfold(va, batch, frames)}


AEGCDSZConfig.model_class = AEGCDSZ
