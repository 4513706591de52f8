"""Training losses for valence/arousal regression (``keras.ops`` only).

Tensors carry (valence, arousal) on the last axis; ``mask`` (same shape, or without the last
axis) marks valid labels with 1. Statistics are taken over every valid entry of the batch (all
sequences and frames together), as the papers do.
"""
from __future__ import annotations

from keras import ops

from affect_tf import metrics

N_BALANCE_BINS = 10


def _split(y_true, y_pred, mask):
    y_true = ops.convert_to_tensor(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if mask is None:
        mask = ops.ones_like(y_true)
    mask = ops.cast(mask, "float32")
    if len(mask.shape) == len(y_true.shape) - 1:
        mask = ops.expand_dims(mask, -1)
    mask = ops.broadcast_to(mask, ops.shape(y_true))
    return [(y_true[..., d], y_pred[..., d], mask[..., d]) for d in range(len(metrics.DIMENSIONS))]


def ccc_loss(y_true, y_pred, mask=None):
    """``1 - (ccc_valence + ccc_arousal) / 2`` (``004`` eq. 3). 1 when CCC is undefined."""
    cccs = [metrics.ccc(t, p, m) for t, p, m in _split(y_true, y_pred, mask)]
    return 1.0 - (cccs[0] + cccs[1]) / 2.0


def _label_bins(y_true, n_bins, value_range):
    lo, hi = value_range
    bins = ops.floor((y_true - lo) / (hi - lo) * n_bins)
    return ops.cast(ops.clip(bins, 0, n_bins - 1), "int32")


def balance_weights(y_true, mask, n_bins=N_BALANCE_BINS, value_range=(-1.0, 1.0)):
    """Per-sample weights that give every non-empty label bin the same total weight.

    The labels are cut into ``n_bins`` equal bins over ``value_range``; a sample in a bin holding
    ``k_i`` of the ``n`` valid samples gets weight ``n / (B k_i)``, where ``B`` is the number of
    non-empty bins, so the weights sum to ``n``. The inverse-frequency weights of the authors'
    code (``AFC_BALANCES``: ``"inverse_frequency"``), applied inside the weighted statistics.
    """
    one_hot = ops.one_hot(_label_bins(y_true, n_bins, value_range), n_bins) * ops.expand_dims(mask, -1)
    axes = tuple(range(len(one_hot.shape) - 1))
    counts = ops.sum(one_hot, axis=axes)
    n = ops.sum(mask)
    occupied = ops.sum(ops.cast(counts > 0, "float32"))
    per_bin = ops.where(counts > 0, n / (ops.maximum(occupied, 1.0) * ops.maximum(counts, 1.0)), 0.0)
    return ops.sum(one_hot * per_bin, axis=-1)


AFC_TERMS = ("rmse", "pcc", "ccc", "icc")  # 001 eq. 14-18
AEG_AFC_TERMS = ("rmse", "pcc", "ccc")  # 000 eq. 5-8: eq. 6's "MSE" has a square root
# How L_afc balances the label classes. "per_class": the equations (000 eq. 5, 001 eq. 14) as
# written, sum_i k_i/K (terms on class i); "inverse_frequency": the authors' code, every statistic
# weighted by balance_weights; "none": plain statistics over the batch.
AFC_BALANCES = ("per_class", "inverse_frequency", "none")


def _terms(stats, terms):
    total = 0.0
    for term in terms:
        value = metrics.from_statistics(term, stats)
        total = total + (value if term in ("rmse", "mse") else 1.0 - value)
    return total


def afc_loss(y_true, y_pred, mask=None, balance="per_class", value_range=(-1.0, 1.0), terms=AFC_TERMS):
    """L_afc of ``001`` eq. 14-18 (``terms=AEG_AFC_TERMS``: ``000`` eq. 5-8), averaged over
    valence and arousal.

    The terms: error terms (``rmse``, ``mse``) as they are, agreement terms (``pcc``, ``ccc``,
    ``icc``) as ``1 - r`` so that the loss falls as agreement rises (the papers maximise them);
    0 for a perfect prediction. ``000`` eq. 6 names its term MSE but writes a square root, like
    ``001`` eq. 15: both families use RMSE.

    ``balance`` (one of ``AFC_BALANCES``):

    * ``"per_class"`` (default), the equations as written: per dimension the labels are cut into
      K = 10 classes (equal bins over ``value_range``), the terms are computed over the ``k_i``
      samples of each class i and summed with the weights ``k_i / N`` (``N`` valid samples, the
      "normalisation factor" that makes the weights sum to 1). Where a class's labels are all equal
      (categorical corpora such as EmoDB) its correlation terms are 0, so within such classes only
      the error term drives the gradient.
    * ``"inverse_frequency"``: every statistic over the whole batch, weighted by
      :func:`balance_weights` (the authors' code; the default before issue 24).
    * ``"none"``: plain statistics over every valid sample.
    """
    if balance not in AFC_BALANCES:
        raise ValueError(f"afc balance {balance!r}: expected one of {AFC_BALANCES}")
    total = 0.0
    parts = _split(y_true, y_pred, mask)
    for t, p, m in parts:
        if balance == "per_class":
            classes = ops.one_hot(_label_bins(t, N_BALANCE_BINS, value_range), N_BALANCE_BINS)
            classes = classes * ops.expand_dims(m, -1)
            axes = tuple(range(len(classes.shape) - 1))
            stats = metrics.sufficient_statistics(ops.expand_dims(t, -1), ops.expand_dims(p, -1), classes, axes)
            share = stats[0] / ops.maximum(ops.sum(m), metrics.EPSILON)
            total = total + ops.sum(share * _terms(stats, terms))
        else:
            w = balance_weights(t, m, value_range=value_range) if balance == "inverse_frequency" else m
            total = total + _terms(metrics.sufficient_statistics(t, p, w), terms)
    return total / len(parts)


def constant_target_bce(logits, target: float):
    """Mean binary cross-entropy of real/fake logits against one constant label (``000`` eq. 1)."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True))


def mean_absolute_error(a, b):
    """Mean |a - b| over every entry (the reconstruction term of the adversarial generators)."""
    return ops.mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))


def masked_mse(y_true, y_pred, mask):
    """Mean squared error over the entries where ``mask`` is 1 (0 when none is)."""
    mask = ops.cast(mask, "float32")
    error = ops.square(ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")) * mask
    return ops.sum(error) / ops.maximum(ops.sum(mask), 1.0)


def masked_sparse_cross_entropy(labels, logits, mask):
    """Mean softmax cross-entropy of ``logits`` (N, K) against integer ``labels`` (N,) over the
    rows where ``mask`` (N,) is 1 (the quadrant estimate of ``003`` / ``001`` eq. 2)."""
    mask = ops.cast(mask, "float32")
    per_row = ops.sparse_categorical_crossentropy(ops.cast(labels, "int32"), ops.cast(logits, "float32"),
                                                  from_logits=True)
    return ops.sum(per_row * mask) / ops.maximum(ops.sum(mask), 1.0)
