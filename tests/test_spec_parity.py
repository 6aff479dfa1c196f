"""The Python ``ModelSpec`` and the prover's Rust ``ModelSpec::validate`` accept exactly
the same specs: each bound is probed on both of its sides, alone and combined."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpot import _prover
from zkpot.learning.integer_model import MAX_SHIFT, MAX_WIDTH, MAX_WIDTHS, ModelSpec

U32 = 2**32 - 1


def rust_accepts(fields: dict) -> bool:
    spec = SimpleNamespace(**fields)
    try:
        _prover.commit(spec, [], [], bytes(32))
    except _prover.ProverError as exc:
        if str(exc).startswith("invalid model spec"):
            return False
        assert str(exc).startswith("invalid model:"), exc
        return True
    raise AssertionError("an empty model was committed")


def python_accepts(fields: dict) -> bool:
    try:
        ModelSpec(**fields)
    except ValueError:
        return False
    return True


def agree(fields: dict) -> bool:
    python = python_accepts(fields)
    assert python == rust_accepts(fields), fields
    return python


def near(*bounds: int) -> list[int]:
    return sorted({v for b in bounds for v in (b - 1, b, b + 1) if 0 <= v <= U32})


BASE = {"widths": [784, 32, 10], "shifts": [10], "input_bits": 8, "weight_bits": 8,
        "bias_bits": 20, "act_bits": 8}  # fmt: skip


@pytest.mark.parametrize("name", ["input_bits", "weight_bits", "bias_bits", "act_bits"])
def test_each_bit_width_at_its_bounds(name: str) -> None:
    accepted = [v for v in near(0, 1, 2, 8, 16, 32, 64) if agree({**BASE, name: v})]
    assert accepted  # the bounds are probed on both sides
    assert len(accepted) < len(near(0, 1, 2, 8, 16, 32, 64))


def test_shift_plus_activation_bits_at_the_int64_window() -> None:
    # 2^(shift + act_bits) must stay below 2^62; shifts are at most 48.
    outcomes = {}
    for shift, act in itertools.product(near(0, 45, 46, MAX_SHIFT), near(1, 13, 14, 16)):
        outcomes[shift, act] = agree({**BASE, "shifts": [shift], "act_bits": act})
    assert outcomes[48, 13] and not outcomes[48, 14] and not outcomes[49, 1]
    assert outcomes[46, 15] and not outcomes[46, 16]


def test_widths_and_layer_counts_at_their_bounds() -> None:
    for width in near(0, 1, 2, MAX_WIDTH):
        agree({**BASE, "widths": [width, 32, 10]})
        agree({**BASE, "widths": [784, 32, width]})
    for n in near(2, MAX_WIDTHS):
        if n >= 2:
            agree({**BASE, "widths": [4] * n, "shifts": [2] * (n - 2)})
    assert not agree({**BASE, "shifts": []})
    assert not agree({**BASE, "widths": [784, 10]})


def test_the_widest_output_slot() -> None:
    # A slot holds the worst logit gap: widths * act * weight + bias, at most 63 bits.
    # The other bounds already keep it below 50 bits, so every such spec is accepted.
    found = set()
    for width, act, weight, bias in itertools.product(
        [1, 2, 255, MAX_WIDTH], [1, 8, 16], [2, 8, 16], [2, 20, 31, 32]
    ):
        fields = {**BASE, "widths": [3, width, 2], "shifts": [0], "act_bits": act,
                  "weight_bits": weight, "bias_bits": bias}  # fmt: skip
        found.add(agree(fields))
    assert found == {True}


@settings(max_examples=300, deadline=None)
@given(
    widths=st.lists(st.integers(0, 70_000), min_size=1, max_size=5),
    shift=st.integers(0, 64),
    bits=st.tuples(*[st.integers(0, 40)] * 4),
)
def test_random_specs_near_the_bounds(widths: list[int], shift: int, bits: tuple) -> None:
    fields = dict(zip(["input_bits", "weight_bits", "bias_bits", "act_bits"], bits, strict=True))
    agree({"widths": widths, "shifts": [shift] * max(len(widths) - 2, 0), **fields})
