"""Media preprocessing: one recording -> per-frame aligned faces, landmarks and audio features.

Public API: :class:`MediaConfig`, :class:`FacePipeline`, :class:`FrameItem`, :class:`MediaError`.
See ``docs/media.md``.
"""
from affect_tf.media.config import MediaConfig
from affect_tf.media.decode import MediaError
from affect_tf.media.items import FrameItem
from affect_tf.media.pipeline import FacePipeline

__all__ = ["FacePipeline", "FrameItem", "MediaConfig", "MediaError"]
