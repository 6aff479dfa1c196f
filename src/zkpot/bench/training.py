"""Training benchmark: the cost of proving SGD steps of the integer training rule.

For a dataset's rule (``DEFAULT_RULES``) and model widths, and one participant holding a
fifth of the training split (its data tree just deep enough), it synthesises segments of one
and two steps (their difference is the cost of a step, batch openings included; the rest is a
segment's fixed cost: opening and committing the two checkpoints and the data commitment),
and, when the one-step segment fits ``max_domain``, sets up the circuit, proves the round's
first segment on that data in a fresh process and verifies it,
natively and on the in-process EVM (the variable-input Groth16 verifier contract that the
aggregation proofs use). The baseline, measured in the same process on the same key, is one
full-scalar G1 MSM over the evaluation domain (``floor_s``), as in ``zkpot bench prover``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zkpot.learning import integer_training as it
from zkpot.learning.datasets import load_dataset, quantize_inputs
from zkpot.learning.model import MLP
from zkpot.proving.training import TrainingCircuit

__all__ = ["bench_training"]


#: A training proof's public inputs, and the constant wire.
_INSTANCE_VARIABLES = 7 + 1


def _domain(constraints: int) -> int:
    """The evaluation domain Groth16 needs: the next power of two of the constraints and
    the instance variables (the QAP binds each of those with a row of its own)."""
    return 1 << (constraints + _INSTANCE_VARIABLES - 1).bit_length()


def bench_training(
    dataset: str = "digits",
    hidden: int = 32,
    seed: int = 0,
    max_domain: int = 1 << 21,
) -> dict[str, Any]:
    """Constraints per segment, step and sample; setup, proof and verification of a
    one-step segment when its domain is at most ``max_domain``."""
    data = load_dataset(dataset)
    rule = it.DEFAULT_RULES[dataset]
    widths = (int(data.x_train.shape[1]), hidden, int(data.num_classes))
    # One participant of five: a fifth of the training split, in a tree just deep enough.
    rng = np.random.default_rng(seed)
    mine = rng.permutation(len(data.y_train))[: len(data.y_train) // 5]
    n = len(mine)
    depth = max(1, (n - 1).bit_length())
    one = TrainingCircuit(rule, widths, 1, depth).constraints()
    two = TrainingCircuit(rule, widths, 2, depth).constraints()
    per_step = two - one
    result: dict[str, Any] = {
        "dataset": dataset,
        "widths": list(widths),
        "batch_size": rule.batch_size,
        "parameters": sum(a * b + b for a, b in itertools.pairwise(widths)),
        "constraints_segment_1": one,
        "constraints_segment_2": two,
        "constraints_per_step": per_step,
        "constraints_per_sample": per_step // rule.batch_size,
        "constraints_fixed": one - per_step,
        "domain_size": _domain(one),
        "samples": n,
        "depth": depth,
        "steps_per_round": it.steps_per_round(n, rule),
        "proof": None,
    }
    if result["domain_size"] > max_domain:
        return result
    params = it.from_float(MLP(widths, rng).get_params(), rule.frac_bits)
    q = quantize_inputs(data.x_train[mine], rule.input_bits)
    with tempfile.TemporaryDirectory(prefix="zkpot-bench-train-") as tmp:
        work = Path(tmp)
        meta = {
            "rule": dataclasses.asdict(rule),
            "widths": list(widths),
            "steps": 1,
            "depth": depth,
            "schedule": list(it.schedule(n, seed, 0, 0)),
        }
        (work / "segment.json").write_text(json.dumps(meta))
        arrays = {f"p{t}": p for t, p in enumerate(params)}
        np.savez(work / "segment.npz", **arrays, x=q, y=data.y_train[mine])
        cmd = [sys.executable, "-m", "zkpot.bench.child", "training", str(work)]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the training proof's process failed:\n{out.stderr[-2000:]}")
    run = dict(json.loads(out.stdout))
    run["floor_ratio"] = round(run["prove_s"] / run["floor_s"], 2)
    result["proof"] = run
    return result
