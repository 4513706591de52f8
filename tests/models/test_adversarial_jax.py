"""AVi-GaS's inference model runs on the JAX backend and gives TF's outputs (model code is
``keras.ops`` only). JAX is installed in the latest environment (.venv311) only."""
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from affect_tf import features, presets

REPO = pathlib.Path(__file__).resolve().parents[2]

JAX_SCRIPT = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
import keras, numpy as np
assert keras.backend.backend() == "jax"
import affect_tf.models.adversarial  # registers the classes
model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
x = {k: data[k] for k in data.files if k != "expected"}
out = model(x)
np.testing.assert_allclose(np.asarray(out["valence_arousal"]), data["expected"], rtol=1e-4, atol=1e-4)
gate = np.asarray(out["gate"])
assert np.all((gate > 0) & (gate < 1))
print("jax ok", np.asarray(out["valence_arousal"]).shape)
"""


def test_avi_gas_inference_forward_on_jax(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed in this environment (it is in the latest one, .venv311)")
    cfg = presets.get_preset("avi_gas").config.replace(
        generator_filters=2, residual_blocks=2, latent_block=1, discriminator_filters=(4, 4, 4, 4, 4, 4),
        encoder_filters=(8, 8, 8), features=16, lstm_units=8, n_states=4)
    model = cfg.build()
    model(model.config.dummy_inputs())
    inference = model.inference_model()
    rng = np.random.default_rng(0)
    x = {features.FACE: rng.uniform(-1, 1, (1, 3, 128, 128, 3)).astype("float32"),
         features.MEL: rng.uniform(-80, 0, (1, 3, 128, 128)).astype("float32")}
    expected = np.asarray(inference(x)[features.TARGETS])
    inference.save(tmp_path / "avi_gas.keras")
    np.savez(tmp_path / "inputs.npz", expected=expected, **x)
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "avi_gas.keras"), str(tmp_path / "inputs.npz")],
                            capture_output=True, text=True, cwd=REPO, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax ok (1, 3, 2)" in result.stdout
