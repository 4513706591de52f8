"""Implicit fusion of ``002`` (Han et al.): joint audiovisual training, mono-modal inference."""
from affect_tf.models.implicit_fusion.implicit_fusion import ImplicitFusion, ImplicitFusionConfig
