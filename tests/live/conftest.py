"""One small causal CNN-3RNN exported with its streaming signature, shared by the live tests."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from affect_tf import features as F

# CNN-3RNN (004 §5.3.1: pool2, last pool and fc taps, a 2-layer GRU each) at test width
TINY_CNN_3RNN = dict(vgg_filters=(2, 2, 4, 4, 4), fc_units=8, rnn_units=4)



def fast_media_config():
    """dlib's HOG alone, the largest face: the clips have one frontal speaker, and the tests
    compare two paths under the same config (the default adds MTCNN and identity checks)."""
    from affect_tf.media import MediaConfig

    return MediaConfig(detector="hog", target_face="largest")


def build_tiny_cnn_3rnn(seed=0):
    from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
    from affect_tf.testing.tiny_model import random_batch

    keras.utils.set_random_seed(seed)
    config = CnnRnnConfig(**TINY_CNN_3RNN)
    model = config.model_class(config)
    _, feats, _ = random_batch(1, 3, config.crop_size, seed=seed)
    model(feats)
    return model


@pytest.fixture(scope="session")
def stream_export(tmp_path_factory):
    """Base folder of the exported model (version 1); no SequenceExample signature (not needed)."""
    from affect_tf import export

    model = build_tiny_cnn_3rnn()
    base = tmp_path_factory.mktemp("live_models") / F.MODEL_NAME
    signatures = export.make_serving_signatures(model, sequence_examples=False)
    export.export_for_serving(model, base, version=1, signatures=signatures,
                              metadata={"preset": "cnn_3rnn_2ndpool_lastpool_fc (test width)"})
    return base


@pytest.fixture(scope="session")
def stream_server(stream_export):
    from affect_tf.serving.server import LocalModelServer

    with LocalModelServer({F.MODEL_NAME: stream_export}, port=0, rest_port=0) as server:
        yield server


def split_clip(clip, picture=None, sound=None):
    """Write the clip's picture alone (its packets remuxed) and/or its sound alone (16-bit wav)."""
    import av

    if picture:
        with av.open(str(clip)) as src, av.open(str(picture), "w") as out:
            stream = out.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
    if sound:
        with av.open(str(clip)) as src, av.open(str(sound), "w") as out:
            heard = src.streams.audio[0]
            stream = out.add_stream("pcm_s16le", rate=heard.rate, layout=heard.layout.name)
            resampler = av.AudioResampler(format="s16", layout=heard.layout.name, rate=heard.rate)
            for frame in src.decode(heard):
                for packed in resampler.resample(frame):
                    out.mux(stream.encode(packed))
            out.mux(stream.encode(None))


def max_abs_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b))
    return float(np.nanmax(np.abs(a - b)))
