"""affect-tf: continuous valence/arousal estimation from face video and speech.

The Python API (``docs/serving.md``)::

    import affect_tf
    model = affect_tf.load_model("models/affect")       # a version or base folder, or "host:8500"
    frames = model.predict("interview.mp4")             # pandas.DataFrame, one row per frame
    frames[["time_s", "valence", "arousal", "face_present"]]

``load_model`` returns an :class:`~affect_tf.inference.AffectModel`; ``predict`` takes a video,
a speech recording or a photo (one row per face) and raises ``ValueError``/``OSError`` naming the
file and the problem. Sub-modules load on first use (``affect_tf.metrics`` pulls in Keras; Beam
and TFX load only in the commands that need them).
"""
import importlib

try:
    # openSMILE must load before TensorFlow: with TF 2.21 loaded first, its first extraction
    # aborts the process ("malloc(): invalid size"), seen on Python 3.11. Loading it here covers
    # every entry point (CLI, Beam workers, servers, tests) that imports affect_tf before TF.
    import opensmile  # noqa: F401
except ImportError:  # the media preprocessing says what is missing when it is used
    pass

__version__ = "0.1.0"

_SUBMODULES = ("config", "features", "losses", "metrics", "presets")


_API = {"load_model": "inference", "AffectModel": "inference", "COLUMNS": "inference"}


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(f"affect_tf.{_API[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"affect_tf.{name}")
    raise AttributeError(f"module 'affect_tf' has no attribute {name!r}")
