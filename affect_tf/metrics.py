"""Affect metrics: CCC, PCC, RMSE, MSE, ICC and SAGR, as functions and as streaming Keras metrics.

Everything here is written with ``keras.ops`` so it runs under any Keras backend.

Definitions (``x`` = prediction, ``y`` = label, population moments, optional 0/1 mask):

* ``ccc = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)``  (Lin; ``004`` eq. 2, ``001`` eq. 17)
* ``pcc = cov(x, y) / (std x std y)``                                 (``001`` eq. 16, "COR")
* ``icc = 2 cov(x, y) / (var x + var y)``  (``001`` eq. 18; the "-" between the two centred terms
  in the paper's text is a product, as in eq. 16 and 17)
* ``rmse = sqrt(mean (x - y)^2)``, ``mse = mean (x - y)^2``
* ``sagr = mean [sign x == sign y]``   (sign agreement; zero counts as positive)

Degenerate inputs: when a denominator is zero (constant predictions and labels, or no valid
sample) the correlation-type metrics return 0, never NaN. With a tiny epsilon in the
denominators the gradients stay finite too, so the losses built on them are safe on constant
predictions. ``EPSILON`` is small enough that it changes results on real data by < 1e-6.
"""
from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-8
DIMENSIONS = ("valence", "arousal")


def _weights(y_true, mask):
    if mask is None:
        return ops.ones_like(y_true)
    return ops.cast(mask, y_true.dtype)


def sufficient_statistics(y_true, y_pred, mask=None, axis=None):
    """Weighted sums ``(n, Σx, Σy, Σx², Σy², Σxy)`` over ``axis`` (all axes when None).

    ``x`` is the prediction and ``y`` the label. These six sums are all a whole-set CCC/PCC/ICC/
    RMSE needs, so they can be accumulated batch by batch and combined by addition.
    """
    y_true = ops.convert_to_tensor(y_true, "float32")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    w = _weights(y_true, mask)
    # Masked entries may hold NaN or sentinel values (e.g. -5 in Aff-Wild2): zero them first.
    x = ops.where(w > 0, y_pred, 0.0)
    y = ops.where(w > 0, y_true, 0.0)
    return (
        ops.sum(w, axis=axis),
        ops.sum(w * x, axis=axis),
        ops.sum(w * y, axis=axis),
        ops.sum(w * x * x, axis=axis),
        ops.sum(w * y * y, axis=axis),
        ops.sum(w * x * y, axis=axis),
    )


def moments(stats):
    """Means, population variances and covariance from :func:`sufficient_statistics`."""
    n, sx, sy, sxx, syy, sxy = stats
    n_safe = ops.maximum(n, EPSILON)
    mx, my = sx / n_safe, sy / n_safe
    # Clamp: cancellation can make a variance a hair below zero.
    vx = ops.maximum(sxx / n_safe - mx * mx, 0.0)
    vy = ops.maximum(syy / n_safe - my * my, 0.0)
    cov = sxy / n_safe - mx * my
    return mx, my, vx, vy, cov


def from_statistics(name, stats):
    """One of ccc, pcc, icc, mse, rmse from :func:`sufficient_statistics`."""
    n, sx, sy, sxx, syy, sxy = stats
    mx, my, vx, vy, cov = moments(stats)
    if name == "ccc":
        return 2.0 * cov / (vx + vy + (mx - my) ** 2 + EPSILON)
    if name == "pcc":
        return cov / (ops.sqrt(vx * vy + EPSILON**2) + EPSILON)
    if name == "icc":
        return 2.0 * cov / (vx + vy + EPSILON)
    mse = (sxx - 2.0 * sxy + syy) / ops.maximum(n, EPSILON)
    mse = ops.maximum(mse, 0.0)
    if name == "mse":
        return mse
    if name == "rmse":
        return ops.sqrt(mse + EPSILON**2)
    raise ValueError(f"unknown metric {name!r}; expected one of ccc, pcc, icc, mse, rmse")


def ccc(y_true, y_pred, mask=None, axis=None):
    """Concordance correlation coefficient (0 when undefined)."""
    return from_statistics("ccc", sufficient_statistics(y_true, y_pred, mask, axis))


def pcc(y_true, y_pred, mask=None, axis=None):
    """Pearson correlation coefficient (0 when undefined)."""
    return from_statistics("pcc", sufficient_statistics(y_true, y_pred, mask, axis))


def icc(y_true, y_pred, mask=None, axis=None):
    """Intra-class correlation as in ``001`` eq. 18 (0 when undefined)."""
    return from_statistics("icc", sufficient_statistics(y_true, y_pred, mask, axis))


def mse(y_true, y_pred, mask=None, axis=None):
    """Mean squared error over valid entries (0 when there are none)."""
    return from_statistics("mse", sufficient_statistics(y_true, y_pred, mask, axis))


def rmse(y_true, y_pred, mask=None, axis=None):
    """Root mean squared error over valid entries (0 when there are none)."""
    return from_statistics("rmse", sufficient_statistics(y_true, y_pred, mask, axis))


def sagr(y_true, y_pred, mask=None, axis=None):
    """Sign agreement rate: share of valid entries whose prediction has the label's sign."""
    y_true = ops.convert_to_tensor(y_true, "float32")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    w = _weights(y_true, mask)
    agree = ops.cast(ops.equal(y_true >= 0, y_pred >= 0), "float32")
    return ops.sum(w * agree, axis=axis) / ops.maximum(ops.sum(w, axis=axis), EPSILON)


FUNCTIONS = {"ccc": ccc, "pcc": pcc, "icc": icc, "mse": mse, "rmse": rmse, "sagr": sagr}


@keras.saving.register_keras_serializable(package="affect_tf")
class StreamingAffectMetric(keras.metrics.Metric):
    """Corpus-level CCC/PCC/ICC/MSE/RMSE/SAGR for one output dimension.

    Accumulates the sufficient statistics of every batch and computes the metric once over the
    whole evaluation set. This differs from ``keras.metrics.ConcordanceCorrelation``, which
    averages per-batch values.

    ``y_true``/``y_pred`` have a trailing axis holding (valence, arousal); ``dimension`` picks one.
    ``sample_weight`` is the 0/1 label mask, broadcastable to ``y_true``.
    """

    def __init__(self, kind="ccc", dimension="valence", name=None, dtype="float32", **kwargs):
        if kind not in FUNCTIONS:
            raise ValueError(f"unknown metric kind {kind!r}; expected one of {sorted(FUNCTIONS)}")
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; expected one of {DIMENSIONS}")
        super().__init__(name=name or f"{dimension}_{kind}", dtype=dtype, **kwargs)
        self.kind = kind
        self.dimension = dimension
        self._index = DIMENSIONS.index(dimension)
        names = ("n", "sum_x", "sum_y", "sum_xx", "sum_yy", "sum_xy", "sum_agree")
        # float64 where the backend has it would be nicer; float32 sums are exact enough for
        # evaluation sets of ~1e7 frames with values in [-1, 1].
        self._sums = [self.add_variable(shape=(), initializer="zeros", name=n) for n in names]

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, "float32")[..., self._index]
        y_pred = ops.cast(y_pred, "float32")[..., self._index]
        mask = None
        if sample_weight is not None:
            mask = ops.convert_to_tensor(sample_weight, "float32")
            if len(mask.shape) == len(y_true.shape) + 1:
                mask = mask[..., self._index]
            mask = ops.broadcast_to(mask, ops.shape(y_true))
        stats = sufficient_statistics(y_true, y_pred, mask)
        w = _weights(y_true, mask)
        agree = ops.sum(w * ops.cast(ops.equal(y_true >= 0, y_pred >= 0), "float32"))
        for variable, value in zip(self._sums, (*stats, agree)):
            variable.assign_add(value)

    def result(self):
        if self.kind == "sagr":
            return self._sums[6] / ops.maximum(self._sums[0], EPSILON)
        return from_statistics(self.kind, [v.value for v in self._sums[:6]])

    def reset_state(self):
        for variable in self._sums:
            variable.assign(ops.zeros((), "float32"))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "dimension": self.dimension}


def affect_metrics(kinds=("ccc", "pcc", "rmse")):
    """One streaming metric per kind and dimension, named ``valence_ccc``, ``arousal_ccc``, ..."""
    return [StreamingAffectMetric(k, d) for k in kinds for d in DIMENSIONS]
