"""Shared plumbing of the adversarial family: modality images, frame folding, weight transfer."""
from __future__ import annotations

import numpy as np
from keras import ops

from affect_tf import features
from affect_tf.models.affect_model import AffectModel

MODALITIES = (features.FACE, features.MEL)


def modality_image(feats, modality: str):
    """The (B*T, S, S, 3) image of a modality in [-1, 1] and (B, T), from *standardised* features
    (:meth:`AdversarialModel.modality_image` standardises raw ones).

    Faces arrive in [-1, 1]. Standardised mel windows are divided by 3 and clipped, so three
    standard deviations span the generator's tanh range (unfitted statistics map the dB range
    [-80, 0] linearly, as ``001`` §3.4), and repeated into 3 channels so the audio networks have
    the same structure as the visual ones.
    """
    if modality not in feats:
        raise KeyError(f"missing input {modality!r}; got {sorted(feats)}")
    x = ops.cast(feats[modality], "float32")
    batch, frames = ops.shape(x)[0], ops.shape(x)[1]
    if modality == features.MEL:
        x = ops.clip(x / 3.0, -1.0, 1.0)
        x = ops.repeat(ops.expand_dims(x, -1), 3, axis=-1)
    elif modality != features.FACE:
        raise ValueError(f"unknown image modality {modality!r}; expected one of {MODALITIES}")
    return ops.reshape(x, (-1, *x.shape[2:])), batch, frames


def fold(x):
    """(B, T, ...) -> (B*T, ...) (per-frame networks see frames as a batch)."""
    return ops.reshape(x, (-1, *x.shape[2:]))


def unfold(x, batch, frames):
    return ops.reshape(x, (batch, frames, *x.shape[1:]))


def relative_variables(model) -> dict:
    """``{path without the model's name: variable}`` (layers built outside the model's name scope,
    such as the standardisation statistics, have no such prefix)."""
    return {v.path.removeprefix(f"{model.name}/"): v for v in model.weights}


def copy_matching_weights(source, target, prefixes: tuple[str, ...] | None = None) -> list[str]:
    """Copy every weight of ``source`` into the ``target`` weight at the same path (the model name
    left out). A 2-D kernel that has more input rows in ``target`` (an LSTM gaining the attention
    context, ``003`` §3.4) gets the source rows first and zeros after, so the warm-started model
    starts from the same function. Returns the copied paths."""
    src = relative_variables(source)
    copied = []
    for path, variable in relative_variables(target).items():
        if path not in src or (prefixes and not path.startswith(prefixes)):
            continue
        value = ops.convert_to_numpy(src[path])
        if tuple(value.shape) != tuple(variable.shape):
            if value.ndim == 2 and value.shape[1] == variable.shape[1] and value.shape[0] < variable.shape[0]:
                value = np.concatenate(
                    [value, np.zeros((variable.shape[0] - value.shape[0], value.shape[1]), value.dtype)]
                )
            else:
                raise ValueError(f"cannot copy {path}: {value.shape} into {tuple(variable.shape)}")
        variable.assign(value)
        copied.append(path)
    return copied


class AdversarialModel(AffectModel):
    """Base of the family: built on dummy inputs at construction time of the inference copy."""

    def modality_image(self, feats, modality: str):
        """:func:`modality_image` of the raw features, standardised first (what the trainers use)."""
        return modality_image(self.standardized(feats), modality)

    def build_from_config(self, config):  # weights are created by a call, whatever the inputs
        self(self.config.dummy_inputs())

    # -- streaming: the per-frame models (DiLaST, ANCLaF, AEG-CD-SZ) take each frame on its own
    # and carry nothing; the sequence models override both (affect_tf.export's serving_stream)
    def stream_state_shapes(self) -> list:
        return []

    def call_streaming(self, inputs, states):
        return self.call(inputs), []

    def inference_model(self):
        """The same model without training-only weights (D's real/fake head), same outputs."""
        if not getattr(self.config, "with_critic", False):
            return self
        model = type(self)(config=self.config.replace(with_critic=False), name=self.name)
        model(self.config.dummy_inputs())
        copy_matching_weights(self, model)
        return model
