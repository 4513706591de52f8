"""Presets of the CNN-RNN family, named after ``004``'s variants (§5, Tables 3 and 5)."""
from __future__ import annotations

from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig
from affect_tf.presets import register_preset

_CNN = CnnRnnConfig(taps=("fc",), rnn="none")
_FC1500 = dict(fc_units=1500, taps=("fc",))

CNN_3RNN_DEFAULT = CnnRnnConfig()
CNN_1RNN_DEFAULT = CnnRnnConfig(rnn="single")

register_preset("vgg_face_cnn", _CNN, "004 §5.1, Table 3",
                "VGG-Face per frame, landmarks + pool5 -> FC4096 -> V/A")
register_preset("resnet50_cnn", CnnRnnConfig(backbone="resnet50", rnn="none", **_FC1500),
                "004 §5.1, Table 3", "ResNet-50 per frame, landmarks + avg pool -> FC1500 -> V/A")
register_preset("densenet121_cnn", CnnRnnConfig(backbone="densenet121", rnn="none", **_FC1500),
                "004 §5.1, Table 3", "DenseNet-121 per frame, landmarks + avg pool -> FC1500 -> V/A")
register_preset("affwildnet", CnnRnnConfig(backbone="resnet50", rnn="single", **_FC1500),
                "004 §5.2.1, Table 2", "ResNet-50 + FC1500 + 2xGRU128")
register_preset("densenet_rnn", CnnRnnConfig(backbone="densenet121", rnn="single", **_FC1500),
                "004 §5.2.2", "DenseNet-121 + FC1500 + 2xGRU128")
register_preset("cnn_1rnn_2ndpool_lastpool_fc", CNN_1RNN_DEFAULT, "004 §5.3.2, Fig. 7, Table 3",
                "VGG-Face taps pool2 + pool5 + fc concatenated into one 2xGRU128")

# Table 5: the CNN-3RNN tap ablation ("n-th conv" counts the 13 VGG convs in order).
TABLE5 = {
    "cnn_3rnn_8thconv_lastpool_fc": ("conv8", "lastpool", "fc"),
    "cnn_3rnn_5thconv_lastpool_fc": ("conv5", "lastpool", "fc"),
    "cnn_3rnn_2ndpool_lastpool_fc": ("pool2", "lastpool", "fc"),
    "cnn_3rnn_3rdconv_7thconv_fc": ("conv3", "conv7", "fc"),
    "cnn_3rnn_lastconv_lastpool_fc": ("lastconv", "lastpool", "fc"),
    "cnn_3rnn_6thconv_7thconv_8thconv": ("conv6", "conv7", "conv8"),
    "cnn_3rnn_7thconv_8thconv_9thconv": ("conv7", "conv8", "conv9"),
    "cnn_3rnn_3rdconv_4thconv_5thconv": ("conv3", "conv4", "conv5"),
}
for _name, _taps in TABLE5.items():
    register_preset(_name, CnnRnnConfig(taps=_taps), "004 §5.3.1, Table 5",
                    f"VGG-Face taps {' + '.join(_taps)}, one 2xGRU128 per tap")

register_preset("cnn_3rnn_fusion_rnn", ModelLevelFusionConfig(fusion="rnn"), "004 §5.4.1, Table 3",
                "Model-level fusion + RNN of CNN-1RNN and CNN-3RNN (2nd pool, last pool, fc)")
register_preset("cnn_3rnn_fusion_fc", ModelLevelFusionConfig(fusion="fc"), "004 §5.4.1, Table 3",
                "Model-level fusion + FC of CNN-1RNN and CNN-3RNN (2nd pool, last pool, fc)")
