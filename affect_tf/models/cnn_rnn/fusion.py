"""Ensembles of ``004`` §5.4: model-level fusion (+RNN / +FC) and decision-level fusion (eq. 1), the
latter as a function of member estimates and as one servable model of trained members."""
from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
from keras import ops

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models.affect_model import AffectModel
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnn, CnnRnnConfig

FUSIONS = ("rnn", "fc")


@register_config
@dataclasses.dataclass(frozen=True)
class ModelLevelFusionConfig(ModelConfig):
    """Members (CNN-1RNN / CNN-3RNN configs) whose RNN outputs are concatenated and fed to one
    GRU(128) layer (``fusion="rnn"``) or an FC(128) (``fusion="fc"``), then the output layer."""

    members: tuple[CnnRnnConfig, ...] = (
        CnnRnnConfig(rnn="single"),
        CnnRnnConfig(rnn="per_tap"),
    )
    fusion: str = "rnn"
    units: int = 128

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion {self.fusion!r}: expected one of {FUSIONS}")
        if not self.members:
            raise ValueError("model-level fusion needs at least one member")
        if len({m.crop_size for m in self.members}) != 1:
            raise ValueError("all fusion members must take the same crop size")

    def input_shapes(self):
        shapes = {}
        for member in self.members:
            shapes.update(member.input_shapes())
        return shapes


@keras.saving.register_keras_serializable(package="affect_tf")
class ModelLevelFusion(AffectModel):
    """Model-level fusion + RNN / + FC (``004`` §5.4.1), trainable end to end.

    Start from trained members with :meth:`load_members` (``TrainConfig.fusion_members``,
    ``affect-tf train --fusion-members``).
    """

    standardizes_inputs = False  # each member standardises its own landmarks

    def __init__(self, config: ModelLevelFusionConfig = None, **kwargs):
        config = config or ModelLevelFusionConfig()
        super().__init__(config=config, **kwargs)
        self.members = [CnnRnn(config=m, name=f"member{i + 1}") for i, m in enumerate(config.members)]
        for member, m in zip(self.members, config.members):
            # unused here, but built so a trained member's full weight list loads into it
            width = m.rnn_units * (len(m.taps) if m.rnn == "per_tap" else 1) if m.rnn != "none" else m.fc_units
            member.head.build((None, None, width))
        if config.fusion == "rnn":
            self.fusion = keras.layers.GRU(config.units, return_sequences=True, name="fusion_gru")
        else:
            self.fusion = keras.layers.Dense(config.units, activation="relu", name="fusion_fc")
        self.head = keras.layers.Dense(2, dtype="float32", name="valence_arousal")

    def call(self, inputs, training=False):
        joined = ops.concatenate(
            [m.sequence_features(inputs, training=training) for m in self.members], axis=-1
        )
        return {features.TARGETS: self.head(self.fusion(joined, training=training))}

    # -- streaming: the members' GRUs and the fusion GRU are causal (affect_tf.export's serving_stream)
    def stream_state_shapes(self) -> list:
        """Each member's GRU states in order, then the fusion GRU's (``fusion="rnn"``)."""
        shapes = [shape for member in self.members for shape in member.stream_state_shapes()]
        return shapes + ([(self.config.units,)] if self.config.fusion == "rnn" else [])

    def call_streaming(self, inputs, states):
        """Inference over one chunk of frames from ``states``: (outputs, states after it)."""
        parts, after, start = [], [], 0
        for member in self.members:
            n = len(member.stream_state_shapes())
            sequence, member_after = member._sequence_features_from(
                inputs, None if states is None else states[start:start + n])
            parts.append(sequence)
            after.extend(member_after)
            start += n
        joined = ops.concatenate(parts, axis=-1)
        if self.config.fusion == "rnn":
            fused = self.fusion(joined, initial_state=None if states is None else states[start])
            after.append(fused[:, -1])  # a GRU's state is its last output
        else:
            fused = self.fusion(joined)
        return {features.TARGETS: self.head(fused)}, after

    def load_member_weights(self, index: int, path) -> None:
        """Copy a trained member's weights (its CNN, RNN, landmark statistics and unused output
        layer) from a ``.keras`` file, a folder holding ``model.keras`` (an ``affect-tf train``
        work directory) or a ``.weights.h5`` file."""
        member, expected = self.members[index], self.config.members[index]
        path = str(path)
        if os.path.isdir(path):
            path = os.path.join(path, "model.keras")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"fusion member {index + 1}: {path}: no such file")
        if path.endswith(".keras"):
            trained = keras.saving.load_model(path)
            if getattr(trained, "config", None) != expected:
                raise ValueError(f"fusion member {index + 1}: {path} holds {getattr(trained, 'config', trained)}, "
                                 f"but this fusion's member {index + 1} is {expected} (trained with --small?)")
            member.set_weights(trained.get_weights())
        else:
            member.load_weights(path)

    def load_members(self, paths) -> None:
        """Every member from its trained model (``004`` §5.4.1: the fused networks are the trained
        CNN-1RNN / CNN-3RNN; the fusion layers start fresh and the whole ensemble then trains end
        to end). ``paths``: one per member, in the config's order."""
        if len(paths) != len(self.members):
            raise ValueError(f"model-level fusion has {len(self.members)} members, got {len(paths)} "
                             f"trained models: {', '.join(map(str, paths))}")
        for index, path in enumerate(paths):
            self.load_member_weights(index, path)


ModelLevelFusionConfig.model_class = ModelLevelFusion


def decision_level_fusion(predictions, validation_ccc):
    """Eq. 1 of ``004`` §5.4.2: per dimension, the average of the members' estimates weighted by
    each member's validation CCC for that dimension (:func:`fusion_weights`).

    ``predictions``: (N, ..., 2) estimates of N members; ``validation_ccc``: (N, 2).
    """
    preds = np.asarray(predictions, dtype="float64")
    weights = np.asarray(validation_ccc, dtype="float64")
    if preds.shape[0] != weights.shape[0] or weights.shape[-1] != preds.shape[-1]:
        raise ValueError(f"predictions {preds.shape} and validation_ccc {weights.shape} disagree")
    w = fusion_weights(weights).reshape(weights.shape[0], *([1] * (preds.ndim - 2)), weights.shape[1])
    return (preds * w).sum(axis=0).astype("float32")


def fusion_weights(validation_ccc) -> np.ndarray:
    """(N, 2) weights of eq. 1: each member's validation CCC per dimension over their sum, members
    with a CCC <= 0 left out (their estimate is no better than a constant)."""
    weights = np.clip(np.asarray(validation_ccc, dtype="float64"), 0.0, None)
    total = weights.sum(axis=0)
    if np.any(total <= 0):
        raise ValueError("every dimension needs at least one member with a positive validation CCC")
    return weights / total


@register_config
@dataclasses.dataclass(frozen=True)
class DecisionFusionConfig(ModelConfig):
    """Trained members (any model configs, their inference versions) and their validation CCCs
    (valence, arousal), one pair per member."""

    members: tuple[ModelConfig, ...] = ()
    validation_ccc: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        if not self.members or len(self.members) != len(self.validation_ccc):
            raise ValueError("DecisionFusionConfig: one (valence, arousal) CCC per member, at least one member")
        fusion_weights(self.validation_ccc)

    def input_shapes(self):
        shapes = {}
        for member in self.members:
            for name, shape in member.input_shapes().items():
                if shapes.setdefault(name, shape) != shape:
                    raise ValueError(f"DecisionFusionConfig: members disagree on {name}: {shapes[name]} vs {shape}")
        return shapes


@keras.saving.register_keras_serializable(package="affect_tf")
class DecisionFusion(AffectModel):
    """Decision-level fusion (``004`` eq. 1) as one model: every member runs on the inputs and the
    per-dimension estimates are averaged with :func:`fusion_weights`; serves like any model."""

    standardizes_inputs = False  # each member standardises its own inputs

    def __init__(self, config: DecisionFusionConfig = None, **kwargs):
        super().__init__(config=config, **kwargs)
        self.members = [m.build() for m in config.members]
        self.weights_per_member = fusion_weights(config.validation_ccc).astype("float32")

    def call(self, inputs, training=False):
        fused = 0.0
        for member, weight in zip(self.members, self.weights_per_member):
            fused = fused + ops.cast(member(inputs, training=False)[features.TARGETS], "float32") * weight
        return {features.TARGETS: fused}

    # -- streaming: each member streams on its own states (affect_tf.export's serving_stream)
    def stream_state_shapes(self):
        """Every member's states in order; None when a member cannot stream."""
        shapes = [member.stream_state_shapes() for member in self.members]
        return None if any(s is None for s in shapes) else [s for member in shapes for s in member]

    def call_streaming(self, inputs, states):
        fused, after, start = 0.0, [], 0
        for member, weight in zip(self.members, self.weights_per_member):
            n = len(member.stream_state_shapes())
            out, member_after = member.call_streaming(inputs, None if states is None else states[start:start + n])
            fused = fused + ops.cast(out[features.TARGETS], "float32") * weight
            after.extend(member_after)
            start += n
        return {features.TARGETS: fused}, after

    def build_from_config(self, config):  # weights exist after one call, whatever the inputs
        self(self.config.dummy_inputs())


DecisionFusionConfig.model_class = DecisionFusion


def fuse_members(members, validation_ccc) -> DecisionFusion:
    """A :class:`DecisionFusion` holding copies of the trained ``members`` (built models)."""
    fusion = DecisionFusionConfig(members=tuple(m.config for m in members),
                                  validation_ccc=tuple(tuple(float(c) for c in ccc) for ccc in validation_ccc)
                                  ).built_model()
    for ours, trained in zip(fusion.members, members):
        ours.set_weights(trained.get_weights())
    return fusion
