"""Our prover against ezkl on the same model and samples, measured in one run.

Prints our figures (``zkpot bench prover``) and, when ezkl is installed (``pip install
'.[bench]'``), ezkl's on the first ``--ezkl-samples`` samples and the per-sample speed-up.
"""

from __future__ import annotations

import argparse
import json

from zkpot.bench.prover import EZKL_MAX_SAMPLES, bench_prover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="mnist", choices=["digits", "mnist"])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--ezkl-samples", type=int, default=EZKL_MAX_SAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        from zkpot.bench.ezkl_peer import ezkl_available

        with_ezkl = ezkl_available()
    except ImportError:
        with_ezkl = False
    result = bench_prover(
        args.dataset,
        args.hidden,
        args.samples,
        args.seed,
        vs_ezkl=with_ezkl,
        ezkl_samples=min(args.ezkl_samples, EZKL_MAX_SAMPLES),
    )
    print(json.dumps(result, indent=2, sort_keys=True))
    per_sample_ms = 1e3 * result["prove_s"] / result["samples"]
    print(f"\nzkpot: {per_sample_ms:.1f} ms per test sample, peak {result['peak_rss_mb']:.0f} MB")
    if with_ezkl:
        print(f"ezkl speed-up per sample (ezkl / zkpot): {result['speedup_per_sample']:.1f}x")
    else:
        print("ezkl is not installed: no ratio (pip install '.[bench]')")


if __name__ == "__main__":
    main()
