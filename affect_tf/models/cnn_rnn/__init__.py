"""CNN-RNN family of ``004`` (Kollias & Zafeiriou): backbones, CNN-1RNN/CNN-3RNN, fusion."""
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnn, CnnRnnConfig, GruStack
