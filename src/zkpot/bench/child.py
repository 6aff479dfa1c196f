"""Setup or one proof in a fresh process, so that its peak memory is that step's alone.

``python -m zkpot.bench.child setup WORKDIR`` reads ``spec.json`` and ``test.npz`` from
WORKDIR, writes ``task.pk`` and ``task.vk`` there and prints its time and peak RSS.
``python -m zkpot.bench.child prove WORKDIR SALT TAG`` loads ``task.pk`` and proves
``model.bin``; it prints the load and prove times, the prover's own step timings, the
floor MSM of the key's evaluation domain (measured after the proof, on the same key),
the peak RSS of loading and proving, and the proof with its public inputs.
``python -m zkpot.bench.child aggregation WORKDIR M F`` sets up the aggregation circuit
for ``M`` slots, proves the sample-weighted average of ``model0.bin .. model{M-1}.bin``
and verifies it, printing the same measurements.
``python -m zkpot.bench.child training WORKDIR`` reads ``segment.json`` and
``segment.npz`` (the rule, widths, depth, schedule, starting parameters and the
participant's data), sets up the training circuit, proves and verifies the round's first
segment, printing the same measurements.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zkpot import proving
from zkpot.learning.aggregate import aggregation_weights
from zkpot.learning.integer_model import ModelSpec, QuantizedModel
from zkpot.ledger import Ledger


def _high_water_mb() -> float:
    """Peak RSS of this process image. ``ru_maxrss`` would do, but Linux carries it over
    from the parent across fork and exec; ``VmHWM`` belongs to this address space only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def setup(work: Path) -> dict[str, object]:
    spec = ModelSpec.from_json((work / "spec.json").read_text())
    with np.load(work / "test.npz") as test:
        circuit = proving.AccuracyCircuit(spec, test["x"], test["y"])
    t = time.perf_counter()
    pk, vk = proving.setup(circuit)
    setup_s = time.perf_counter() - t
    peak = _high_water_mb()
    pk.save(str(work / "task.pk"))
    (work / "task.vk").write_bytes(vk.to_bytes())
    return {"setup_s": setup_s, "setup_peak_rss_mb": peak}


def prove(work: Path, salt: int, tag: int) -> dict[str, object]:
    t = time.perf_counter()
    pk = proving.ProvingKey.load(str(work / "task.pk"))
    load_s = time.perf_counter() - t
    model = QuantizedModel.from_bytes((work / "model.bin").read_bytes())
    t = time.perf_counter()
    proven = proving.prove(pk, model, salt, tag)
    prove_s = time.perf_counter() - t
    peak = _high_water_mb()
    return {
        "pk_load_s": load_s,
        "prove_s": prove_s,
        "timings": proven.timings,
        "floor_s": pk.floor_msm_seconds(),
        "constraints": pk.num_constraints,
        "variables": pk.num_variables,
        "domain_size": pk.domain_size,
        "peak_rss_mb": peak,
        "proof": proven.proof.to_bytes().hex(),
        "commitment": proven.commitment,
        "count": proven.count,
    }


def aggregation(work: Path, size: int, frac_bits: int) -> dict[str, object]:
    models = [QuantizedModel.from_bytes((work / f"model{k}.bin").read_bytes()) for k in range(size)]
    circuit = proving.AggregationCircuit(models[0].spec, capacity=size, frac_bits=frac_bits)
    t = time.perf_counter()
    key, vk = proving.setup_aggregation(circuit)
    setup_s = time.perf_counter() - t
    setup_peak = _high_water_mb()
    counts = [1000 + 100 * k for k in range(size)]
    weights = aggregation_weights(counts, frac_bits)
    salts = [proving.new_salt() for _ in range(size)]
    t = time.perf_counter()
    proven = proving.prove_aggregation(
        key, list(zip(models, salts, weights, strict=True)), proving.new_salt()
    )
    prove_s = time.perf_counter() - t
    verify_ms = _verify_ms(
        lambda: proving.verify_aggregation(
            vk, proven.global_commitment, proven.commitments, proven.weights, proven.proof
        ),
        "aggregation",
    )
    inputs = [proven.global_commitment]
    for c, w in zip(proven.commitments, proven.weights, strict=True):
        inputs += [c, w]
    return {
        "contributions": size,
        "public_inputs": 1 + 2 * size,
        **_measures(key, setup_s, setup_peak, prove_s, proven, verify_ms),
        "verify_gas": _verify_gas(vk, proven.proof, inputs, "aggregation"),
    }


def _verify_ms(check: Callable[[], bool], what: str, repeats: int = 20) -> float:
    """Milliseconds per native verification, checking that it holds."""
    t = time.perf_counter()
    for _ in range(repeats):
        ok = check()
    if not ok:
        raise RuntimeError(f"the benchmark's own {what} proof did not verify")
    return (time.perf_counter() - t) / repeats * 1e3


def _verify_gas(
    vk: proving.VerifyingKey, proof: proving.Proof, inputs: list[int], what: str
) -> int:
    """Gas of verifying ``proof`` with the variable-input Groth16 verifier contract for
    ``vk`` on the in-process EVM, checking that it holds there."""
    ledger = Ledger.in_process()
    verifier = ledger.deploy_aggregation_verifier(vk.to_evm())
    words = list(proof.to_evm())
    if not ledger.verify_aggregation(verifier, words, inputs):
        raise RuntimeError(f"the verifier contract refused the benchmark's {what} proof")
    return ledger.verify_aggregation_gas(verifier, words, inputs)


def _measures(
    key: Any, setup_s: float, setup_peak: float, prove_s: float, proven: Any, verify_ms: float
) -> dict[str, object]:
    """What every proof benchmark reports of its key, setup, proof and verification."""
    return {
        "constraints": key.num_constraints,
        "variables": key.num_variables,
        "domain_size": key.domain_size,
        "setup_s": round(setup_s, 3),
        "setup_peak_rss_mb": round(setup_peak, 1),
        "prove_s": round(prove_s, 3),
        **{k: round(v, 3) for k, v in proven.timings.items()},
        "floor_s": round(key.floor_msm_seconds(), 3),
        "verify_ms": round(verify_ms, 3),
        "peak_rss_mb": round(_high_water_mb(), 1),
        "proof_bytes": len(proven.proof.to_bytes()),
    }


def training(work: Path) -> dict[str, object]:
    from zkpot.learning.integer_training import TrainingRule
    from zkpot.proving.training import (
        Checkpoint,
        TrainingCircuit,
        data_tree,
        prove_segment,
        setup_training,
        verify_segment,
    )

    meta = json.loads((work / "segment.json").read_text())
    rule = TrainingRule(**meta["rule"])
    circuit = TrainingCircuit(rule, tuple(meta["widths"]), meta["steps"], meta["depth"])
    with np.load(work / "segment.npz") as data:
        tensors = len(meta["widths"]) - 1
        params = [data[f"p{t}"] for t in range(2 * tensors)]
        x, y = data["x"], data["y"]
    start = Checkpoint.start(params, rule)
    t = time.perf_counter()
    tree = data_tree(circuit, x, y)
    tree_s = time.perf_counter() - t
    t = time.perf_counter()
    key, vk = setup_training(circuit)
    setup_s = time.perf_counter() - t
    setup_peak = _high_water_mb()
    t = time.perf_counter()
    salts = (proving.new_salt(), proving.new_salt(), proving.new_salt())
    schedule = tuple(meta["schedule"])
    proven = prove_segment(key, start, tree, schedule, 0, salts, proving.new_salt())
    prove_s = time.perf_counter() - t
    verify_ms = _verify_ms(lambda: verify_segment(vk, proven.statement, proven.proof), "training")
    st = proven.statement
    inputs = [st.start, st.end, st.data, st.n, st.a, st.a0, st.tag]
    return {
        "steps": meta["steps"],
        "data_tree_s": round(tree_s, 3),
        **_measures(key, setup_s, setup_peak, prove_s, proven, verify_ms),
        "verify_gas": _verify_gas(vk, proven.proof, inputs, "training"),
    }


def main(argv: list[str]) -> None:
    step, work, *rest = argv
    if step == "setup":
        out = setup(Path(work))
    elif step == "prove":
        salt, tag = rest
        out = prove(Path(work), int(salt), int(tag))
    elif step == "aggregation":
        size, frac_bits = rest
        out = aggregation(Path(work), int(size), int(frac_bits))
    elif step == "training":
        out = training(Path(work))
    else:
        raise SystemExit(
            f"unknown step {step!r}: expected 'setup', 'prove', 'aggregation' or 'training'"
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
