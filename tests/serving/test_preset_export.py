"""A real registered preset, briefly trained, exported and served: same outputs over gRPC."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from affect_tf import export
from affect_tf import features as F
from affect_tf.testing.tiny_model import random_batch

PRESET = "implicit_fusion_visual"  # the smallest registered preset (002, single-modality inference)


@pytest.fixture(scope="module")
def trained_preset():
    from affect_tf import presets

    keras.utils.set_random_seed(0)
    model = presets.get_preset(PRESET).build()
    _, feats, targets = random_batch(batch=4, frames=6, seed=1)
    feats[F.FRAME_MASK] = np.ones(targets.shape[:2], "float32")
    labels = {F.TARGETS: targets, F.LABEL_MASK: np.ones_like(targets)}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.inference_model()(feats)[F.TARGETS]
    model.fit(feats, labels, batch_size=4, epochs=3, verbose=0)
    after = model.inference_model()(feats)[F.TARGETS]
    assert not np.allclose(keras.ops.convert_to_numpy(before), keras.ops.convert_to_numpy(after))
    return model


def test_preset_export_served_matches_in_process(trained_preset, tmp_path):
    from affect_tf.serving.client import ServingClient
    from affect_tf.serving.server import LocalModelServer

    base = tmp_path / "preset"
    path = export.export_for_serving(trained_preset, base, metadata={"preset": PRESET})
    inference = trained_preset.inference_model()
    expected_inputs = set(inference.config.input_shapes()) | {F.FACE_MASK, F.AUDIO_MASK}
    inputs, feats, _ = random_batch(batch=2, frames=5, seed=2)
    inputs = {k: v for k, v in inputs.items() if k in expected_inputs}
    reference = keras.ops.convert_to_numpy(inference(feats, training=False)[F.TARGETS])

    with LocalModelServer({PRESET: base}, port=0) as server:
        with ServingClient(server.target, PRESET, timeout=30) as client:
            meta = client.get_metadata()
            assert meta["metadata"]["preset"] == PRESET
            assert set(meta["signature_def"].signature_def[export.DEFAULT_SIGNATURE].inputs) == expected_inputs
            out = client.predict(inputs)
    np.testing.assert_allclose(out["valence"], reference[..., 0], atol=1e-5)
    np.testing.assert_allclose(out["arousal"], reference[..., 1], atol=1e-5)
    assert export.read_metadata(path)["crop_size"] == 96
