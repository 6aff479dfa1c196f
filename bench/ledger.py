"""Gas of the ZKPoT transactions, with the bare Groth16 verification as the baseline.

``submit`` verifies a proof on chain; the ratio to a direct ``verifyProof`` call of the
same verifier on the same proof (measured in this run) is the ledger's overhead.
"""

from __future__ import annotations

import json

from zkpot.ledger.bench import ledger_bench


def main() -> None:
    result = ledger_bench()
    print(json.dumps(result, indent=2, sort_keys=True))
    gas = result["gas"]
    verify = result.get("verify_proof_gas")
    if verify:
        ratio = gas["submit"]["mean"] / verify
        print(f"\nsubmit / verifyProof gas: {ratio:.2f} ({gas['submit']['mean']:,} / {verify:,})")


if __name__ == "__main__":
    main()
