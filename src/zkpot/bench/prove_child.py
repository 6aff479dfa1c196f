"""Proves once in a fresh process, so that its peak memory is the prover's alone.

``python -m zkpot.bench.prove_child PK_FILE MODEL_FILE SALT TAG`` prints one JSON object:
load and prove times, peak RSS, and the proof with its public inputs.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from zkpot import proving
from zkpot.learning.integer_model import QuantizedModel


def _high_water_mb() -> float:
    """Peak RSS of this process image. ``ru_maxrss`` would do, but Linux carries it over
    from the parent across fork and exec; ``VmHWM`` belongs to this address space only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str]) -> None:
    pk_file, model_file, salt, tag = argv
    t = time.perf_counter()
    pk = proving.ProvingKey.from_bytes(Path(pk_file).read_bytes())
    load_s = time.perf_counter() - t
    model = QuantizedModel.from_bytes(Path(model_file).read_bytes())
    t = time.perf_counter()
    proven = proving.prove(pk, model, int(salt), int(tag))
    prove_s = time.perf_counter() - t
    peak = _high_water_mb()
    print(
        json.dumps(
            {
                "load_s": load_s,
                "prove_s": prove_s,
                "peak_rss_mb": peak,
                "proof": proven.proof.to_bytes().hex(),
                "commitment": proven.commitment,
                "count": proven.count,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
