"""Discriminator with real/fake (critic) and valence/arousal heads, optional audio conditioning
and z injection (``000`` §III-B, ``003`` eq. 2, ``001`` eq. 2)."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="affect_tf")
class Discriminator(layers.Layer):
    """D: 4x4 stride-2 convs with LeakyReLU(0.01) down to 2x2, then two heads: a 3x3 conv to one
    real/fake logit (averaged over the 2x2 map) and a 2x2 affect head. ``affect_outputs=2``: the
    head regresses (valence, arousal) (``000`` §III-B); ``affect_outputs=4``: it gives the logits
    of the circumplex quadrant (``003`` eq. 2, ``001`` eq. 2; numbering of :func:`quadrant`).

    ``audio_dim`` > 0 (AEG-CD-SZ): the audio vector goes through Dense(image width) + tanh and is
    repeated down the rows into one plane, concatenated to the image as an extra channel.
    ``latent_after`` = k (AEG-CD-SZ): z is concatenated to the activation after conv k (1-based;
    "concatenating them with intermediate kernels", ``000`` §III-B; the authors' code adds it); z
    must match that activation's shape. ``with_critic=False`` leaves the real/fake head out (the
    inference graph carries no training-only weights).

    ``call(image, audio=None, z=None)`` returns ``{"critic": (N,) logits or None}`` plus
    ``"va": (N, 2)`` or ``"quadrant": (N, 4)`` logits.
    """

    def __init__(self, filters=(16, 32, 64, 128, 256, 512), audio_dim: int = 0,
                 latent_after: int | None = None, with_critic: bool = True, image_size: int = 128,
                 affect_outputs: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.audio_dim = audio_dim
        self.latent_after = latent_after
        self.with_critic = with_critic
        self.image_size = image_size
        if affect_outputs not in (2, 4):
            raise ValueError(f"affect_outputs must be 2 (V/A) or 4 (quadrant logits), got {affect_outputs}")
        self.affect_outputs = affect_outputs
        self.convs = [layers.Conv2D(f, 4, 2, padding="same", name=f"conv{i + 1}")
                      for i, f in enumerate(self.filters)]
        self.audio_dense = layers.Dense(image_size, activation="tanh", name="audio_dense") if audio_dim else None
        self.critic_head = layers.Conv2D(1, 3, padding="same", name="critic_head") if with_critic else None
        self.affect_head = layers.Conv2D(affect_outputs, 2, padding="valid", name="affect_head")

    def build(self, image_shape, audio_shape=None, z_shape=None):
        if self.audio_dense is not None:
            self.audio_dense.build((None, self.audio_dim))
        shape = (None, *image_shape[-3:-1], image_shape[-1] + (1 if self.audio_dim else 0))
        for i, conv in enumerate(self.convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self.latent_after == i + 1:
                shape = (*shape[:-1], 2 * shape[-1])
        if self.critic_head is not None:
            self.critic_head.build(shape)
        self.affect_head.build(shape)

    def call(self, image, audio=None, z=None):
        x = image
        if self.audio_dense is not None:
            if audio is None:
                raise ValueError("this discriminator is audio-conditioned: pass audio")
            plane = ops.expand_dims(self.audio_dense(audio), 1)  # (N, 1, W)
            plane = ops.broadcast_to(plane, ops.shape(image)[:-1])
            x = ops.concatenate([x, ops.expand_dims(plane, -1)], axis=-1)
        for i, conv in enumerate(self.convs):
            x = ops.leaky_relu(conv(x), 0.01)
            if self.latent_after == i + 1:
                if z is None:
                    raise ValueError("this discriminator is conditioned on z: pass z")
                x = ops.concatenate([x, ops.cast(z, x.dtype)], axis=-1)
        affect = ops.reshape(self.affect_head(x), (-1, self.affect_outputs))
        critic = None
        if self.critic_head is not None:
            critic = ops.mean(self.critic_head(x), axis=(1, 2, 3))
        return {"critic": critic, "va" if self.affect_outputs == 2 else "quadrant": affect}

    def get_config(self):
        return {
            **super().get_config(),
            "filters": list(self.filters),
            "audio_dim": self.audio_dim,
            "latent_after": self.latent_after,
            "with_critic": self.with_critic,
            "image_size": self.image_size,
            "affect_outputs": self.affect_outputs,
        }
