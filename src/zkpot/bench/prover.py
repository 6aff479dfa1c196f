"""Prover benchmark: one real model, one task, setup / prove / verify measured in one run.

Optionally proves the same model on the same samples with ezkl (generic Halo2 zkML) so
that the two are compared side by side on this machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from zkpot import proving
from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.inference import correct_count
from zkpot.learning.measure import train_reference
from zkpot.learning.quantize import default_spec, quantize

#: ezkl needs about 5 GB at 100 samples; it is never run on more.
EZKL_MAX_SAMPLES = 100


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_prover(
    dataset: str = "mnist",
    hidden: int = 32,
    samples: int = 1000,
    seed: int = 0,
    verify_repeats: int = 20,
    vs_ezkl: bool = False,
    ezkl_samples: int = EZKL_MAX_SAMPLES,
) -> dict[str, Any]:
    """Measures our prover (and optionally ezkl) on a trained model; returns one flat dict."""
    data = load_dataset(dataset)
    x, y = public_test_set(data, samples, seed)
    mlp = train_reference(data, hidden, seed)
    spec = default_spec(dataset, hidden)
    qmodel = quantize(mlp, spec, x)
    float_correct = int((mlp.predict(x.astype(np.float64) / 255.0) == y).sum())
    circuit = proving.AccuracyCircuit(spec, x, y)

    t = time.perf_counter()
    pk, vk = proving.setup(circuit)
    setup_s = time.perf_counter() - t

    salt, tag = proving.new_salt(), proving.new_salt()
    pk_bytes = pk.to_bytes()
    child = _prove_in_child(pk_bytes, qmodel.to_bytes(), salt, tag)
    proof = proving.Proof.from_bytes(bytes.fromhex(child["proof"]))

    t = time.perf_counter()
    for _ in range(verify_repeats):
        ok = proving.verify(vk, child["commitment"], child["count"], tag, proof)
    verify_ms = (time.perf_counter() - t) / verify_repeats * 1e3
    if not ok:
        raise RuntimeError("the benchmark's own proof did not verify")
    prove_s = child["prove_s"]

    result: dict[str, Any] = {
        "dataset": dataset,
        "widths": list(spec.widths),
        "samples": samples,
        "constraints": pk.num_constraints,
        "variables": pk.num_variables,
        "setup_s": round(setup_s, 3),
        "prove_s": round(prove_s, 3),
        "verify_ms": round(verify_ms, 3),
        "proof_bytes": len(proof.to_bytes()),
        "pk_bytes": len(pk_bytes),
        "vk_bytes": len(vk.to_bytes()),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "pk_load_s": round(child["load_s"], 3),
        "setup_peak_rss_mb": round(_peak_rss_mb(), 1),
        "float_accuracy": float_correct / samples,
        "quantized_accuracy": correct_count(qmodel, x, y) / samples,
        "proven_count": child["count"],
    }
    if vs_ezkl:
        result.update(_versus_ezkl(mlp, x, y, min(samples, ezkl_samples), prove_s / samples))
    return result


def _prove_in_child(pk: bytes, model: bytes, salt: int, tag: int) -> dict[str, Any]:
    """Runs one proof in a fresh interpreter: its peak RSS is the prover's own."""
    with tempfile.TemporaryDirectory(prefix="zkpot-bench-") as work:
        pk_file, model_file = Path(work) / "task.pk", Path(work) / "model.bin"
        pk_file.write_bytes(pk)
        model_file.write_bytes(model)
        cmd = [sys.executable, "-m", "zkpot.bench.prove_child", str(pk_file), str(model_file)]
        out = subprocess.run(
            [*cmd, str(salt), str(tag)], check=True, capture_output=True, text=True
        )
    return dict(json.loads(out.stdout))


def _versus_ezkl(
    mlp: Any, x: np.ndarray, y: np.ndarray, n: int, our_s_per_sample: float
) -> dict[str, Any]:
    from zkpot.bench.ezkl_peer import ezkl_prove_accuracy

    with tempfile.TemporaryDirectory(prefix="zkpot-ezkl-") as work:
        # Hashing 25k MNIST weights alone needs 2^20 ezkl rows; there ezkl binds the
        # weights with a KZG commitment instead and skips range checks on public I/O.
        large = x.shape[1] > 100
        peer = ezkl_prove_accuracy(
            list(mlp.weights),
            list(mlp.biases),
            x[:n] / 255.0,
            y[:n],
            Path(work),
            param_visibility="polycommit" if large else "hashed",
            range_check_public_io=not large,
        )
    ezkl_s_per_sample = peer["ezkl_prove_s"] / n
    return {
        **peer,
        "ezkl_samples": n,
        "speedup_per_sample": round(ezkl_s_per_sample / our_s_per_sample, 2),
    }
