"""Model families (Keras 3, ``keras.ops`` / ``keras.layers`` only, so they run on JAX too).

:mod:`affect_tf.models.affect_model` holds :class:`AffectModel`, the base of the models trained
by the standard Keras loop; the families live in the sub-packages. Importing this package imports
every family, so every model class is registered with Keras and a ``.keras`` file of any preset
loads in a fresh process (:func:`load_model`).
"""
# The families' import registers their Keras classes.
from affect_tf.models import adversarial, cnn_rnn, implicit_fusion  # noqa: F401
from affect_tf.models.affect_model import MEAN_CCC, AffectModel, label_mask
from affect_tf.models.cnn_rnn import fusion  # noqa: F401


def load_model(path, **kwargs):
    """``keras.saving.load_model`` with every model class of the project registered."""
    import keras

    return keras.saving.load_model(str(path), **kwargs)


__all__ = ["AffectModel", "MEAN_CCC", "label_mask", "load_model"]
