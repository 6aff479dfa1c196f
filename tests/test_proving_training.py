"""The training circuit: its arithmetic is the NumPy reference's, bit for bit, and its
proofs verify exactly for the checkpoints the reference computes."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
from typer.testing import CliRunner

from zkpot.bench import child
from zkpot.cli import app
from zkpot.learning import integer_training as it
from zkpot.learning.datasets import load_digits, quantize_inputs
from zkpot.learning.model import MLP
from zkpot.proving import ProverError, new_salt
from zkpot.proving.training import (
    Checkpoint,
    TrainingCircuit,
    commit_checkpoint,
    data_commitment,
    data_tree,
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
    n, b = len(ds.y_train), rule.batch_size
    picked = it.sample_indices(n, *it.schedule(n, 7, 0, 1), 0, 3 * b).reshape(3, b)
    batches = [(q[i], ds.y_train[i]) for i in picked]
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
    circuit = TrainingCircuit(rule, (8, 6, 4), steps=2, depth=4)
    key, vk = setup_training(circuit)
    rng = np.random.default_rng(5)
    mlp = MLP(circuit.widths, rng)
    start = Checkpoint.start(it.from_float(mlp.get_params(), rule.frac_bits), rule)
    x, y = rng.integers(0, 256, size=(13, 8)), rng.integers(0, 4, size=13)
    return circuit, key, vk, start, (x, y)


def test_a_proven_segment_verifies_for_exactly_its_statement(small):
    circuit, key, vk, start, (x, y) = small
    assert key.num_constraints == circuit.constraints()
    tree = data_tree(circuit, x, y)
    assert len(tree) == 13
    schedule = it.schedule(13, 7, 2, 1)
    salts = (new_salt(), new_salt(), new_salt())
    proven = prove_segment(key, start, tree, schedule, 1, salts, 99)
    # The proven end is the reference's, trained on the scheduled samples of steps 1 and 2.
    b = circuit.rule.batch_size
    picked = it.sample_indices(13, *schedule, 1 * b, 2 * b).reshape(2, b)
    assert _same(proven.checkpoint, _reference(start, [(x[i], y[i]) for i in picked], circuit.rule))
    st = proven.statement
    assert st.start == commit_checkpoint(circuit, start, salts[0])
    assert st.end == commit_checkpoint(circuit, proven.checkpoint, salts[1])
    assert st.data == data_commitment(tree, salts[2])
    assert (st.n, st.a, st.a0, st.tag) == (13, schedule[0], int(picked[0, 0]), 99)
    assert verify_segment(vk, st, proven.proof)
    off = Checkpoint([p.copy() for p in proven.checkpoint.params], proven.checkpoint.velocity)
    off.params[1][0] += 1
    for lie in (
        replace(st, end=commit_checkpoint(circuit, off, salts[1])),
        replace(st, start=st.end, end=st.start),
        replace(st, data=data_commitment(tree, salts[0])),
        replace(st, n=14),
        replace(st, a0=(st.a0 + 1) % 13),
        replace(st, a=st.a + 1),
        replace(st, tag=100),
        replace(st, start=-1),
        replace(st, n=2**64),
    ):
        assert not verify_segment(vk, lie, proven.proof), lie
    # The next segment starts where this one ended.
    nxt = prove_segment(
        key, proven.checkpoint, tree, schedule, 3, (salts[1], new_salt(), salts[2]), 99
    )
    assert nxt.statement.start == st.end and verify_segment(vk, nxt.statement, nxt.proof)


def test_hostile_inputs_are_refused_with_a_clear_error(small):
    circuit, key, _, start, (x, y) = small
    tree = data_tree(circuit, x, y)
    top = (1 << (circuit.rule.frac_bits + circuit.rule.weight_bits)) - 1
    beyond = Checkpoint([p.copy() for p in start.params], start.velocity)
    beyond.params[0][0, 0] = top + 1
    salts = (1, 2, 3)
    with pytest.raises(ProverError, match="beyond"):
        prove_segment(key, beyond, tree, (5, 3), 0, salts, 0)
    with pytest.raises(ProverError, match="a schedule over 13 samples"):
        prove_segment(key, start, tree, (5, 13), 0, salts, 0)
    with pytest.raises(ProverError, match="does not fit this circuit"):
        prove_segment(key, start, data_tree(replace(circuit, depth=5), x, y), (5, 3), 0, salts, 0)
    with pytest.raises(ProverError, match="labels must be below 4"):
        data_tree(circuit, x, np.full(13, 4))
    with pytest.raises(ProverError, match=r"holds 1\.\.=16 samples"):
        data_tree(circuit, np.zeros((17, 8), dtype=np.uint8), np.zeros(17, dtype=np.uint8))
    with pytest.raises(ValueError, match="samples have 7 inputs"):
        data_tree(circuit, x[:, :7], y)
    with pytest.raises(ValueError, match="bytes"):
        data_tree(circuit, x + 300, y)
    with pytest.raises(ProverError, match="intermediate values"):
        TrainingCircuit(
            it.TrainingRule(frac_bits=24, weight_bits=8, act_bits=8), (4096, 4096, 10)
        ).constraints()
    with pytest.raises(ValueError, match="salt"):
        data_commitment(tree, -1)


def test_the_bench_reports_constraints_per_step_and_sample():
    result = CliRunner().invoke(
        app, ["bench", "training", "--dataset", "digits", "--max-domain-log2", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (
        out["constraints_per_step"] == out["constraints_segment_2"] - out["constraints_segment_1"]
    )
    assert out["constraints_per_sample"] == out["constraints_per_step"] // 32
    assert out["constraints_fixed"] == out["constraints_segment_1"] - out["constraints_per_step"]
    assert (out["samples"], out["depth"], out["proof"]) == (259, 9, None)
    assert out["steps_per_round"] == it.steps_per_round(259, it.DEFAULT_RULES["digits"])


def test_the_bench_proves_and_verifies_a_segment_natively_and_on_the_evm(tmp_path):
    rule = it.TrainingRule(batch_shift=2, lr_shift=2)
    widths = (8, 6, 4)
    meta = {
        "rule": asdict(rule),
        "widths": list(widths),
        "steps": 1,
        "depth": 4,
        "schedule": [5, 3],
    }
    (tmp_path / "segment.json").write_text(json.dumps(meta))
    params = it.from_float(MLP(widths, np.random.default_rng(0)).get_params(), rule.frac_bits)
    rng = np.random.default_rng(1)
    arrays = {f"p{t}": p for t, p in enumerate(params)}
    x, y = rng.integers(0, 256, (13, 8)), rng.integers(0, 4, 13)
    np.savez(tmp_path / "segment.npz", **arrays, x=x, y=y)
    run = child.training(tmp_path)
    assert run["constraints"] == TrainingCircuit(rule, widths, 1, 4).constraints()
    assert run["proof_bytes"] == 128 and run["verify_gas"] > 200_000
