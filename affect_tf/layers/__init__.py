"""Reusable Keras 3 layers (``keras.ops`` only)."""
from affect_tf.layers.gmu import GatedMultimodalUnit
from affect_tf.layers.standardization import FeatureStandardization
from affect_tf.layers.state_attention import StateAttentionLSTM

__all__ = ["FeatureStandardization", "GatedMultimodalUnit", "StateAttentionLSTM"]
