"""Setup or one proof in a fresh process, so that its peak memory is that step's alone.

``python -m zkpot.bench.child setup WORKDIR`` reads ``spec.json`` and ``test.npz`` from
WORKDIR, writes ``task.pk`` and ``task.vk`` there and prints its time and peak RSS.
``python -m zkpot.bench.child prove WORKDIR SALT TAG`` loads ``task.pk`` and proves
``model.bin``; it prints the load and prove times, the prover's own step timings, the
floor MSM of the key's evaluation domain (measured after the proof, on the same key),
the peak RSS of loading and proving, and the proof with its public inputs.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from zkpot import proving
from zkpot.learning.integer_model import ModelSpec, QuantizedModel


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


def main(argv: list[str]) -> None:
    step, work, *rest = argv
    if step == "setup":
        out = setup(Path(work))
    elif step == "prove":
        salt, tag = rest
        out = prove(Path(work), int(salt), int(tag))
    else:
        raise SystemExit(f"unknown step {step!r}: expected 'setup' or 'prove'")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
