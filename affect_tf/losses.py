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


def balance_weights(y_true, mask, n_bins=N_BALANCE_BINS, value_range=(-1.0, 1.0)):
    """Per-sample weights that give every non-empty label bin the same total weight.

    The labels are cut into ``n_bins`` equal bins over ``value_range``; a sample in a bin holding
    ``k_i`` of the ``n`` valid samples gets weight ``n / (B k_i)``, where ``B`` is the number of
    non-empty bins, so the weights sum to ``n``. This is the class balancing of ``001`` eq. 14 (and
    the inverse-frequency weights of the authors' code), applied inside the weighted statistics.
    """
    lo, hi = value_range
    bins = ops.floor((y_true - lo) / (hi - lo) * n_bins)
    bins = ops.cast(ops.clip(bins, 0, n_bins - 1), "int32")
    one_hot = ops.one_hot(bins, n_bins) * ops.expand_dims(mask, -1)
    axes = tuple(range(len(one_hot.shape) - 1))
    counts = ops.sum(one_hot, axis=axes)
    n = ops.sum(mask)
    occupied = ops.sum(ops.cast(counts > 0, "float32"))
    per_bin = ops.where(counts > 0, n / (ops.maximum(occupied, 1.0) * ops.maximum(counts, 1.0)), 0.0)
    return ops.sum(one_hot * per_bin, axis=-1)


AFC_TERMS = ("rmse", "pcc", "ccc", "icc")  # 001 eq. 14-18
AEG_AFC_TERMS = ("mse", "pcc", "ccc")  # 000 eq. 5


def afc_loss(y_true, y_pred, mask=None, balance=True, value_range=(-1.0, 1.0), terms=AFC_TERMS):
    """L_afc of ``001`` eq. 14-18 (``terms=AEG_AFC_TERMS``: ``000`` eq. 5), averaged over valence
    and arousal.

    Per dimension the sum of ``terms``: error terms (``rmse``, ``mse``) as they are, agreement
    terms (``pcc``, ``ccc``, ``icc``) as ``1 - r`` so that the loss falls as agreement rises (the
    papers maximise them); every statistic weighted by :func:`balance_weights` when ``balance`` is
    set. 0 for a perfect prediction.
    """
    total = 0.0
    parts = _split(y_true, y_pred, mask)
    for t, p, m in parts:
        w = balance_weights(t, m, value_range=value_range) if balance else m
        stats = metrics.sufficient_statistics(t, p, w)
        for term in terms:
            value = metrics.from_statistics(term, stats)
            total = total + (value if term in ("rmse", "mse") else 1.0 - value)
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
