"""The CNN-RNN family of ``004`` §5: CNN, CNN+RNN (AffWildNet, DenseNet-RNN), CNN-1RNN, CNN-3RNN.

One model class covers them all (they differ only in the config):

* per frame, a backbone (VGG-Face, ResNet-50, DenseNet-121) gives feature taps; the 68 landmarks
  are concatenated with the last pool and fed to the first FC (4096 units for VGG-Face, 1500 for
  ResNet/DenseNet, §5.1), dropout 0.5 on the FC (§6.1);
* ``rnn="none"``: the FC output goes to the output layer frame by frame (the CNNs of §5.1);
* ``rnn="single"``: the taps are flattened, concatenated and fed to one 2-layer GRU(128)
  (AffWildNet/DenseNet-RNN with the tap ``fc``, §5.2; CNN-1RNN with several taps, §5.3.2);
* ``rnn="per_tap"``: each tap goes through its own 2-layer GRU(128) and the outputs are
  concatenated (CNN-3RNN, §5.3.1, Fig. 5-6);
* dropout after the first GRU layer, a linear output layer with (valence, arousal) per frame.

GRU dropout (§6.1: "dropout with 0.8 probability value was applied after the first GRU layer"):
the authors worked in TensorFlow 1, whose ``dropout`` argument was the *keep* probability, so
``rnn_dropout`` (a Keras drop rate) is 0.2 by default (issue 24). ``rnn_dropout=0.8`` is the
other reading, 0.8 as a drop rate (the default before; ``RNN_DROPOUT_AS_RATE``). Both measured
side by side in docs/models_cnn_rnn.md. (§6.1's FC dropout 0.5 reads the same either way.)
"""
from __future__ import annotations

import dataclasses

import keras
from keras import ops

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models.affect_model import AffectModel
from affect_tf.models.cnn_rnn import backbones

RNN_MODES = ("none", "single", "per_tap")
# 004 §6.1's "dropout 0.8" after the first GRU layer, as a Keras drop rate under each reading
RNN_DROPOUT_AS_KEEP = 0.2  # TF1's keep probability 0.8 (the default)
RNN_DROPOUT_AS_RATE = 0.8


@keras.saving.register_keras_serializable(package="affect_tf")
class GruStack(keras.layers.Layer):
    """``num_layers`` GRUs of ``units`` (full sequences out) with dropout after the first (§6.1 / Fig. 6)."""

    def __init__(self, units=128, num_layers=2, dropout=RNN_DROPOUT_AS_KEEP, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.grus = [
            keras.layers.GRU(units, return_sequences=True, name=f"{self.name}_gru{i + 1}")
            for i in range(num_layers)
        ]
        self.drop = keras.layers.Dropout(dropout, name=f"{self.name}_dropout")

    def build(self, input_shape):
        shape = input_shape
        for i, gru in enumerate(self.grus):
            gru.build(shape)
            shape = (*shape[:-1], self.units)
        self.built = True

    def call(self, x, training=False, initial_states=None, return_states=False):
        """The outputs, and with ``return_states`` each GRU's state after the last frame, the
        GRUs starting from ``initial_states`` (one (B, units) each; zeros when None). A GRU's
        state is its output, so the last frame's output is what a stream carries on."""
        states = initial_states
        new_states = []
        for i, gru in enumerate(self.grus):
            x = gru(x, initial_state=None if states is None else states[i], training=training)
            new_states.append(x[:, -1])
            if i == 0 and self.num_layers > 1:
                x = self.drop(x, training=training)
        return (x, new_states) if return_states else x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "dropout": self.dropout}


@register_config
@dataclasses.dataclass(frozen=True)
class CnnRnnConfig(ModelConfig):
    """Config of :class:`CnnRnn` (``004`` §5-6). Defaults: CNN-3RNN-2nd-pool_last-pool_fc."""

    backbone: str = "vgg_face"
    crop_size: int = features.DEFAULT_CROP_SIZE
    vgg_filters: tuple[int, ...] = backbones.VGG_FILTERS  # shrink for tests only
    use_landmarks: bool = True
    fc_units: int = 4096  # 1500 for ResNet-50 / DenseNet-121 (§5.1)
    fc_dropout: float = 0.5
    taps: tuple[str, ...] = ("pool2", "lastpool", "fc")
    rnn: str = "per_tap"
    rnn_units: int = 128
    rnn_layers: int = 2
    rnn_dropout: float = RNN_DROPOUT_AS_KEEP  # Keras drop rate after the first GRU layer (§6.1)

    def __post_init__(self):
        if self.backbone not in backbones.BACKBONES:
            raise ValueError(f"backbone {self.backbone!r}: expected one of {backbones.BACKBONES}")
        if self.rnn not in RNN_MODES:
            raise ValueError(f"rnn {self.rnn!r}: expected one of {RNN_MODES}")
        if self.rnn == "none" and tuple(self.taps) != ("fc",):
            raise ValueError("rnn='none' (a per-frame CNN) takes only the 'fc' tap")
        for tap in self.taps:
            if tap != "fc":
                backbones.resolve_tap(self.backbone, tap)

    def input_shapes(self):
        shapes = {features.FACE: (None, self.crop_size, self.crop_size, 3)}
        if self.use_landmarks:
            shapes[features.LANDMARKS] = (None, features.N_LANDMARKS, 2)
        return shapes


@keras.saving.register_keras_serializable(package="affect_tf")
class CnnRnn(AffectModel):
    """CNN / CNN-RNN / CNN-1RNN / CNN-3RNN of ``004`` §5 (see the module docstring)."""

    def __init__(self, config: CnnRnnConfig = None, **kwargs):
        config = config or CnnRnnConfig()
        super().__init__(config=config, **kwargs)
        cnn_taps = [t for t in config.taps if t != "fc"]
        self.backbone = backbones.make_backbone(
            config.backbone, config.crop_size, cnn_taps, config.vgg_filters, name="backbone"
        )
        self._tap_layers = [
            "fc" if t == "fc" else backbones.resolve_tap(config.backbone, t) for t in config.taps
        ]
        self._last_pool = "pool5" if config.backbone == "vgg_face" else "pool"
        self.fc = keras.layers.Dense(config.fc_units, activation="relu", name="fc")
        self.fc_dropout = keras.layers.Dropout(config.fc_dropout, name="fc_dropout")
        if config.rnn == "per_tap":
            self.rnns = [
                GruStack(config.rnn_units, config.rnn_layers, config.rnn_dropout, name=f"rnn{i + 1}")
                for i in range(len(config.taps))
            ]
        elif config.rnn == "single":
            self.rnns = [GruStack(config.rnn_units, config.rnn_layers, config.rnn_dropout, name="rnn1")]
        else:
            self.rnns = []
        self.head = keras.layers.Dense(2, dtype="float32", name="valence_arousal")

    def tap_features(self, inputs, training=False):
        """Per-frame features of every tap, each flattened to (B, T, D)."""
        face = inputs[features.FACE]
        shape = ops.shape(face)
        batch, frames = shape[0], shape[1]
        size = self.config.crop_size
        taps = self.backbone(ops.reshape(face, (-1, size, size, 3)), training=training)

        def per_frame(x):
            return ops.reshape(x, (batch, frames, -1))

        pooled = per_frame(taps[self._last_pool])
        fc_in = pooled
        if self.config.use_landmarks:
            landmarks = ops.cast(self.standardized(inputs)[features.LANDMARKS], pooled.dtype)
            fc_in = ops.concatenate([pooled, per_frame(landmarks)], axis=-1)
        fc = self.fc_dropout(self.fc(fc_in), training=training)
        return [fc if name == "fc" else per_frame(taps[name]) for name in self._tap_layers]

    def sequence_features(self, inputs, training=False):
        """The features before the output layer, (B, T, F): what model-level fusion concatenates."""
        return self._sequence_features_from(inputs, None, training)[0]

    def _sequence_features_from(self, inputs, states, training=False):
        """Features before the output layer and the recurrent states after the last frame,
        the GRUs starting from ``states`` (:meth:`stream_state_shapes` order; None: zeros)."""
        taps = self.tap_features(inputs, training=training)
        if self.config.rnn == "none":
            return taps[0], []
        if self.config.rnn == "single":
            taps = [taps[0] if len(taps) == 1 else ops.concatenate(taps, axis=-1)]
        layers = self.config.rnn_layers
        outs, new_states = [], []
        for i, (rnn, tap) in enumerate(zip(self.rnns, taps)):
            out, after = rnn(tap, training=training, return_states=True,
                             initial_states=None if states is None else states[i * layers:(i + 1) * layers])
            outs.append(out)
            new_states.extend(after)
        return (outs[0] if len(outs) == 1 else ops.concatenate(outs, axis=-1)), new_states

    def call(self, inputs, training=False):
        return {features.TARGETS: self.head(self.sequence_features(inputs, training=training))}

    # -- streaming: every layer is causal, so a chunk continued from the last chunk's states
    # gives what one call over the whole sequence gives (affect_tf.export's serving_stream)
    def stream_state_shapes(self) -> list:
        """Per-example shape of each recurrent state a stream carries between chunks."""
        return [(self.config.rnn_units,)] * (len(self.rnns) * self.config.rnn_layers)

    def call_streaming(self, inputs, states):
        """Inference over one chunk of frames from ``states``: (outputs, states after it)."""
        sequence, new_states = self._sequence_features_from(inputs, states)
        return {features.TARGETS: self.head(sequence)}, new_states


CnnRnnConfig.model_class = CnnRnn
