"""Tests for zkpot.learning.inference, the integer reference the circuit reproduces."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpot.learning.inference import (
    ActivationOverflow,
    check_in_range,
    correct_count,
    integer_forward,
    predict_int,
)
from zkpot.learning.integer_model import ModelSpec, QuantizedModel


def _model(
    spec: ModelSpec, weights: list[list[list[int]]], biases: list[list[int]]
) -> QuantizedModel:
    return QuantizedModel(
        spec=spec,
        weights=tuple(np.array(w, dtype=np.int64) for w in weights),
        biases=tuple(np.array(b, dtype=np.int64) for b in biases),
        weight_scales=(1.0,) * len(weights),
    )


def _x(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


# --------------------------------------------------------------------- hand-computed cases


def test_round_half_up_with_shift_one() -> None:
    # z = [1, 3, -1, -3, 4]: z/2 = 0.5 -> 1, 1.5 -> 2, -0.5 -> 0, -1.5 -> -1 -> ReLU 0, 2 -> 2
    spec = ModelSpec((1, 5, 2), shifts=(1,))
    model = _model(spec, [[[1, 1, 1, 1, 1]], [[0, 0]] * 5], [[0, 2, -2, -4, 3], [0, 0]])
    _, hidden = integer_forward(model, _x([[1]]))
    assert hidden[0].tolist() == [[1, 2, 0, 0, 2]]


def test_round_half_up_with_shift_two() -> None:
    # z = [2, 5, 6, 7, -2, -3]: /4 = 0.5 -> 1, 1.25 -> 1, 1.5 -> 2, 1.75 -> 2, -0.5 -> 0, -0.75 -> 0
    spec = ModelSpec((1, 6, 2), shifts=(2,))
    model = _model(spec, [[[1] * 6], [[0, 0]] * 6], [[0, 3, 4, 5, -4, -5], [0, 0]])
    _, hidden = integer_forward(model, _x([[2]]))
    assert hidden[0].tolist() == [[1, 1, 2, 2, 0, 0]]


def test_shift_zero_is_plain_relu() -> None:
    spec = ModelSpec((2, 3, 2), shifts=(0,))
    model = _model(spec, [[[1, -1, 2], [1, -1, -1]], [[0, 0]] * 3], [[0, 0, 1], [0, 0]])
    _, hidden = integer_forward(model, _x([[3, 4], [0, 0]]))
    assert hidden[0].tolist() == [[7, 0, 3], [0, 0, 1]]


def test_two_layer_logits_and_prediction() -> None:
    # Hidden (shift 3): z = [13, -20, 27] -> u = [17, -16, 31] -> a = [2, 0, 3]
    # Logits: a @ W1 + b1 = [2*1 + 3*(-1) + 5, 2*2 + 3*0 - 1, 2*0 + 3*1 + 0] = [4, 3, 3]
    spec = ModelSpec((2, 3, 3), shifts=(3,))
    model = _model(
        spec,
        [[[1, -2, 3], [1, 0, 2]], [[1, 2, 0], [7, 7, 7], [-1, 0, 1]]],
        [[3, -10, 2], [5, -1, 0]],
    )
    logits, hidden = integer_forward(model, _x([[5, 5]]))
    assert hidden[0].tolist() == [[2, 0, 3]]
    assert logits.tolist() == [[4, 3, 3]]
    assert logits.dtype == np.int64
    assert predict_int(model, _x([[5, 5]])).tolist() == [0]


def test_logit_ties_resolve_to_lowest_index() -> None:
    spec = ModelSpec((1, 4), shifts=())
    model = _model(spec, [[[0, 1, 1, 0]]], [[5, 3, 3, 5]])
    # x = 0: logits [5, 3, 3, 5] -> 0; x = 2: [5, 5, 5, 5] -> 0; x = 3: [5, 6, 6, 5] -> 1
    assert predict_int(model, _x([[0], [2], [3]])).tolist() == [0, 0, 1]
    assert correct_count(model, _x([[0], [2], [3]]), np.array([0, 1, 1])) == 2


def test_deep_model_uses_act_bits_range() -> None:
    # With shift 0 and act_bits 8 an activation of 255 is allowed and feeds the next layer.
    spec = ModelSpec((1, 1, 1, 2), shifts=(0, 0))
    model = _model(spec, [[[1]], [[1]], [[1, -1]]], [[0], [0], [0, 0]])
    logits, hidden = integer_forward(model, _x([[255]]))
    assert [h.tolist() for h in hidden] == [[[255]], [[255]]]
    assert logits.tolist() == [[255, -255]]


@pytest.mark.parametrize(
    ("shift", "bias", "weight", "ok", "value"),
    [
        (0, 0, 1, True, 255),  # u = 255 < 256
        (0, 1, 1, False, 256),  # u = 256 = 2^8 overflows
        (0, -1, -1, True, -256),  # u = -256 = -2^8 is allowed
        (0, -2, -1, False, -257),
        (1, 255, 1, True, 511),  # z = 510, u = 511 < 512
        (1, 256, 1, False, 512),
        (1, -257, -1, True, -511),  # z = -512, u = -511
        (1, -258, -1, True, -512),
        (1, -259, -1, False, -513),
    ],
)
def test_overflow_boundaries(shift: int, bias: int, weight: int, ok: bool, value: int) -> None:
    spec = ModelSpec((1, 1, 2), shifts=(shift,))
    model = _model(spec, [[[weight]], [[1, 0]]], [[bias], [0, 0]])
    x = _x([[255]])
    assert check_in_range(model, x) is ok
    if ok:
        integer_forward(model, x)
        return
    with pytest.raises(ActivationOverflow) as info:
        integer_forward(model, x)
    error = info.value
    assert (error.layer, error.sample, error.neuron) == (0, 0, 0)
    assert error.value == value and error.bound == 2 ** (8 + shift)


def test_overflow_reports_first_offending_position() -> None:
    spec = ModelSpec((1, 3, 1, 2), shifts=(0, 0))
    model = _model(spec, [[[1, 2, 3]], [[1], [1], [1]], [[1, 0]]], [[0, 0, 0], [0], [0, 0]])
    # sample 1 (x=100): neuron 2 gives 300 > 255; sample 2 (x=200): neurons 1, 2 overflow.
    x = _x([[10], [100], [200]])
    with pytest.raises(ActivationOverflow) as info:
        integer_forward(model, x)
    assert (info.value.layer, info.value.sample, info.value.neuron) == (0, 1, 2)
    assert "hidden layer 0, sample 1, neuron 2" in str(info.value)
    # Only the second hidden layer overflows: 10 + 20 + 30 = 60, 40 + 80 + 120 = 240 -> fine,
    # but 60 + 120 + 180 = 360 does not fit.
    with pytest.raises(ActivationOverflow) as info:
        integer_forward(model, _x([[10], [40], [60]]))
    assert (info.value.layer, info.value.sample, info.value.neuron) == (1, 2, 0)


def test_overflow_is_a_value_error() -> None:
    assert issubclass(ActivationOverflow, ValueError)


def test_extreme_values_stay_exact_in_int64() -> None:
    spec = ModelSpec((784, 64, 10), shifts=(17,))
    low = spec.weight_range[0]
    model = _model(
        spec,
        [np.full((784, 64), low).tolist(), np.full((64, 10), low).tolist()],
        [[spec.bias_range[0]] * 64, [spec.bias_range[0]] * 10],
    )
    x = np.full((2, 784), 255, dtype=np.uint8)
    logits, hidden = integer_forward(model, x)
    z = 784 * 255 * low + spec.bias_range[0]
    assert z < -(2**24) and z >= -(2**25)
    assert np.all(hidden[0] == 0)  # large negative pre-activations clamp to 0
    assert np.all(logits == spec.bias_range[0])
    neg = _model(
        spec,
        [np.full((784, 64), -low - 1).tolist(), np.full((64, 10), low).tolist()],
        [[spec.bias_range[1]] * 64, [spec.bias_range[0]] * 10],
    )
    logits, hidden = integer_forward(neg, x)
    u = 784 * 255 * 127 + spec.bias_range[1] + 2**16
    assert np.all(hidden[0] == u >> 17)
    assert np.all(logits == 64 * (u >> 17) * low + spec.bias_range[0])


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.array([[256]], dtype=np.int64), r"\[0, 256\)"),
        (np.array([[-1]], dtype=np.int64), r"\[0, 256\)"),
        (np.array([[1.0]]), "integers"),
        (np.array([[1, 2]], dtype=np.uint8), "shape"),
        (np.array([1], dtype=np.uint8), "shape"),
    ],
)
def test_invalid_inputs_are_rejected(x: np.ndarray, message: str) -> None:
    model = _model(ModelSpec((1, 2), shifts=()), [[[1, 2]]], [[0, 0]])
    with pytest.raises(ValueError, match=message):
        integer_forward(model, x)


def test_correct_count_validates_labels() -> None:
    model = _model(ModelSpec((1, 2), shifts=()), [[[1, 2]]], [[0, 0]])
    with pytest.raises(ValueError, match="labels"):
        correct_count(model, _x([[1], [2]]), np.array([1]))


def test_invalid_model_is_rejected() -> None:
    model = _model(ModelSpec((1, 2), shifts=()), [[[1, 200]]], [[0, 0]])
    with pytest.raises(ValueError, match="weights outside"):
        integer_forward(model, _x([[1]]))


# --------------------------------------------------------------------- property tests


@dataclass
class SlowOverflow(Exception):
    layer: int
    sample: int
    neuron: int
    value: int


def slow_forward(model: QuantizedModel, xs: np.ndarray) -> tuple[list[list[int]], list]:
    """The spec written out with Python integers and loops (layer, sample, neuron order)."""
    spec = model.spec
    rows = [[int(v) for v in row] for row in xs]
    hidden = []
    for layer in range(len(spec.widths) - 1):
        w = model.weights[layer].tolist()
        b = model.biases[layer].tolist()
        is_hidden = layer < len(spec.widths) - 2
        new_rows = []
        for sample, row in enumerate(rows):
            out = []
            for j in range(len(b)):
                z = b[j]
                for i in range(len(row)):
                    z += row[i] * w[i][j]
                if is_hidden:
                    k = spec.shifts[layer]
                    u = z + (2 ** (k - 1) if k >= 1 else 0)
                    if not -(2 ** (k + spec.act_bits)) <= u < 2 ** (k + spec.act_bits):
                        raise SlowOverflow(layer, sample, j, u)
                    z = max(0, u // 2**k)
                out.append(z)
            new_rows.append(out)
        rows = new_rows
        if is_hidden:
            hidden.append(rows)
    return rows, hidden


def slow_argmax(logits: list[int]) -> int:
    best = 0
    for c in range(1, len(logits)):
        if logits[c] > logits[best]:
            best = c
    return best


@st.composite
def models_and_inputs(draw: st.DrawFn, default_bits: bool = False) -> tuple:
    depth = draw(st.integers(1, 3))  # number of weight layers
    widths = [draw(st.integers(1, 5)) for _ in range(depth)] + [draw(st.integers(2, 4))]
    if default_bits:
        bits = {"input_bits": 8, "weight_bits": 8, "bias_bits": 20, "act_bits": 8}
        shifts = tuple(draw(st.integers(6, 14)) for _ in range(depth - 1))
    else:
        # The circuit's lower bounds (ModelSpec): weights and biases need a sign bit.
        low = {"input_bits": 1, "weight_bits": 2, "bias_bits": 2, "act_bits": 1}
        bits = {name: draw(st.integers(low[name], 8 if name == "input_bits" else 10))
                for name in low}  # fmt: skip
        shifts = tuple(draw(st.integers(0, 8)) for _ in range(depth - 1))
    spec = ModelSpec(tuple(widths), shifts, **bits)
    (w_lo, w_hi), (b_lo, b_hi) = spec.weight_range, spec.bias_range
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(widths):
        ws = draw(
            st.lists(st.integers(w_lo, w_hi), min_size=fan_in * fan_out, max_size=fan_in * fan_out)
        )
        weights.append(np.array(ws, dtype=np.int64).reshape(fan_in, fan_out))
        biases.append(
            np.array(
                draw(st.lists(st.integers(b_lo, b_hi), min_size=fan_out, max_size=fan_out)),
                dtype=np.int64,
            )
        )
    n = draw(st.integers(1, 4))
    xs = draw(
        st.lists(
            st.integers(0, 2**spec.input_bits - 1), min_size=n * widths[0], max_size=n * widths[0]
        )
    )
    model = QuantizedModel(spec, tuple(weights), tuple(biases), (1.0,) * depth)
    labels = np.array(draw(st.lists(st.integers(0, widths[-1] - 1), min_size=n, max_size=n)))
    return model, np.array(xs, dtype=np.int64).reshape(n, widths[0]), labels


def _compare_with_slow(model: QuantizedModel, x: np.ndarray, labels: np.ndarray) -> None:
    try:
        expected_logits, expected_hidden = slow_forward(model, x)
    except SlowOverflow as slow:
        with pytest.raises(ActivationOverflow) as info:
            integer_forward(model, x)
        got = info.value
        assert (got.layer, got.sample, got.neuron, got.value) == (
            slow.layer,
            slow.sample,
            slow.neuron,
            slow.value,
        )
        assert not check_in_range(model, x)
        return
    logits, hidden = integer_forward(model, x)
    assert logits.tolist() == expected_logits
    assert [h.tolist() for h in hidden] == expected_hidden
    predictions = [slow_argmax(row) for row in expected_logits]
    assert predict_int(model, x).tolist() == predictions
    assert correct_count(model, x, labels) == sum(
        int(p == y) for p, y in zip(predictions, labels.tolist(), strict=True)
    )
    assert check_in_range(model, x)
    for h in hidden:
        assert h.min() >= 0 and h.max() < 2**model.spec.act_bits


@settings(max_examples=200, deadline=None)
@given(models_and_inputs())
def test_integer_forward_matches_slow_reference_small_bits(case: tuple) -> None:
    _compare_with_slow(*case)


@settings(max_examples=100, deadline=None)
@given(models_and_inputs(default_bits=True))
def test_integer_forward_matches_slow_reference_default_bits(case: tuple) -> None:
    _compare_with_slow(*case)
