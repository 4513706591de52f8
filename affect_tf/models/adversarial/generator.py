"""Auto-encoder generator without skip connections exposing its 2-D latent z
(``000`` §III-A, ``003`` §3.1 eq. 1, ``001`` §3.1 eq. 1)."""
from __future__ import annotations

import keras
from keras import layers, ops


def _norm(name):
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)  # instance norm


@keras.saving.register_keras_serializable(package="affect_tf")
class ResidualBlock(layers.Layer):
    """3x3 conv, IN, ReLU, 3x3 conv, IN, plus the input unless ``skip=False`` (the latent block:
    with its skip switched off, everything the decoder gets passes through z)."""

    def __init__(self, filters: int, skip: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.skip = skip
        self.conv1 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")
        self.norm1 = _norm("norm1")
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.norm2 = _norm("norm2")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.norm1.build((*input_shape[:-1], self.filters))
        self.conv2.build((*input_shape[:-1], self.filters))
        self.norm2.build((*input_shape[:-1], self.filters))

    def call(self, x):
        y = self.norm2(self.conv2(ops.relu(self.norm1(self.conv1(x)))))
        return x + y if self.skip else y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "skip": self.skip}


@keras.saving.register_keras_serializable(package="affect_tf")
class Generator(layers.Layer):
    """G: conv 7x7 (``filters``), two 4x4 stride-2 convs (x2, x4 channels), ``residual_blocks``
    blocks of which number ``latent_block`` (1-based) has no skip and yields z, two 4x4 stride-2
    transposed convs back, conv 7x7 to 3 channels + tanh. IN + ReLU after every inner conv, no
    biases (authors' code). A 128x128 input gives z of (32, 32, 4 * filters).

    ``encode(x)`` gives z, ``decode(z)`` the image, ``call(x)`` returns ``(x_hat, z)``.
    """

    def __init__(self, filters: int = 16, residual_blocks: int = 5, latent_block: int = 3,
                 out_channels: int = 3, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= latent_block <= residual_blocks:
            raise ValueError(f"latent_block {latent_block} must be in 1..{residual_blocks}")
        self.filters = filters
        self.residual_blocks = residual_blocks
        self.latent_block = latent_block
        self.out_channels = out_channels
        f = filters
        self.encoder_layers = [
            layers.Conv2D(f, 7, padding="same", use_bias=False, name="enc_conv0"), _norm("enc_norm0"),
            layers.Conv2D(2 * f, 4, 2, padding="same", use_bias=False, name="enc_conv1"), _norm("enc_norm1"),
            layers.Conv2D(4 * f, 4, 2, padding="same", use_bias=False, name="enc_conv2"), _norm("enc_norm2"),
        ]
        self.blocks = [
            ResidualBlock(4 * f, skip=(i + 1 != latent_block), name=f"block{i + 1}")
            for i in range(residual_blocks)
        ]
        self.decoder_layers = [
            layers.Conv2DTranspose(2 * f, 4, 2, padding="same", use_bias=False, name="dec_conv1"), _norm("dec_norm1"),
            layers.Conv2DTranspose(f, 4, 2, padding="same", use_bias=False, name="dec_conv2"), _norm("dec_norm2"),
        ]
        self.output_conv = layers.Conv2D(out_channels, 7, padding="same", activation="tanh", name="dec_out")

    def encode(self, x):
        for conv, norm in zip(self.encoder_layers[::2], self.encoder_layers[1::2]):
            x = ops.relu(norm(conv(x)))
        for block in self.blocks[: self.latent_block]:
            x = block(x)
        return x

    def decode(self, z):
        for block in self.blocks[self.latent_block:]:
            z = block(z)
        for conv, norm in zip(self.decoder_layers[::2], self.decoder_layers[1::2]):
            z = ops.relu(norm(conv(z)))
        return self.output_conv(z)

    def call(self, x):
        z = self.encode(x)
        return self.decode(z), z

    def latent_shape(self, image_size: int):
        return (image_size // 4, image_size // 4, 4 * self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "residual_blocks": self.residual_blocks,
            "latent_block": self.latent_block,
            "out_channels": self.out_channels,
        }
