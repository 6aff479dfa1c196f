"""Aggregation benchmark: setup, proof and verification of the aggregation statement for
5 and 10 contributions of a real model, each size in a fresh process.

The contributions are the dataset's reference model (:func:`zkpot.learning.measure.
train_reference`, quantised at its own scales) with independent ±1 noise on every integer
parameter, so that no two are equal; the prover's work does not depend on the values
beyond their ranges. The baseline, measured in the same process on the same key, is one
full-scalar G1 MSM over the evaluation domain (``floor_s``), as in ``zkpot bench prover``.
Each run also deploys the ``AggregationVerifier`` contract for its key on the in-process
EVM and reports the gas of verifying the proof there (``verify_gas``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zkpot.learning.aggregate import DEFAULT_FRAC_BITS
from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.measure import train_reference
from zkpot.learning.quantize import default_spec, quantize

__all__ = ["bench_aggregation", "contributions"]


def contributions(base: QuantizedModel, count: int, seed: int) -> list[QuantizedModel]:
    """``count`` distinct models in ``base``'s format: ``base`` with ±1 noise, clipped."""
    rng = np.random.default_rng(seed)
    spec = base.spec
    w_lo, w_hi = -(2 ** (spec.weight_bits - 1)), 2 ** (spec.weight_bits - 1) - 1
    b_lo, b_hi = -(2 ** (spec.bias_bits - 1)), 2 ** (spec.bias_bits - 1) - 1
    out = []
    for _ in range(count):
        ws = tuple(np.clip(w + rng.integers(-1, 2, w.shape), w_lo, w_hi) for w in base.weights)
        bs = tuple(np.clip(b + rng.integers(-1, 2, b.shape), b_lo, b_hi) for b in base.biases)
        out.append(QuantizedModel(spec, ws, bs, base.weight_scales))
    return out


def bench_aggregation(
    dataset: str = "digits",
    hidden: int = 32,
    sizes: Sequence[int] = (5, 10),
    seed: int = 0,
    frac_bits: int = DEFAULT_FRAC_BITS,
) -> dict[str, Any]:
    """Measures the aggregation proof for each number of contributions in ``sizes`` (each
    a circuit whose capacity is that number); returns ``{"dataset", ..., "runs": [...]}``."""
    data = load_dataset(dataset)
    spec = default_spec(dataset, hidden)
    x, _ = public_test_set(data, 100, seed, spec.input_bits)
    base = quantize(train_reference(data, hidden, seed), spec, x)
    runs = []
    with tempfile.TemporaryDirectory(prefix="zkpot-bench-agg-") as tmp:
        work = Path(tmp)
        for size in sizes:
            models = contributions(base, size, seed + size)
            for k, m in enumerate(models):
                (work / f"model{k}.bin").write_bytes(m.to_bytes())
            cmd = [
                sys.executable,
                "-m",
                "zkpot.bench.child",
                "aggregation",
                str(work),
                str(size),
                str(frac_bits),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            run = dict(json.loads(out.stdout))
            run["floor_ratio"] = round(run["prove_s"] / run["floor_s"], 2)
            runs.append(run)
    return {
        "dataset": dataset,
        "widths": list(spec.widths),
        "parameters": int(
            sum(w.size + b.size for w, b in zip(base.weights, base.biases, strict=True))
        ),
        "frac_bits": frac_bits,
        "runs": runs,
    }
