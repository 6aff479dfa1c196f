"""FedAvg in integers: the global model as the rounded weighted average of quantised models.

This is the NumPy reference of the aggregation circuit (``prover/src/aggregation.rs``); the
two agree bit for bit. All contributions share the task's fixed-point format (one
``ModelSpec`` and the same weight scales per layer), so averaging their integers averages
the real-valued models:

* the weights are the sample counts as fixed-point fractions with ``F`` bits,
  ``λ_k = floor((2^(F+1) · n_k + N) / (2N))`` with ``N = Σ n_k`` (``n_k / N`` rounded half
  up; ``Σ λ_k`` differs from ``2^F`` by at most half the number of contributions);
* every coordinate is ``floor((Σ_k λ_k · v_k + 2^(F-1)) / 2^F)``: rounded half up.

With ``F = 14`` and 8-bit weights the result differs from the exactly rounded
``Σ n_k v_k / N`` by at most ``m · 128 / 2^15`` before rounding, under 0.04 of a unit for
ten contributions (docs/proving.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from zkpot.learning.integer_model import QuantizationError, QuantizedModel

__all__ = ["DEFAULT_FRAC_BITS", "MAX_FRAC_BITS", "aggregate", "aggregation_weights", "fedavg_int"]

#: Fractional bits of an aggregation weight, per task.
DEFAULT_FRAC_BITS = 14
#: The circuit's bound on fractional bits.
MAX_FRAC_BITS = 24


def _check_frac_bits(frac_bits: int) -> int:
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise QuantizationError(f"frac_bits must be an int, got {frac_bits!r}")
    if not 1 <= frac_bits <= MAX_FRAC_BITS:
        raise QuantizationError(f"frac_bits must be in 1..{MAX_FRAC_BITS}, got {frac_bits}")
    return int(frac_bits)


def aggregation_weights(counts: Sequence[int], frac_bits: int = DEFAULT_FRAC_BITS) -> list[int]:
    """``λ_k = floor((2^(F+1) · n_k + N) / (2N))``: sample shares with ``F`` fractional bits."""
    f = _check_frac_bits(frac_bits)
    values = []
    for n in counts:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise QuantizationError(f"sample counts must be non-negative ints, got {n!r}")
        values.append(int(n))
    total = sum(values)
    if total == 0:
        raise QuantizationError("aggregation needs a positive sample count")
    if total >= 2**64:
        raise QuantizationError("the sample counts' sum exceeds 2^64")
    return [((n << (f + 1)) + total) // (2 * total) for n in values]


def _same_format(models: Sequence[QuantizedModel]) -> None:
    first = models[0]
    for k, m in enumerate(models[1:], start=1):
        if m.spec != first.spec:
            raise QuantizationError(f"contribution {k} has another model spec")
        if m.weight_scales != first.weight_scales:
            raise QuantizationError(
                f"contribution {k} is in another fixed-point format: weight scales "
                f"{m.weight_scales} instead of the task's {first.weight_scales}"
            )


def _mean(values: Sequence[NDArray[np.int64]], weights: Sequence[int], f: int) -> NDArray[np.int64]:
    acc = np.zeros(values[0].shape, dtype=np.int64)
    for v, w in zip(values, weights, strict=True):
        acc += np.int64(w) * v
    return (acc + (1 << (f - 1))) >> f


def aggregate(
    models: Sequence[QuantizedModel], weights: Sequence[int], frac_bits: int = DEFAULT_FRAC_BITS
) -> QuantizedModel:
    """The rounded weighted average of ``models`` with fixed-point ``weights``, in their
    shared format. Raises ``QuantizationError`` when the inputs disagree or the average
    leaves the spec's ranges. It cannot leave them when ``Σ λ_k <= 2^F``, nor for the
    weights of :func:`aggregation_weights` with ``F = 14`` and up to 64 contributions
    (their sum exceeds ``2^14`` by at most 32)."""
    f = _check_frac_bits(frac_bits)
    if not models:
        raise QuantizationError("aggregation needs at least one model")
    if len(models) != len(weights):
        raise QuantizationError(f"{len(models)} models for {len(weights)} weights")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or not 0 <= w < 2 ** (f + 1):
            raise QuantizationError(f"weights must be ints in [0, 2^{f + 1}), got {w!r}")
    for m in models:
        m.validate()
    _same_format(models)
    spec = models[0].spec
    # |Σ λ·v| < m · 2^(F+1) · 2^(bias_bits-1) <= 64 · 2^25 · 2^31 < 2^62: int64 is exact.
    if len(models) * 2 ** (f + 1) * 2 ** (spec.bias_bits - 1) >= 2**62:
        raise QuantizationError("too many contributions for exact int64 accumulation")
    ws = [int(w) for w in weights]
    global_weights = tuple(
        _mean([m.weights[layer] for m in models], ws, f) for layer in range(spec.num_layers)
    )
    global_biases = tuple(
        _mean([m.biases[layer] for m in models], ws, f) for layer in range(spec.num_layers)
    )
    result = QuantizedModel(spec, global_weights, global_biases, models[0].weight_scales)
    try:
        result.validate()
    except QuantizationError as exc:
        raise QuantizationError(f"the average leaves the model's ranges: {exc}") from exc
    return result


def fedavg_int(
    models: Sequence[QuantizedModel], counts: Sequence[int], frac_bits: int = DEFAULT_FRAC_BITS
) -> QuantizedModel:
    """FedAvg of quantised models by sample counts: :func:`aggregate` with
    :func:`aggregation_weights`."""
    return aggregate(models, aggregation_weights(counts, frac_bits), frac_bits)
