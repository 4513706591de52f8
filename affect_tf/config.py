"""Typed, immutable configuration objects with a JSON round trip.

Every config is a frozen dataclass deriving from :class:`Config`. ``to_json`` writes the fields
plus a ``"type"`` key naming the class, and :func:`config_from_json` rebuilds the same object
(nested configs and tuples included). Classes join the round trip with ``@register_config``.
"""
from __future__ import annotations

import dataclasses
import json
import typing
import warnings
from typing import Any, ClassVar

import numpy as np

_CONFIG_TYPES: dict[str, type] = {}


def register_config(cls):
    """Class decorator: make a ``Config`` subclass loadable by :func:`config_from_json`."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
        raise TypeError(f"{cls.__name__} must be a frozen dataclass")
    name = cls.__name__
    if _CONFIG_TYPES.get(name, cls) is not cls:
        raise ValueError(f"config type {name!r} is already registered by {_CONFIG_TYPES[name]}")
    _CONFIG_TYPES[name] = cls
    return cls


def _encode(value):
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value, annotation):
    if isinstance(value, dict) and "type" in value:
        return config_from_dict(value)
    origin = typing.get_origin(annotation)
    if isinstance(value, list):
        args = typing.get_args(annotation)
        item = args[0] if args else Any
        if origin is list:
            return [_decode(v, item) for v in value]
        return tuple(_decode(v, item) for v in value)
    if isinstance(value, dict):
        args = typing.get_args(annotation)
        item = args[1] if len(args) == 2 else Any
        return {k: _decode(v, item) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config: immutable, comparable, JSON round-trippable."""

    def to_dict(self) -> dict:
        out = {"type": type(self).__name__}
        for field in dataclasses.fields(self):
            out[field.name] = _encode(getattr(self, field.name))
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def replace(self, **changes):
        """A copy with some fields changed (configs are immutable)."""
        return dataclasses.replace(self, **changes)


def config_from_dict(data: dict) -> Config:
    """Rebuild a registered config from :meth:`Config.to_dict` output."""
    data = dict(data)
    type_name = data.pop("type", None)
    if type_name not in _CONFIG_TYPES:
        # model configs register when their family is imported (affect_tf.presets.load_config
        # imports every family first)
        raise ValueError(
            f"unknown config type {type_name!r}; known: {sorted(_CONFIG_TYPES)}"
        )
    cls = _CONFIG_TYPES[type_name]
    for name, why in getattr(cls, "RETIRED_FIELDS", {}).items():  # written by older versions
        if name in data:
            warnings.warn(f"{type_name}.{name} is no longer read and is ignored: {why}", FutureWarning, stacklevel=2)
            del data[name]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{type_name}: unknown field(s) {unknown}")
    return cls(**{k: _decode(v, hints.get(k, Any)) for k, v in data.items()})


def config_from_json(text: str) -> Config:
    """Rebuild a registered config from :meth:`Config.to_json` output."""
    return config_from_dict(json.loads(text))


@dataclasses.dataclass(frozen=True)
class ModelConfig(Config):
    """Base of model configs. Subclasses say which model class they build and its inputs.

    ``model_class`` is the ``keras.Model`` subclass built from the config; it must accept
    ``config=`` and may define ``inference_model()`` returning the part used at serving time.
    """

    model_class: ClassVar[type | None] = None
    # trainers with their own train_step (e.g. adversarial G/D/P) register for a config class in
    # affect_tf.training.registry; the others train with the standard Keras loop

    def build(self):
        """Instantiate the model described by this config (weights created on first call)."""
        if self.model_class is None:
            raise NotImplementedError(f"{type(self).__name__} names no model_class")
        return self.model_class(config=self)

    def input_shapes(self) -> dict[str, tuple]:
        """Per-input shapes without the batch axis (``None`` = any length, e.g. frames)."""
        raise NotImplementedError

    def dummy_inputs(self, batch: int = 1, frames: int = 2) -> dict:
        """Zero inputs of :meth:`input_shapes`; ``None`` axes (sequence length) become ``frames``."""
        return {name: np.zeros((batch, *[frames if d is None else d for d in shape]), "float32")
                for name, shape in self.input_shapes().items()}

    def built_model(self):
        """:meth:`build`, then one call on :meth:`dummy_inputs` so that every weight exists."""
        model = self.build()
        model(self.dummy_inputs(), training=False)
        return model
