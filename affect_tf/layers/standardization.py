"""Feature standardisation inside the model (``002`` §4.2: training-split statistics).

The statistics are non-trainable weights, so they are saved with the model and an exported
model takes raw features. Until fitted they hold each feature's defaults (identity for eGeMAPS
and landmarks; the fixed dB range for mel), so an unfitted model behaves as before.
"""
from __future__ import annotations

import keras
from keras import ops

from affect_tf import features

# feature -> (shape of its mean/std: per element, mel per band), default mean, default std.
# Mel's defaults map the dB range [-80, 0] to [-3, 3], the image range the adversarial front
# ends use after dividing by 3 (``affect_tf.models.adversarial.adversarial_model.modality_image``).
STANDARDIZED = {
    features.EGEMAPS: ((features.EGEMAPS_DIM,), 0.0, 1.0),
    features.LANDMARKS: ((features.N_LANDMARKS, 2), 0.0, 1.0),
    features.MEL: ((features.N_MELS, 1), features.MEL_FLOOR_DB / 2.0, -features.MEL_FLOOR_DB / 6.0),
}


@keras.saving.register_keras_serializable(package="affect_tf")
class FeatureStandardization(keras.layers.Layer):
    """``(x - mean) / std`` for each named feature of a features dict; other entries pass."""

    def __init__(self, names=tuple(STANDARDIZED), **kwargs):
        kwargs["dtype"] = "float32"  # raw features (Hz, dB) in float32 even under mixed precision
        super().__init__(**kwargs)
        unknown = sorted(set(names) - set(STANDARDIZED))
        if unknown:
            raise ValueError(f"cannot standardise {unknown}; known: {sorted(STANDARDIZED)}")
        self.names = tuple(names)
        self.statistics = {}
        for name in self.names:
            shape, mean, std = STANDARDIZED[name]
            self.statistics[name] = (
                self.add_weight(shape=shape, initializer=keras.initializers.Constant(mean),
                                trainable=False, name=f"{name}_mean"),
                self.add_weight(shape=shape, initializer=keras.initializers.Constant(std),
                                trainable=False, name=f"{name}_std"),
            )
        self.built = True

    def set_statistics(self, name, mean, std):
        """Assign one feature's statistics (arrays of ``STANDARDIZED[name][0]``'s shape)."""
        mean_var, std_var = self.statistics[name]
        mean_var.assign(ops.reshape(ops.cast(mean, "float32"), mean_var.shape))
        std_var.assign(ops.reshape(ops.cast(std, "float32"), std_var.shape))

    def copy_statistics(self, other: "FeatureStandardization"):
        """Take ``other``'s statistics of the features both standardise."""
        for name in set(self.names) & set(other.names):
            self.set_statistics(name, *other.statistics[name])

    def call(self, inputs):
        out = dict(inputs)
        for name, (mean, std) in self.statistics.items():
            if name in out:
                out[name] = (ops.cast(out[name], "float32") - mean) / std
        return out

    def get_config(self):
        return {**super().get_config(), "names": list(self.names)}
