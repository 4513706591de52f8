"""LSTM with attention over its n previous [h; c] states (``003`` §3.2 eq. 5-8, ``001`` eq. 9-12)."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="affect_tf")
class StateAttentionLSTM(layers.Layer):
    """An LSTM whose input at frame t is ``[x_t; C_t]``, with ``C_t`` the attention context.

    The layer keeps the last ``n_states`` combined states ``S = [h; c]``. At each frame the
    current state ``S_t`` (after frame t-1) scores every kept state with ``W_a [S_t; S_i]``
    (eq. 5), a softmax over the kept states gives the weights (eq. 6), and
    ``C_t = sum_i a_i S_i / n`` (eq. 7, n = number of kept states) joins ``x_t`` as the LSTM input
    (eq. 8). The context is zero at the first frame, and the state starts at zero for every
    sequence. With ``use_attention=False`` this is the plain LSTM of ANCLaF-S (eq. 4).

    ``call(x)`` with x (B, T, D) returns ``(h, weights)``: h (B, T, units) and the attention
    weights (B, T, n_states) over the kept states, oldest first (zeros where no state is kept yet;
    all zeros without attention). The kernel rows for ``x`` come first, so a model without
    attention warm-starts this one by copying its kernel into those rows (``003`` §3.4).
    """

    def __init__(self, units: int, n_states: int = 8, use_attention: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.n_states = n_states
        self.use_attention = use_attention
        self.cell = layers.LSTMCell(units, name="cell")
        self.score = layers.Dense(1, name="score") if use_attention else None

    def build(self, input_shape):
        extra = 2 * self.units if self.use_attention else 0
        self.cell.build((input_shape[0], input_shape[-1] + extra))
        if self.score is not None:
            self.score.build((input_shape[0], 4 * self.units))

    def _attend(self, state, memory, valid):
        query = ops.broadcast_to(ops.expand_dims(state, 1), ops.shape(memory))
        scores = ops.squeeze(self.score(ops.concatenate([query, memory], axis=-1)), -1)
        scores = ops.where(valid > 0, scores, ops.full_like(scores, -1e9))
        scores = scores - ops.max(scores, axis=-1, keepdims=True)
        weights = ops.exp(scores) * valid
        weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-12)
        kept = ops.maximum(ops.sum(valid, axis=-1, keepdims=True), 1.0)
        context = ops.sum(ops.expand_dims(weights, -1) * memory, axis=1) / kept
        return context, weights

    def call(self, x, initial_state=None, return_state=False):
        """``(h, weights)``, and the state after the last frame with ``return_state``:
        :meth:`call_from` through the layer's ``__call__`` (which builds it)."""
        h, weights, state = self.call_from(x, initial_state)
        return (h, weights, state) if return_state else (h, weights)

    def state_shapes(self) -> list:
        """Per-example shapes of the state a stream carries: h, c, the kept [h; c] and their
        validity (1 where a state is kept)."""
        return [(self.units,), (self.units,), (self.n_states, 2 * self.units), (self.n_states,)]

    def call_from(self, x, state=None):
        """``(h, weights, state after the last frame)`` starting from ``state``
        (:meth:`state_shapes`; zeros when None, as :meth:`call`): a sequence cut into chunks,
        each continued from the last one's state, gives what one call gives."""
        batch = ops.shape(x)[0]
        if state is None:
            zeros = ops.zeros((batch, self.units), dtype=x.dtype)
            state = (zeros, zeros, ops.zeros((batch, self.n_states, 2 * self.units), dtype=x.dtype),
                     ops.zeros((batch, self.n_states), dtype=x.dtype))
        h0, c0, memory, valid = state

        def step(carry, x_t):
            h, c, memory, valid, _ = carry
            if self.use_attention:
                context, weights = self._attend(ops.concatenate([h, c], -1), memory, valid)
                x_t = ops.concatenate([x_t, context], axis=-1)
            else:
                weights = ops.zeros_like(valid)
            h, (_, c) = self.cell(x_t, [h, c])
            memory = ops.concatenate([memory[:, 1:], ops.expand_dims(ops.concatenate([h, c], -1), 1)], 1)
            valid = ops.concatenate([valid[:, 1:], ops.ones_like(valid[:, :1])], axis=1)
            carry = (h, c, memory, valid, weights)
            return carry, carry  # Keras' TF scan wants outputs shaped like the carry

        init = (h0, c0, memory, valid, ops.zeros_like(valid))
        last, (h, _, _, _, weights) = ops.scan(step, init, ops.transpose(x, (1, 0, 2)))
        return ops.transpose(h, (1, 0, 2)), ops.transpose(weights, (1, 0, 2)), list(last[:4])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.units), (*input_shape[:2], self.n_states)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "n_states": self.n_states,
            "use_attention": self.use_attention,
        }
