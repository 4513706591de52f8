import dataclasses
import io
import contextlib

import keras
import numpy as np
import pytest

from affect_tf import cli, config, presets


@config.register_config
@dataclasses.dataclass(frozen=True)
class _Optimizer(config.Config):
    lr: float = 1e-3
    betas: tuple[float, ...] = (0.9, 0.999)


class _TinyModel(keras.Model):
    """Per-frame dense layer on eGeMAPS features; its inference part drops the auxiliary head."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.head = keras.layers.Dense(2, name="head")
        self.aux = keras.layers.Dense(config.aux_units, name="aux")

    def call(self, inputs):
        x = inputs["egemaps"]
        return {"valence_arousal": self.head(x), "aux": self.aux(x)}

    def inference_model(self):
        inputs = keras.Input((None, 25), name="egemaps")
        return keras.Model(inputs, self.head(inputs))


@config.register_config
@dataclasses.dataclass(frozen=True)
class _TinyConfig(config.ModelConfig):
    model_class = _TinyModel
    aux_units: int = 3
    taps: tuple[str, ...] = ("pool2", "fc")
    optimizer: _Optimizer = _Optimizer()

    def input_shapes(self):
        return {"egemaps": (None, 25)}


@pytest.fixture
def tiny_preset(preset_registry):
    return preset_registry.register_preset("test_tiny", _TinyConfig(aux_units=4), "test §0", "tiny")


def test_config_json_round_trip_nested_and_tuples():
    original = _TinyConfig(aux_units=7, taps=("pool5",), optimizer=_Optimizer(lr=0.5, betas=(0.5, 0.9)))
    text = original.to_json()
    restored = config.config_from_json(text)
    assert restored == original
    assert isinstance(restored.taps, tuple) and isinstance(restored.optimizer.betas, tuple)
    assert '"type": "_TinyConfig"' in text


def test_config_is_immutable_and_errors_are_clear():
    c = _TinyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.aux_units = 5
    assert c.replace(aux_units=5).aux_units == 5 and c.aux_units == 3
    with pytest.raises(ValueError, match="unknown config type 'Nope'"):
        config.config_from_dict({"type": "Nope"})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['bogus'\]"):
        config.config_from_dict({"type": "_TinyConfig", "bogus": 1})
    with pytest.raises(TypeError, match="frozen dataclass"):
        config.register_config(type("Loose", (), {}))


def test_preset_lookup_counts_and_description(tiny_preset):
    assert presets.get_preset("test_tiny") is tiny_preset
    with pytest.raises(KeyError, match="did you mean test_tiny"):
        presets.get_preset("test_tiny2")
    train, infer = presets.parameter_counts(tiny_preset)
    # head: 25*2+2 = 52; aux: 25*4+4 = 104
    assert (train, infer) == (156, 52)
    line = presets.describe(tiny_preset)
    assert line.split("\t") == ["test_tiny", "test §0", "train=156", "inference=52", "egemaps=Tx25"]


def _presets_output(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["presets", *args])
    return code, out.getvalue().splitlines()


def test_presets_command_lists_registered_presets(tiny_preset):
    # Describing every paper-size preset builds each model (minutes); the full-size counts are
    # checked per model family in tests/models, here the listing and the filter.
    assert _presets_output("test_t*") == (0, ["test_tiny\ttest §0\ttrain=156\tinference=52\tegemaps=Tx25"])
    code, names = _presets_output("--names-only")
    assert code == 0 and names == [p.name for p in presets.list_presets()] and "test_tiny" in names
    assert _presets_output("--names-only", "cnn_3rnn_*", "test_tiny")[1] == \
        [n for n in names if n.startswith("cnn_3rnn_") or n == "test_tiny"]
    assert _presets_output("no_such_*") == (2, [])


def test_every_registered_preset_round_trips_its_config():
    for preset in presets.list_presets():
        assert config.config_from_json(preset.config.to_json()) == preset.config, preset.name


def test_dummy_inputs_shape():
    x = _TinyConfig().dummy_inputs(batch=3, frames=5)
    assert x["egemaps"].shape == (3, 5, 25) and x["egemaps"].dtype == np.float32


def test_saved_train_config_loads_in_a_fresh_process(tmp_path):
    """`affect-tf train --config X.json` in a new process: the model family named in the JSON is
    not imported yet when the file is read."""
    import subprocess
    import sys

    from affect_tf.training.config import TrainConfig

    path = tmp_path / "train.json"
    name = "cnn_3rnn_2ndpool_lastpool_fc"
    path.write_text(TrainConfig.for_preset(name, window=6, model=presets.get_preset(name).config).to_json())
    code = "import sys\nfrom affect_tf.cli import main\nsys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "train", "--config", str(path), "--recipe"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "01_train: train on records (6 frames)" in done.stdout, done.stdout  # the file was read
