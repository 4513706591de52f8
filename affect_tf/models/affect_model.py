"""The base of every model trained by the standard Keras loop.

:class:`AffectModel` owns the CCC loss (``004`` eq. 3, ``1 - (ccc_v + ccc_a) / 2`` over the
labelled frames) in ``compute_loss`` and the corpus-level streaming metrics (``valence_ccc``,
``arousal_ccc``, ..., plus ``mean_ccc``) in ``compute_metrics``. Sub-classes implement
``call(features)`` returning ``{"valence_arousal": (B, T, 2)}`` and keep their
:class:`~affect_tf.config.ModelConfig` in ``self.config``; ``get_config``/``from_config``
round-trip it through JSON.
"""
from __future__ import annotations

import keras
from keras import ops

from affect_tf import config as config_lib
from affect_tf import features, losses, metrics
from affect_tf.layers.standardization import STANDARDIZED, FeatureStandardization

# Divides by the replica count under tf.distribute (identity elsewhere). Keras has no public name
# for it; importing it plainly makes a Keras that moves it fail here instead of silently training
# with unscaled losses on several replicas.
from keras.src.losses.loss import scale_loss_for_distribution as _scale_for_replicas

MEAN_CCC = "mean_ccc"


def label_mask(x, y):
    """The 0/1 mask of usable labels: ``labels[label_mask]`` times ``features[frame_mask]``."""
    targets = y[features.TARGETS]
    mask = y.get(features.LABEL_MASK) if isinstance(y, dict) else None
    mask = ops.ones_like(targets) if mask is None else ops.cast(mask, "float32")
    if isinstance(x, dict) and x.get(features.FRAME_MASK) is not None:
        mask = mask * ops.expand_dims(ops.cast(x[features.FRAME_MASK], "float32"), -1)
    return mask


@keras.saving.register_keras_serializable(package="affect_tf")
class AffectModel(keras.Model):
    """Base of the valence/arousal regressors trained with the CCC loss.

    ``y`` is the labels dict of :mod:`affect_tf.features` (``valence_arousal`` and optional
    ``label_mask``); padding frames (``frame_mask`` = 0) never count. Sub-classes may override
    :meth:`affect_loss` (e.g. implicit fusion adds an auxiliary term).
    """

    metric_kinds = ("ccc", "pcc", "rmse")
    standardizes_inputs = True  # False for a model whose sub-models standardise their own

    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.affect_metrics = metrics.affect_metrics(self.metric_kinds)
        inputs = config.input_shapes() if self.standardizes_inputs and hasattr(config, "input_shapes") else {}
        names = [name for name in STANDARDIZED if name in inputs]
        # training-split statistics of egemaps/landmarks/mel (002 §4.2), saved with the weights
        self.standardization = FeatureStandardization(names, name="standardization") if names else None

    def standardized(self, inputs):
        """The features dict with egemaps, landmarks and mel standardised (the one input hook)."""
        return inputs if self.standardization is None else self.standardization(inputs)

    # --- training hooks of the standard Keras loop -------------------------------------
    def affect_loss(self, x, y, y_pred, training=True):
        """The loss before regularisers: CCC loss of the main output on the labelled frames."""
        return losses.ccc_loss(y[features.TARGETS], y_pred[features.TARGETS], label_mask(x, y))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.affect_loss(x, y, y_pred, training=training)
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
        return _scale_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        mask = label_mask(x, y)
        for metric in self.affect_metrics:
            metric.update_state(y[features.TARGETS], y_pred[features.TARGETS], mask)
        return self.get_metrics_result()

    def get_metrics_result(self):
        results = super().get_metrics_result()
        if "valence_ccc" in results and "arousal_ccc" in results:
            results[MEAN_CCC] = (results["valence_ccc"] + results["arousal_ccc"]) / 2.0
        return results

    # --- streaming (affect_tf.export's serving_stream signature) ----------------------------
    def stream_state_shapes(self):
        """Per-example shapes of the states a stream carries between chunks, or None when the
        model cannot stream exactly (it looks ahead, or carries no state yet); causal models
        override this and :meth:`call_streaming`."""
        return None

    def call_streaming(self, inputs, states):
        """Inference over one chunk of frames continued from ``states``: (outputs, new states)."""
        raise NotImplementedError(f"{type(self).__name__} has no streaming mode")

    # --- serialisation -------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model_config = config_lib.config_from_dict(config.pop("config"))
        return cls(config=model_config, **config)
