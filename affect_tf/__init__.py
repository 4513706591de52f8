"""affect-tf: continuous valence/arousal estimation from face video and speech.

Sub-modules load on first use (``affect_tf.metrics`` pulls in Keras; Beam and TFX load only in
the commands that need them).
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("config", "features", "losses", "metrics", "presets")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"affect_tf.{name}")
    raise AttributeError(f"module 'affect_tf' has no attribute {name!r}")
