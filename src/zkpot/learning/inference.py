"""Exact integer inference of a quantised MLP: the computation the Groth16 circuit proves.

For inputs ``x_q`` (integers in ``[0, 2^input_bits)``) and a :class:`QuantizedModel`::

    a = x_q
    for every hidden layer l:
        z = a @ W_l + b_l                                  # exact integers
        u = z + (2^(k_l - 1) if k_l >= 1 else 0)           # round half up
        require -2^(k_l + act_bits) <= u < 2^(k_l + act_bits)   # else ActivationOverflow
        a = max(0, floor(u / 2^k_l))                       # in [0, 2^act_bits)
    logits = a @ W_last + b_last
    pred = argmax(logits), ties resolved to the lowest index

Everything is computed in int64.  ``ModelSpec`` validation guarantees that no
intermediate value can reach 2^62 for any model and input within the spec's bit widths,
so the int64 arithmetic is exact.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zkpot.learning.integer_model import (
    INT64_SAFE_BOUND,
    ModelSpec,
    QuantizedModel,
    rounding_offset,
)

__all__ = [
    "ActivationOverflow",
    "check_in_range",
    "correct_count",
    "integer_forward",
    "predict_int",
    "requantize",
    "rounding_offset",
    "validate_inputs",
]

IntArray = NDArray[np.int64]


class ActivationOverflow(ValueError):
    """A hidden pre-activation ``u`` fell outside ``[-2^(k + act_bits), 2^(k + act_bits))``.

    ``layer`` is the hidden layer (0 = first), ``sample`` the row of the input batch and
    ``neuron`` the output unit; when several values overflow, the first one in
    (layer, sample, neuron) order is reported.
    """

    def __init__(self, layer: int, sample: int, neuron: int, value: int, bound: int) -> None:
        self.layer = layer
        self.sample = sample
        self.neuron = neuron
        self.value = value
        self.bound = bound
        super().__init__(
            f"activation overflow in hidden layer {layer}, sample {sample}, neuron {neuron}: "
            f"u = {value} is outside [-{bound}, {bound})"
        )


def requantize(z: IntArray, shift: int, act_bits: int, layer: int = 0) -> IntArray:
    """Round-half-up shift plus ReLU of a hidden layer's pre-activations ``z`` (n x m).

    Raises :class:`ActivationOverflow` when ``u = z + rounding_offset(shift)`` leaves
    ``[-2^(shift + act_bits), 2^(shift + act_bits))``.
    """
    u = z + rounding_offset(shift)
    bound = 1 << (shift + act_bits)
    outside = (u < -bound) | (u >= bound)
    if outside.any():
        sample, neuron = (int(i) for i in np.argwhere(outside)[0])
        raise ActivationOverflow(layer, sample, neuron, int(u[sample, neuron]), bound)
    return np.maximum(u >> shift, 0)


def validate_inputs(spec: ModelSpec, x_q: ArrayLike) -> IntArray:
    """Check that ``x_q`` is an integer ``(n, widths[0])`` array in ``[0, 2^input_bits)``."""
    x = np.asarray(x_q)
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"inputs must be integers, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != spec.widths[0]:
        raise ValueError(f"inputs must have shape (n, {spec.widths[0]}), got {x.shape}")
    limit = 1 << spec.input_bits
    if x.size and (int(x.min()) < 0 or int(x.max()) >= limit):
        raise ValueError(f"inputs must lie in [0, {limit})")
    return x.astype(np.int64)


def integer_forward(qmodel: QuantizedModel, x_q: ArrayLike) -> tuple[IntArray, list[IntArray]]:
    """Logits ``(n, classes)`` and the activations of every hidden layer ``(n, width)``."""
    qmodel.validate()
    spec = qmodel.spec
    _assert_int64_safe(spec)
    a = validate_inputs(spec, x_q)
    hidden: list[IntArray] = []
    last = spec.num_layers - 1
    for layer in range(last):
        z = a @ qmodel.weights[layer] + qmodel.biases[layer]
        a = requantize(z, spec.shifts[layer], spec.act_bits, layer)
        hidden.append(a)
    logits = a @ qmodel.weights[last] + qmodel.biases[last]
    return logits, hidden


def _assert_int64_safe(spec: ModelSpec) -> None:
    for layer in range(spec.num_layers):
        bound = spec.intermediate_bound(layer)
        assert bound < INT64_SAFE_BOUND, f"layer {layer}: int64 arithmetic is not exact"


def predict_int(qmodel: QuantizedModel, x_q: ArrayLike) -> IntArray:
    """Predicted classes: argmax of the integer logits, lowest index on ties."""
    logits, _ = integer_forward(qmodel, x_q)
    return np.argmax(logits, axis=1).astype(np.int64)


def correct_count(qmodel: QuantizedModel, x_q: ArrayLike, y: ArrayLike) -> int:
    """Number of samples whose integer prediction equals the label (the circuit's ``a``)."""
    predictions = predict_int(qmodel, x_q)
    labels = np.asarray(y)
    if labels.shape != predictions.shape or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {predictions.size} integers, got {labels.shape}")
    return int(np.count_nonzero(predictions == labels))


def check_in_range(qmodel: QuantizedModel, x_q: ArrayLike) -> bool:
    """True when no hidden pre-activation overflows on ``x_q`` (the circuit is satisfiable)."""
    try:
        integer_forward(qmodel, x_q)
    except ActivationOverflow:
        return False
    return True
