"""A preset's option search as part of its recipe: ``TrainConfig.search_option`` /
``search_values`` (implicit fusion's alpha grid, ``002`` §4.2) run by ``affect-tf train``,
``affect-tf run`` and the TFX ``run_fn`` alike, through :func:`train`."""
from __future__ import annotations

import warnings

from affect_tf import features
from affect_tf.training.config import TrainConfig


def pin_option(train_config: TrainConfig, name: str, value) -> TrainConfig:
    """The config with the model-config field ``name`` fixed at ``value`` and no search
    (``--alpha 0.5``)."""
    model = train_config.model_config()
    if not hasattr(model, name):
        raise ValueError(f"{type(model).__name__} ({train_config.preset}) has no option {name!r}")
    return train_config.replace(model=model.replace(**{name: value}), search_option=None, search_values=())


def auxiliary_missing(train_config: TrainConfig, data, max_batches: int = 20) -> str | None:
    """The auxiliary modality of an implicit fusion model when ``data`` (a ``tf.data`` dataset of
    ``(features, labels)``) hold none of it in its first batches (speech-only records: the face
    mask is 0 everywhere), else None."""
    from affect_tf.models.implicit_fusion.implicit_fusion import MASKS, ImplicitFusionConfig

    model = train_config.model_config()
    if not isinstance(model, ImplicitFusionConfig) or model.inference_only:
        return None
    key = MASKS[model.aux]
    if key not in data.element_spec[0]:
        return None
    for mask in data.take(max_batches).map(lambda feats, *rest: feats[key]).as_numpy_iterator():
        if mask.any():
            return None
    return model.aux


def train(train_config: TrainConfig, workdir, train_data, val_data=None, verbose: int = 0):
    """:func:`~affect_tf.training.trainer.train_and_evaluate`, or, when the config names a search
    (``search_option`` over ``search_values``), one run per value kept by the best monitored
    validation value (:func:`~affect_tf.training.trainer.search_model_option`). Returns
    ``(result, {value: score})``, the scores empty without a search.

    Without validation data the model config's own value is trained, with a warning.
    Implicit fusion on records without its auxiliary modality is the mono-modal GRU baseline
    whatever alpha is (the auxiliary loss is masked out): that is said once, and the search, which
    would train the same model once per value, is skipped."""
    from affect_tf.training.fitting import make_data
    from affect_tf.training.trainer import search_model_option, train_and_evaluate

    search = train_config.search_option and len(train_config.search_values) > 1
    single = train_config.replace(search_option=None, search_values=())
    probe = make_data(train_data, single.replace(shuffle=False, steps_per_epoch=None), single.model_config(),
                      training=False)
    aux = auxiliary_missing(single, probe)
    if aux:
        warnings.warn(f"{train_config.preset}: the training records hold no {aux} features, so the "
                      f"auxiliary loss is masked out and this trains the mono-modal GRU baseline "
                      f"(alpha has no effect{'; its search is skipped' if search else ''})", stacklevel=2)
        search = False
    elif search and val_data is None:
        name = train_config.search_option
        warnings.warn(f"{train_config.preset}: no validation data to search {name} on: training "
                      f"{name}={getattr(single.model_config(), name)} only", stacklevel=2)
        search = False
    if not search:
        return train_and_evaluate(single, workdir, train_data, val_data, verbose), {}
    return search_model_option(single, workdir, train_config.search_option, train_config.search_values,
                               train_data, val_data, verbose)
