"""Presets of the adversarial latent family, named as in the papers (``000``, ``003``, ``001``)."""
from __future__ import annotations

import functools

from affect_tf import features, presets
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
from affect_tf.models.adversarial.dilast import DiLaSTConfig
from affect_tf.models.adversarial.sequence import LatentSequenceConfig

CURRICULUM = (2, 4, 8, 16, 32)  # 003 §3.2; 001 stops at 8
# Adam(1e-4, beta_1 0.5): the authors' code for 000 (AUTHORS_CODE_NOTES.md); 003 §3.4 and 001 §3.4
# give no optimiser settings and reuse the same code base, so the family shares them.
TRAINING = {"optimizer": "adam", "learning_rate": 1e-4, "adam_beta_1": 0.5}
register_preset = functools.partial(presets.register_preset, training=TRAINING)

register_preset("disc", AEGCDSZConfig(use_generator=False, use_audio=False, use_latent=False),
                "000 Tables I-II", "conditional discriminator alone, l2 loss")
register_preset("aeg_cd", AEGCDSZConfig(use_audio=False, use_latent=False),
                "000 Tables I-II", "adversarial AEG + CD on faces")
register_preset("aeg_cd_sz", AEGCDSZConfig(), "000 Tables I-II",
                "AEG + CD conditioned on eGeMAPS audio (S) and the latent z (Z)")

register_preset("anclaf", DiLaSTConfig(), "003 §3.1, Tables 1-2", "G, quadrant D and combiner C per frame")
for n in CURRICULUM:
    register_preset(f"anclaf_s_{n}", LatentSequenceConfig(attention=False, n_states=n),
                    "003 §3.2 eq. 4, Tables 1-2", f"LSTM over ZQ, trained on {n}-frame sequences")
    register_preset(f"anclaf_sa_{n}", LatentSequenceConfig(attention=True, n_states=n),
                    "003 §3.2 eq. 5-8, Tables 1-2", f"LSTM with attention over {n} previous states")

for prefix, modality in (("vi", features.FACE), ("au", features.MEL)):
    register_preset(prefix, DiLaSTConfig(modality=modality, denoise=False), "001 §3.1, Tables 1-2",
                    f"DiLaST on {modality} without degraded inputs")
    register_preset(f"{prefix}_de", DiLaSTConfig(modality=modality, denoise=True), "001 §3.1, Tables 1-2, 11",
                    f"DiLaST on {modality} with denoising")
    register_preset(f"{prefix}_des", LatentSequenceConfig(modalities=(modality,), attention_from_start=True), "001 §3.2, Tables 1-2, 11",
                    f"DiLaST-SA on {modality} ZQ (attention over 8 states)")
register_preset("avi_cas", LatentSequenceConfig(modalities=(features.FACE, features.MEL), fusion="concat",
                                                  attention_from_start=True),
                "001 §3.2 eq. 4, Tables 5-6, 11", "concatenated face and mel ZQ")
register_preset("avi_gas", LatentSequenceConfig(modalities=(features.FACE, features.MEL), fusion="gmu",
                                                  attention_from_start=True),
                "001 §3.2 eq. 5-12, Tables 5-6, 11", "GMU-fused face and mel ZQ")
