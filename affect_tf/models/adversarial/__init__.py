"""Adversarial latent family: AEG-CD-SZ (``000``), ANCLaF(-S/-SA) (``003``), DiLaST/AViGaS (``001``)."""
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZ, AEGCDSZConfig
from affect_tf.models.adversarial.dilast import DiLaST, DiLaSTConfig
from affect_tf.models.adversarial.sequence import LatentSequenceConfig, LatentSequenceModel

__all__ = ["AEGCDSZ", "AEGCDSZConfig", "DiLaST", "DiLaSTConfig", "LatentSequenceConfig", "LatentSequenceModel"]
