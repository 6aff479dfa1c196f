"""The training circuit: its arithmetic is the NumPy reference's, bit for bit, and its
proofs verify exactly for the checkpoints the reference computes."""

from __future__ import annotations

import numpy as np
import pytest

from zkpot.learning import integer_training as it
from zkpot.learning.datasets import load_digits, quantize_inputs
from zkpot.learning.model import MLP
from zkpot.proving import ProverError, new_salt
from zkpot.proving.training import (
    Checkpoint,
    TrainingCircuit,
    commit_checkpoint,
    prove_segment,
    run_segment,
    setup_training,
    verify_segment,
)


def _reference(start: Checkpoint, batches, rule: it.TrainingRule) -> Checkpoint:
    params = [p.copy() for p in start.params]
    velocity = [v.copy() for v in start.velocity] or [np.zeros_like(p) for p in params]
    for q, y in batches:
        it.step(params, velocity, np.asarray(q, dtype=np.int64), np.asarray(y), rule)
    return Checkpoint(params, velocity if rule.momentum_shift is not None else [])


def _same(a: Checkpoint, b: Checkpoint) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in zip(a.params + a.velocity, b.params + b.velocity, strict=True)
    ) and len(a.velocity) == len(b.velocity)


def test_digits_steps_agree_with_the_reference_bit_for_bit():
    ds = load_digits()
    rule = it.DEFAULT_RULES["digits"]
    widths = (64, 32, 10)
    mlp = MLP(widths, np.random.default_rng(3))
    start = Checkpoint.start(it.from_float(mlp.get_params(), rule.frac_bits), rule)
    q = quantize_inputs(ds.x_train, rule.input_bits)
    order = it.sample_order(len(ds.y_train), 7, 0, 1, 0)
    b = rule.batch_size
    batches = [
        (q[order[i * b : (i + 1) * b]], ds.y_train[order[i * b : (i + 1) * b]]) for i in range(3)
    ]
    circuit = TrainingCircuit(rule, widths, steps=len(batches))
    got = run_segment(circuit, start, batches)
    want = _reference(start, batches, rule)
    assert _same(got, want)
    assert not np.array_equal(got.params[0], start.params[0])


@pytest.mark.parametrize(
    ("loss", "momentum", "seed"),
    [("softmax", 3, 0), ("softmax", None, 1), ("squared", 2, 2), ("squared", None, 3)],
)
def test_random_extreme_checkpoints_agree_with_the_reference(loss, momentum, seed):
    rule = it.TrainingRule(batch_shift=2, momentum_shift=momentum, loss=loss, lr_shift=1)
    widths = (7, 5, 4, 3)
    rng = np.random.default_rng(seed)
    top = (1 << (rule.frac_bits + rule.weight_bits)) - 1
    shapes = [(7, 5), (5,), (5, 4), (4,), (4, 3), (3,)]
    # Parameters across the whole range, so that clips and ReLU saturation are exercised.
    params = [rng.integers(-top, top + 1, size=s) for s in shapes]
    start = Checkpoint.start(params, rule)
    batches = [(rng.integers(0, 256, size=(4, 7)), rng.integers(0, 3, size=4)) for _ in range(3)]
    circuit = TrainingCircuit(rule, widths, steps=3)
    assert _same(run_segment(circuit, start, batches), _reference(start, batches, rule))


@pytest.fixture(scope="module")
def small():
    rule = it.TrainingRule(batch_shift=2, lr_shift=2)
    circuit = TrainingCircuit(rule, (8, 6, 4), steps=2)
    key, vk = setup_training(circuit)
    rng = np.random.default_rng(5)
    mlp = MLP(circuit.widths, rng)
    start = Checkpoint.start(it.from_float(mlp.get_params(), rule.frac_bits), rule)
    batches = [(rng.integers(0, 256, size=(4, 8)), rng.integers(0, 4, size=4)) for _ in range(2)]
    return circuit, key, vk, start, batches


def test_a_proven_segment_verifies_for_exactly_its_checkpoints(small):
    circuit, key, vk, start, batches = small
    assert key.num_constraints == circuit.constraints()
    s0, s1 = new_salt(), new_salt()
    proven = prove_segment(key, start, s0, batches, s1)
    assert _same(proven.checkpoint, _reference(start, batches, circuit.rule))
    assert proven.start == commit_checkpoint(circuit, start, s0)
    assert proven.end == commit_checkpoint(circuit, proven.checkpoint, s1)
    assert verify_segment(vk, proven.start, proven.end, proven.proof)
    # Another end (one parameter off by one), the ends swapped, or another start: refused.
    off = Checkpoint([p.copy() for p in proven.checkpoint.params], proven.checkpoint.velocity)
    off.params[1][0] += 1
    assert not verify_segment(vk, proven.start, commit_checkpoint(circuit, off, s1), proven.proof)
    assert not verify_segment(vk, proven.end, proven.start, proven.proof)
    assert not verify_segment(vk, commit_checkpoint(circuit, start, s1), proven.end, proven.proof)
    assert not verify_segment(vk, -1, proven.end, proven.proof)
    # A segment trained on other batches proves another end.
    other = prove_segment(key, start, s0, batches[::-1], s1)
    assert other.end != proven.end and verify_segment(vk, other.start, other.end, other.proof)


def test_hostile_inputs_are_refused_with_a_clear_error(small):
    circuit, key, _, start, batches = small
    top = (1 << (circuit.rule.frac_bits + circuit.rule.weight_bits)) - 1
    beyond = Checkpoint([p.copy() for p in start.params], start.velocity)
    beyond.params[0][0, 0] = top + 1
    with pytest.raises(ProverError, match="beyond"):
        prove_segment(key, beyond, 1, batches, 2)
    with pytest.raises(ProverError, match="batches for a segment of 2 steps"):
        prove_segment(key, start, 1, batches[:1], 2)
    with pytest.raises(ProverError, match="labels must be below 4"):
        prove_segment(key, start, 1, [(batches[0][0], np.full(4, 4)), batches[1]], 2)
    with pytest.raises(ProverError, match="a batch holds 4 samples"):
        prove_segment(key, start, 1, [(batches[0][0][:3], batches[0][1][:3]), batches[1]], 2)
    with pytest.raises(ProverError, match="intermediate values"):
        TrainingCircuit(
            it.TrainingRule(frac_bits=24, weight_bits=8, act_bits=8), (4096, 4096, 10)
        ).constraints()
    with pytest.raises(ValueError, match="bytes"):
        run_segment(circuit, start, [(batches[0][0] + 300, batches[0][1]), batches[1]])
