"""Per-frame latent models: ANCLaF (``003`` §3.1) and DiLaST Vi / Vi-De / Au / Au-De (``001`` §3.1).

G denoises the input image and yields z; D judges real/fake and estimates V/A, whose circumplex
quadrant Q conditions z (ZQ); the predictor P maps ZQ to valence/arousal (eq. 3).
"""
from __future__ import annotations

import dataclasses

import keras
from keras import layers

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models.adversarial.latent_encoder import LatentEncoder, estimated_quadrant, zq
from affect_tf.models.adversarial.adversarial_model import AdversarialModel, unfold
from affect_tf.models.adversarial.discriminator import Discriminator
from affect_tf.models.adversarial.generator import Generator


@dataclasses.dataclass(frozen=True)
class LatentFrontendFields:
    """Sizes of G, D and enc_P (authors' code for ``003``: 128x128 input, z 64x32x32)."""

    image_size: int = 128
    generator_filters: int = 16
    residual_blocks: int = 5
    latent_block: int = 3
    discriminator_filters: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    encoder_filters: tuple[int, ...] = (64, 128, 256)
    features: int = 256

    def check_sizes(self, modalities):
        if features.MEL in modalities and self.image_size != features.N_MELS:
            raise ValueError(
                f"{type(self).__name__}: mel windows are {features.N_MELS}x{features.MEL_FRAMES} "
                f"images, so image_size must be {features.N_MELS}, got {self.image_size}"
            )
        if self.image_size % (2 ** len(self.discriminator_filters)) or self.image_size // (
            2 ** len(self.discriminator_filters)
        ) != 2:
            raise ValueError(
                f"{type(self).__name__}: {len(self.discriminator_filters)} stride-2 convs must take "
                f"{self.image_size}x{self.image_size} down to 2x2 for the 2x2 V/A head"
            )


@register_config
@dataclasses.dataclass(frozen=True)
class DiLaSTConfig(ModelConfig, LatentFrontendFields):
    """One modality through G, D and P. ``denoise``: G sees degraded inputs (Vi-De/Au-De, ANCLaF)
    or clean ones (Vi/Au). Loss weights of ``001`` §3.4 (lambda_D = lambda_G = 0.25,
    lambda_P = 0.5); ``lambda_rec`` weighs the L1 distance between G(degraded x) and x."""

    modality: str = features.FACE
    denoise: bool = True
    with_critic: bool = True
    lambda_d: float = 0.25
    lambda_g: float = 0.25
    lambda_p: float = 0.5
    lambda_rec: float = 1.0

    def __post_init__(self):
        if self.modality not in (features.FACE, features.MEL):
            raise ValueError(f"DiLaSTConfig.modality must be 'face' or 'mel', got {self.modality!r}")
        self.check_sizes((self.modality,))

    def input_shapes(self):
        if self.modality == features.MEL:
            return {features.MEL: (None, features.N_MELS, features.MEL_FRAMES)}
        return {features.FACE: (None, self.image_size, self.image_size, 3)}


def make_frontend(cfg, modality: str, with_critic: bool):
    """G and D of one modality, named after it (so sequence models warm-start from DiLaST)."""
    generator = Generator(cfg.generator_filters, cfg.residual_blocks, cfg.latent_block,
                          name=f"{modality}_generator")
    discriminator = Discriminator(cfg.discriminator_filters, with_critic=with_critic,
                                  image_size=cfg.image_size, affect_outputs=4,
                                  name=f"{modality}_discriminator")
    return generator, discriminator


@keras.saving.register_keras_serializable(package="affect_tf")
class DiLaST(AdversarialModel):
    """ANCLaF / DiLaST per-frame model (``001`` eq. 1-3). ``call`` is the inference path
    x -> G -> (x_hat, z); D(x_hat) -> V/A -> Q; P([z; Q]) -> V/A, frames folded into the batch.
    ``forward_parts(image)`` returns every intermediate for the adversarial trainer."""

    def __init__(self, config: DiLaSTConfig = None, **kwargs):
        super().__init__(config=config or DiLaSTConfig(), **kwargs)
        cfg = self.config
        self.generator, self.discriminator = make_frontend(cfg, cfg.modality, cfg.with_critic)
        self.latent_encoder = LatentEncoder(cfg.encoder_filters, cfg.features, name="latent_encoder")
        self.va_head = layers.Dense(2, name="va_head")

    def forward_parts(self, image, training=False):
        x_hat, z = self.generator(image, training=training)
        judged = self.discriminator(x_hat, training=training)
        latents = zq(z, estimated_quadrant(judged["quadrant"]))
        va = self.va_head(self.latent_encoder(latents, training=training))
        return {"x_hat": x_hat, "z": z, "zq": latents, "d_quadrant": judged["quadrant"],
                "critic": judged["critic"], "va": va}

    def call(self, inputs, training=False):
        image, batch, frames = self.modality_image(inputs, self.config.modality)
        va = self.forward_parts(image, training=training)["va"]
        return {features.TARGETS: unfold(va, batch, frames)}


DiLaSTConfig.model_class = DiLaST
