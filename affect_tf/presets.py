"""The one place that maps preset names (the papers' variant names) to model configs.

Model modules call :func:`register_preset` at import; :func:`load_presets` imports them all.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
from typing import Callable

from affect_tf.config import Config, ModelConfig, config_from_dict, config_from_json

# Modules whose import registers presets. A family lands here when it exists.
PRESET_MODULES: tuple[str, ...] = (
    "affect_tf.models.adversarial.adversarial_presets",
    "affect_tf.models.cnn_rnn.cnn_rnn_presets",
    "affect_tf.models.implicit_fusion.implicit_fusion_presets",
)

_PRESETS: dict[str, "Preset"] = {}
# comma-separated modules registering config types of families outside affect_tf; load_config
# imports them (a fresh process, e.g. a Kubeflow pod, reading a TrainConfig that names one)
MODEL_MODULES_ENV = "AFFECT_TF_MODEL_MODULES"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model configuration and where it comes from."""

    name: str
    config: ModelConfig
    paper: str  # e.g. "004 §5.2, Table 5"
    description: str = ""
    # the paper's training settings (TrainConfig fields); command-line flags override them
    training: dict = dataclasses.field(default_factory=dict)
    # the paper's own (training, inference) parameter counts and the function counting a built
    # model the paper's way, e.g. 001 Table 11
    paper_counts: tuple[int, int] | None = None
    count_as_paper: Callable | None = None

    def build(self):
        return self.config.build()


def register_preset(name: str, config: ModelConfig, paper: str, description: str = "",
                    training: dict | None = None, paper_counts: tuple[int, int] | None = None,
                    count_as_paper: Callable | None = None) -> Preset:
    if not isinstance(config, ModelConfig):
        raise TypeError(f"preset {name!r}: config must be a ModelConfig, got {type(config).__name__}")
    if name in _PRESETS and _PRESETS[name].config != config:
        raise ValueError(f"preset {name!r} is already registered with a different config")
    preset = Preset(name, config, paper, description, dict(training or {}), paper_counts, count_as_paper)
    _PRESETS[name] = preset
    return preset


def load_presets() -> None:
    for module in PRESET_MODULES:
        importlib.import_module(module)


def get_preset(name: str) -> Preset:
    load_presets()
    if name not in _PRESETS:
        close = difflib.get_close_matches(name, list(_PRESETS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown preset {name!r}{hint} (`affect-tf presets` lists them)")
    return _PRESETS[name]


def load_config(data: dict | str) -> Config:
    """A config saved with ``to_dict``/``to_json`` (a dict or JSON text), every model family
    imported first so that its config types are known."""
    load_presets()
    # families outside affect_tf (a user's own model in a pipeline image): the named modules
    for module in filter(None, os.environ.get(MODEL_MODULES_ENV, "").split(",")):
        importlib.import_module(module.strip())
    return config_from_json(data) if isinstance(data, str) else config_from_dict(data)


def list_presets() -> list[Preset]:
    load_presets()
    return [_PRESETS[n] for n in sorted(_PRESETS)]


SMALL_FACTOR = 8
_WIDTH_SUFFIXES = ("_filters", "_units", "features", "units")


def small_config(config: ModelConfig, factor: int = SMALL_FACTOR) -> ModelConfig:
    """A CPU-sized copy of ``config`` (``--small``): every width (fields named ``*_filters``,
    ``*units``, ``features``; nested member configs too) divided by ``factor`` (at least 2), the
    structure, input sizes and training recipe unchanged. Pretrained backbones keep their size."""
    changes = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, ModelConfig):
            changes[field.name] = small_config(value, factor)
        elif isinstance(value, tuple) and value and all(isinstance(v, ModelConfig) for v in value):
            changes[field.name] = tuple(small_config(v, factor) for v in value)
        elif field.name.endswith(_WIDTH_SUFFIXES):
            if isinstance(value, int) and not isinstance(value, bool):
                changes[field.name] = max(2, value // factor)
            elif isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
                changes[field.name] = tuple(max(2, v // factor) for v in value)
    return config.replace(**changes)


def _counts(model) -> tuple[int, int]:
    inference = model.inference_model() if hasattr(model, "inference_model") else model
    return model.count_params(), inference.count_params()


def parameter_counts(preset: Preset) -> tuple[int, int]:
    """(training, inference) parameter counts of a preset's model, built on dummy inputs."""
    return _counts(preset.config.built_model())


def summary(preset: Preset) -> dict:
    """A preset's built model in numbers: ``train`` and ``inference`` parameter counts,
    ``inputs`` (shapes, ``T`` for the sequence axis) and ``paper_convention``: ((ours, paper)
    for training and inference) counted the paper's way, for presets with the paper's counts."""
    model = preset.config.built_model()
    train, infer = _counts(model)
    inputs = " ".join(
        f"{k}={'x'.join('T' if d is None else str(d) for d in v)}"
        for k, v in preset.config.input_shapes().items()
    )
    paper = None
    if preset.paper_counts and preset.count_as_paper:
        paper = tuple(zip(preset.count_as_paper(model), preset.paper_counts))
    return {"train": train, "inference": infer, "inputs": inputs, "paper_convention": paper}


def describe(preset: Preset) -> str:
    """One line: name, paper, training/inference parameters, input shapes; for presets with the
    paper's counts, ours counted the paper's way beside the paper's (and the relative gap)."""
    row = summary(preset)
    line = f"{preset.name}\t{preset.paper}\ttrain={row['train']:,}\tinference={row['inference']:,}\t{row['inputs']}"
    if row["paper_convention"]:
        line += "\tpaper-convention " + " ".join(
            f"{kind}={o:,} (paper {p:,}, {100 * (o - p) / p:+.1f}%)"
            for kind, (o, p) in zip(("train", "inference"), row["paper_convention"]))
    return line
