"""Quantisation of a float MLP into the integer model that the Groth16 circuit evaluates.

A task publishes a :class:`~zkpot.learning.integer_model.ModelSpec` (layer widths, one
requantisation shift per hidden layer, bit widths).  A participant turns its float
:class:`~zkpot.learning.model.MLP` into a
:class:`~zkpot.learning.integer_model.QuantizedModel` with :func:`quantize`; the integer
semantics are defined by :mod:`zkpot.learning.inference`.

Scales follow the affine mapping ``r = S * (q - Z)`` with zero point ``Z = 0`` throughout:

* inputs: ``S_x = 1 / (2^input_bits - 1)`` (1/255), unsigned;
* weights of layer ``l``: symmetric, ``S_w = max|W| / (2^(weight_bits-1) - 1)`` by
  default, ``q_w = clip(round(W / S_w), -127, 127)``;
* biases: ``q_b = round(b / (S_in * S_w))`` (the accumulator scale);
* hidden outputs: ``S_out = S_in * S_w * 2^k_l``, so requantisation is a pure shift.

The shifts ``k_l`` are fixed by the task, so the quantiser enlarges ``S_w`` of a hidden
layer whenever the calibration inputs (the task's public test set) would overflow the
activation range with the default scale; see :func:`quantize`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zkpot.learning.inference import check_in_range, requantize, validate_inputs
from zkpot.learning.integer_model import (
    ModelSpec,
    QuantizationError,
    QuantizedModel,
    input_scale,
    rounding_offset,
)
from zkpot.learning.model import MLP

__all__ = [
    "DEFAULT_INPUT_BITS",
    "DEFAULT_SHIFTS",
    "DEFAULT_WEIGHT_SCALES",
    "choose_shifts",
    "default_spec",
    "quantize",
]

IntArray = NDArray[np.int64]

_MAX_RESCALES = 4096


# --------------------------------------------------------------------------- quantiser


def _initial_weight_scale(
    w: NDArray[np.float64], b: NDArray[np.float64], s_in: float, spec: ModelSpec
) -> float:
    """Smallest scale with ``|W| / S_w <= 2^(wb-1) - 1`` and biases inside the bias range."""
    w_max = float(np.max(np.abs(w))) if w.size else 0.0
    b_max = float(np.max(np.abs(b))) if b.size else 0.0
    q_max = (1 << (spec.weight_bits - 1)) - 1
    scale = max(w_max / q_max, b_max / (s_in * spec.bias_range[1]))
    return scale if scale > 0.0 else 1.0


def _quantize_layer(
    w: NDArray[np.float64],
    b: NDArray[np.float64],
    s_in: float,
    s_w: float,
    spec: ModelSpec,
) -> tuple[IntArray, IntArray]:
    q_max = (1 << (spec.weight_bits - 1)) - 1
    q_w = np.clip(np.rint(w / s_w), -q_max, q_max).astype(np.int64)
    b_lo, b_hi = spec.bias_range
    q_b = np.clip(np.rint(b / (s_in * s_w)), b_lo, b_hi).astype(np.int64)
    return q_w, q_b


def _overflow_ratio(z: IntArray, shift: int, act_bits: int) -> float:
    """Factor by which ``z`` must shrink to fit the activation range (<= 1: it fits)."""
    u = z + rounding_offset(shift)
    bound = 1 << (shift + act_bits)
    return max(float(u.max()) / (bound - 1), -float(u.min()) / bound, 0.0)


def _fit_hidden_layer(
    w: NDArray[np.float64],
    b: NDArray[np.float64],
    s_in: float,
    a: IntArray,
    layer: int,
    spec: ModelSpec,
) -> tuple[float, IntArray, IntArray, IntArray]:
    """Quantise a hidden layer, enlarging ``S_w`` until the calibration inputs fit.

    Returns ``(S_w, q_w, q_b, activations)``.
    """
    s_w = _initial_weight_scale(w, b, s_in, spec)
    shift = spec.shifts[layer]
    for _ in range(_MAX_RESCALES):
        q_w, q_b = _quantize_layer(w, b, s_in, s_w, spec)
        z = a @ q_w + q_b
        ratio = _overflow_ratio(z, shift, spec.act_bits)
        if ratio <= 1.0:
            return s_w, q_w, q_b, requantize(z, shift, spec.act_bits, layer)
        s_w *= max(ratio, 1.0 + 2.0**-10)
    raise QuantizationError(f"hidden layer {layer}: no weight scale avoids overflow")


def quantize(
    mlp: MLP,
    spec: ModelSpec,
    calibration_x_q: ArrayLike,
    scales: tuple[float, ...] | None = None,
) -> QuantizedModel:
    """Quantise ``mlp`` for ``spec`` so that inference on ``calibration_x_q`` cannot overflow.

    With ``scales`` (one weight scale per layer: a task's fixed-point format, in which
    models can be averaged in integers, :mod:`zkpot.learning.aggregate`) every layer is
    quantised at its given scale, clipping weights and biases to their ranges, and a model
    that overflows the activation range on the calibration set raises
    ``QuantizationError``: it cannot be proven in that format.

    Layer by layer, ``S_w`` starts at ``max(max|W| / 127, max|b| / (S_in * (2^19 - 1)))``
    (for the default bit widths).  For a hidden layer the calibration batch (the task's
    public test set) is pushed through the integer layer; if some ``u`` leaves the
    activation range, ``S_w`` is multiplied by the factor by which ``u`` is too large
    (at least 1 + 2^-10) and the layer is re-quantised, until everything fits.  This always
    terminates: a large enough ``S_w`` rounds all parameters of the layer to 0.
    """
    if tuple(mlp.widths) != spec.widths:
        raise QuantizationError(f"model widths {mlp.widths} differ from spec {spec.widths}")
    if spec.weight_bits < 2 or spec.bias_bits < 2:
        raise QuantizationError("quantisation needs weight_bits >= 2 and bias_bits >= 2")
    if scales is not None:
        return _quantize_in_format(mlp, spec, calibration_x_q, scales)
    a = _calibration_inputs(spec, calibration_x_q)
    s_in = input_scale(spec)
    weights, biases, scales = [], [], []
    for layer in range(spec.num_layers):
        w, b = mlp.weights[layer], mlp.biases[layer]
        if layer < spec.num_layers - 1:
            s_w, q_w, q_b, a = _fit_hidden_layer(w, b, s_in, a, layer, spec)
            s_in *= s_w * 2.0 ** spec.shifts[layer]
        else:
            s_w = _initial_weight_scale(w, b, s_in, spec)
            q_w, q_b = _quantize_layer(w, b, s_in, s_w, spec)
        weights.append(q_w)
        biases.append(q_b)
        scales.append(s_w)
    qmodel = QuantizedModel(spec, tuple(weights), tuple(biases), tuple(scales))
    if not check_in_range(qmodel, calibration_x_q):
        raise QuantizationError("quantised model overflows on the calibration set")
    return qmodel


def _quantize_in_format(
    mlp: MLP, spec: ModelSpec, calibration_x_q: ArrayLike, scales: tuple[float, ...]
) -> QuantizedModel:
    if len(scales) != spec.num_layers or not all(
        isinstance(s, float | int) and np.isfinite(s) and s > 0 for s in scales
    ):
        raise QuantizationError(
            f"a format needs {spec.num_layers} positive finite weight scales, got {scales!r}"
        )
    _calibration_inputs(spec, calibration_x_q)
    s_in = input_scale(spec)
    weights, biases = [], []
    for layer in range(spec.num_layers):
        q_w, q_b = _quantize_layer(mlp.weights[layer], mlp.biases[layer], s_in, scales[layer], spec)
        weights.append(q_w)
        biases.append(q_b)
        if layer < spec.num_layers - 1:
            s_in *= scales[layer] * 2.0 ** spec.shifts[layer]
    qmodel = QuantizedModel(spec, tuple(weights), tuple(biases), tuple(float(s) for s in scales))
    if not check_in_range(qmodel, calibration_x_q):
        raise QuantizationError(
            "the model overflows the activation range on the calibration set in the task's "
            "fixed-point format"
        )
    return qmodel


def _calibration_inputs(spec: ModelSpec, calibration_x_q: ArrayLike) -> IntArray:
    try:
        a = validate_inputs(spec, calibration_x_q)
    except ValueError as exc:
        raise QuantizationError(f"calibration inputs: {exc}") from exc
    if a.shape[0] == 0:
        raise QuantizationError("the calibration set is empty")
    return a


def choose_shifts(
    mlp: MLP,
    calibration_x_q: ArrayLike,
    act_bits: int = 8,
    *,
    input_bits: int = 8,
    weight_bits: int = 8,
    bias_bits: int = 20,
) -> tuple[int, ...]:
    """Per hidden layer, the smallest shift ``k`` under which the default weight scale fits.

    With ``S_w = max|W| / 127`` the pre-activations ``z`` of the calibration batch are
    computed; ``k`` is the least value with ``-2^(k+act_bits) <= z + rounding offset <
    2^(k+act_bits)``, i.e. the largest ``|z|`` lands just inside the ``act_bits`` range.
    Later layers see the activations produced with the shifts chosen before them.
    """
    hidden = len(mlp.widths) - 2
    probe = ModelSpec(
        tuple(mlp.widths), (0,) * hidden, input_bits, weight_bits, bias_bits, act_bits
    )
    a = _calibration_inputs(probe, calibration_x_q)
    s_in = input_scale(probe)
    shifts: list[int] = []
    for layer in range(hidden):
        w, b = mlp.weights[layer], mlp.biases[layer]
        s_w = _initial_weight_scale(w, b, s_in, probe)
        q_w, q_b = _quantize_layer(w, b, s_in, s_w, probe)
        z = a @ q_w + q_b
        shift = _smallest_shift(z, act_bits)
        a = requantize(z, shift, act_bits, layer)
        s_in *= s_w * 2.0**shift
        shifts.append(shift)
    return tuple(shifts)


def _smallest_shift(z: IntArray, act_bits: int) -> int:
    for shift in range(63 - act_bits):
        if _overflow_ratio(z, shift, act_bits) <= 1.0:
            return shift
    raise QuantizationError(f"no shift fits pre-activations up to {int(np.abs(z).max())}")


# --------------------------------------------------------------------------- presets

_INPUT_DIMS = {"digits": 64, "mnist": 784, "fashion-mnist": 784}

#: Bits of a quantised input pixel, per dataset.  MNIST and Fashion-MNIST keep their
#: accuracy at 4 bits (docs/quantisation.md), and every input bit saved is a bit less in
#: each hidden neuron's range check, for every public test sample.
DEFAULT_INPUT_BITS: dict[str, int] = {"digits": 8, "mnist": 4, "fashion-mnist": 4}

#: Default requantisation shift of the hidden layer, per dataset.  Digits: derived with
#: ``python -m zkpot.learning.measure``: float models were trained with the recipes in
#: :mod:`zkpot.learning.measure` (training seeds 0, 1, 2; hidden widths 32 and 64) and
#: :func:`choose_shifts` was run with the public test set of seed 0 as calibration
#: (250 samples); every run gave this value.  MNIST: the shift is chosen below what
#: :func:`choose_shifts` gives (the quantiser then coarsens the hidden layer's weights),
#: because each shift bit costs one constraint per hidden neuron and test sample; the
#: integer accuracy stays within the float model's (docs/quantisation.md).  Fashion-MNIST
#: takes MNIST's format, measured the same way.
DEFAULT_SHIFTS: dict[str, int] = {"digits": 10, "mnist": 4, "fashion-mnist": 4}


#: The task's fixed-point format per dataset: one weight scale per layer of the
#: ``(input, 32, 10)`` model, shared by every contribution so that a leader can average
#: models in integers (:mod:`zkpot.learning.aggregate`). Measured with
#: ``zkpot bench format`` (docs/quantisation.md): the first layer's scale leaves room for
#: the weights to grow over the rounds without overflowing the activation range. Digits
#: takes 0.03 (weights up to ±3.8): at 0.0125 the weights of a 16-unit model trained with
#: lr 0.05 outgrow the range (±1.6) by the second round and the clipped global model
#: trails plain FedAvg by 1.6 pp, at 0.03 it is within 0.4 pp (tests/test_federation.py).
DEFAULT_WEIGHT_SCALES: dict[str, tuple[float, ...]] = {
    "digits": (0.03, 0.03),
    "mnist": (0.05, 0.01),
    "fashion-mnist": (0.08, 0.0125),
}


def default_spec(dataset_name: str, hidden: int = 32) -> ModelSpec:
    """Spec of the one-hidden-layer task model: ``(64, hidden, 10)`` or ``(784, hidden, 10)``."""
    if dataset_name not in _INPUT_DIMS:
        expected = ", ".join(_INPUT_DIMS)
        raise ValueError(f"unknown dataset {dataset_name!r}; expected one of {expected}")
    if isinstance(hidden, bool) or not isinstance(hidden, int | np.integer) or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    return ModelSpec(
        widths=(_INPUT_DIMS[dataset_name], int(hidden), 10),
        shifts=(DEFAULT_SHIFTS[dataset_name],),
        input_bits=DEFAULT_INPUT_BITS[dataset_name],
    )
