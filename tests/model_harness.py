"""One harness every model preset passes: output shapes, finite values, config round trip,
save/load equality of the inference model, and parameter counts (keras-hub style)."""
from __future__ import annotations

import numpy as np
import keras

from affect_tf import config as config_lib
from affect_tf import features, presets


def random_inputs(cfg, batch=2, frames=4, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, array in cfg.dummy_inputs(batch, frames).items():
        if name in (features.FACE_MASK, features.AUDIO_MASK, features.FRAME_MASK):
            out[name] = np.ones_like(array)
        else:
            out[name] = rng.uniform(-1, 1, array.shape).astype("float32")
    return out


def check_preset(name: str, tmp_path, batch=2, frames=4, expected_params=None):
    """Run the shared checks on a registered preset; returns (training, inference) counts."""
    preset = presets.get_preset(name)
    cfg = preset.config
    assert config_lib.config_from_json(cfg.to_json()) == cfg, "config JSON round trip"

    model = preset.build()
    x = random_inputs(cfg, batch, frames)
    out = model(x, training=False)
    va = keras.ops.convert_to_numpy(out[features.TARGETS])
    assert va.shape == (batch, frames, 2), va.shape
    assert np.all(np.isfinite(va))

    inference = model.inference_model() if hasattr(model, "inference_model") else model
    before = keras.ops.convert_to_numpy(inference(x, training=False)[features.TARGETS])
    path = tmp_path / f"{name}.keras"
    inference.save(path)
    restored = keras.saving.load_model(path)
    after = keras.ops.convert_to_numpy(restored(x, training=False)[features.TARGETS])
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)

    counts = (model.count_params(), inference.count_params())
    print(f"{name}: training={counts[0]:,} inference={counts[1]:,}")
    if expected_params is not None:
        assert counts == tuple(expected_params), (counts, expected_params)
    return counts
