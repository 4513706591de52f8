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
# 001's enc_P: a 128-d feature (Table 11's Vi-DeS - Vi-De step, 263,681, is an LSTM(128) over
# 128 + 256 inputs plus W_a), its last conv widened to 448 so that G + P lands on Table 11's
# inference count (docs/models_adversarial.md, "Parameter counts").
DILAST_P = dict(features=128, encoder_filters=(64, 128, 448))
TABLE_11 = {"de": (5_287_308, 2_483_346), "des": (5_550_989, 2_747_027),
            "avi_cas": (6_000_508, 3_196_546), "avi_gas": (6_264_189, 3_460_227)}


def table_11_counts(model) -> tuple[int, int]:
    """(training, inference) counted as ``001`` Table 11 does: training counts every modality's G,
    one D with its real/fake head and the predictor; inference leaves D out (its rows differ by one
    D, 2,803,962, although eq. 3 needs D's quadrant)."""
    frontends = [layer for layer in model._flatten_layers(include_self=False, recursive=False)
                 if layer.name.endswith(("_generator", "_discriminator"))]
    discriminators = [layer for layer in frontends if layer.name.endswith("_discriminator")]
    d = discriminators[0]
    one_d = d.count_params() + (0 if d.with_critic else 9 * d.filters[-1] + 1)  # + 3x3 critic head
    inference = model.count_params() - sum(layer.count_params() for layer in discriminators)
    return inference + one_d, inference


def register_001(name, config, paper, description, counts=None):
    register_preset(name, config.replace(**DILAST_P), paper, description, paper_counts=counts,
                    count_as_paper=table_11_counts if counts else None)


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
    register_001(prefix, DiLaSTConfig(modality=modality, denoise=False), "001 §3.1, Tables 1-2",
                 f"DiLaST on {modality} without degraded inputs")
    register_001(f"{prefix}_de", DiLaSTConfig(modality=modality, denoise=True), "001 §3.1, Tables 1-2, 11",
                 f"DiLaST on {modality} with denoising", TABLE_11["de"])
    register_001(f"{prefix}_des", LatentSequenceConfig(modalities=(modality,), attention_from_start=True),
                 "001 §3.2, Tables 1-2, 11", f"DiLaST-SA on {modality} ZQ (attention over 8 states)",
                 TABLE_11["des"])
for name, fusion, where, what in (("avi_cas", "concat", "eq. 4", "concatenated"), ("avi_gas", "gmu", "eq. 5-12", "GMU-fused")):
    register_001(name, LatentSequenceConfig(modalities=(features.FACE, features.MEL), fusion=fusion,
                                            attention_from_start=True),
                 f"001 §3.2 {where}, Tables 5-6, 11", f"{what} face and mel ZQ", TABLE_11[name])
