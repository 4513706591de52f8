"""Presets of implicit fusion (``002`` §3.2, §4.2): GRU(100), 2 specific + 2 shared layers."""
from affect_tf.models.implicit_fusion.implicit_fusion import ImplicitFusionConfig
from affect_tf.presets import register_preset

register_preset("implicit_fusion_audio", ImplicitFusionConfig(main="audio", alpha=0.5),
                "002 §3.2, Table 2", "audio (eGeMAPS) model trained jointly with visual features")
register_preset("implicit_fusion_visual", ImplicitFusionConfig(main="visual", alpha=0.5),
                "002 §3.2, Table 2", "visual (landmarks) model trained jointly with audio")
register_preset("rnn_baseline_audio", ImplicitFusionConfig(main="audio", alpha=0.0),
                "002 §4.2, Table 2", "mono-modal GRU baseline (alpha = 0)")
register_preset("rnn_baseline_visual", ImplicitFusionConfig(main="visual", alpha=0.0),
                "002 §4.2, Table 2", "mono-modal GRU baseline (alpha = 0)")
