"""Model families (Keras 3, ``keras.ops`` / ``keras.layers`` only, so they run on JAX too).

:mod:`affect_tf.models.affect_model` holds :class:`AffectModel`, the base of the models trained
by the standard Keras loop; the families live in the sub-packages.
"""
from affect_tf.models.affect_model import MEAN_CCC, AffectModel, label_mask

__all__ = ["AffectModel", "MEAN_CCC", "label_mask"]
