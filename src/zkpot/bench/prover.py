"""Prover benchmark: one real model, one task, setup / prove / verify measured in one run.

Optionally proves the same model on the same samples with ezkl (generic Halo2 zkML) so
that the two are compared side by side on this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from zkpot import proving
from zkpot.learning.datasets import load_dataset, public_test_indices, public_test_set
from zkpot.learning.inference import correct_count
from zkpot.learning.measure import train_reference
from zkpot.learning.quantize import default_spec, quantize

#: ezkl needs about 5 GB at 100 samples; it is never run on more.
EZKL_MAX_SAMPLES = 100


def bench_prover(
    dataset: str = "mnist",
    hidden: int = 32,
    samples: int = 1000,
    seed: int = 0,
    verify_repeats: int = 20,
    vs_ezkl: bool = False,
    ezkl_samples: int = EZKL_MAX_SAMPLES,
) -> dict[str, Any]:
    """Measures our prover (and optionally ezkl) on a trained model; returns one flat dict.

    Setup and the proof each run in a fresh process (their peak RSS is their own). The
    floor is one full-scalar G1 MSM over the key's evaluation domain, timed on the same
    machine in the same run, and ``floor_ratio = prove_s / floor_s``.
    """
    data = load_dataset(dataset)
    spec = default_spec(dataset, hidden)
    idx = public_test_indices(data.x_test.shape[0], samples, seed)
    x, y = public_test_set(data, samples, seed, spec.input_bits)
    mlp = train_reference(data, hidden, seed)
    qmodel = quantize(mlp, spec, x)
    float_correct = int((mlp.predict(data.x_test[idx]) == y).sum())

    with tempfile.TemporaryDirectory(prefix="zkpot-bench-") as tmp:
        work = Path(tmp)
        (work / "spec.json").write_text(spec.to_json())
        np.savez(work / "test.npz", x=x, y=y)
        (work / "model.bin").write_bytes(qmodel.to_bytes())
        made = _child("setup", work)
        salt, tag = proving.new_salt(), proving.new_salt()
        child = _child("prove", work, str(salt), str(tag))
        vk = proving.VerifyingKey.from_bytes((work / "task.vk").read_bytes())
        pk_bytes = (work / "task.pk").stat().st_size
    proof = proving.Proof.from_bytes(bytes.fromhex(child["proof"]))

    t = time.perf_counter()
    for _ in range(verify_repeats):
        ok = proving.verify(vk, child["commitment"], child["count"], tag, proof)
    verify_ms = (time.perf_counter() - t) / verify_repeats * 1e3
    if not ok:
        raise RuntimeError("the benchmark's own proof did not verify")
    prove_s = float(child["prove_s"])
    floor_s = float(child["floor_s"])

    result: dict[str, Any] = {
        "dataset": dataset,
        "widths": list(spec.widths),
        "samples": samples,
        "constraints": child["constraints"],
        "variables": child["variables"],
        "domain_size": child["domain_size"],
        "setup_s": round(made["setup_s"], 3),
        "setup_peak_rss_mb": round(made["setup_peak_rss_mb"], 1),
        "pk_load_s": round(child["pk_load_s"], 3),
        "prove_s": round(prove_s, 3),
        **{k: round(v, 3) for k, v in child["timings"].items()},
        "floor_s": round(floor_s, 3),
        "floor_ratio": round(prove_s / floor_s, 2),
        "verify_ms": round(verify_ms, 3),
        "proof_bytes": len(proof.to_bytes()),
        "pk_bytes": pk_bytes,
        "vk_bytes": len(vk.to_bytes()),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "float_accuracy": float_correct / samples,
        "quantized_accuracy": correct_count(qmodel, x, y) / samples,
        "proven_count": child["count"],
    }
    if vs_ezkl:
        result.update(
            _versus_ezkl(mlp, data.x_test[idx], y, min(samples, ezkl_samples), prove_s / samples)
        )
    return result


def _child(step: str, work: Path, *args: str) -> dict[str, Any]:
    """Runs one step of :mod:`zkpot.bench.child` in a fresh interpreter."""
    cmd = [sys.executable, "-m", "zkpot.bench.child", step, str(work), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
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
            x[:n],
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
