"""Stand-in verifiers for the tests of the ledger's rules (``contracts/test/``).

``StandInVerifier`` accepts a "proof" whose first word is the sum of its three public
inputs; ``StandInAggregationVerifier`` has a fixed number of slots and accepts a "proof"
whose first word is the sum of its inputs modulo the scalar field order r. A test then
makes a valid or an invalid proof for any statement without proving, and the contract's
own checks (which statement it asks the verifier about) are what is under test. Real
Groth16 proofs are checked by the ledger tests that use the ``prover`` fixture and by
``tests/test_ledger_aggregation.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from zkpot.ledger import Ledger
from zkpot.ledger.build import run_solc
from zkpot.proving import FIELD_ORDER

ROOT = Path(__file__).resolve().parents[1]
VERIFIER = "contracts/test/StandInVerifier.sol"
AGGREGATOR = "contracts/test/StandInAggregationVerifier.sol"


@cache
def _bytecode(path: str, name: str) -> bytes:
    _, out = run_solc({path: (ROOT / path).read_text()})
    return bytes.fromhex(out[path][name]["evm"]["bytecode"]["object"])


def deploy_stand_in_verifier(ledger: Ledger) -> str:
    """A stand-in accuracy verifier on ``ledger``; its address."""
    return ledger.deploy_contract(_bytecode(VERIFIER, "StandInVerifier"))


def deploy_stand_in_aggregator(ledger: Ledger, slots: int) -> str:
    """A stand-in aggregation verifier with ``slots`` slots on ``ledger``; its address."""
    code = _bytecode(AGGREGATOR, "StandInAggregationVerifier")
    return ledger.deploy_contract(code + slots.to_bytes(32, "big"))


def stand_in_proof(commitment: int, count: int, tag: int) -> tuple[int, ...]:
    """A proof the stand-in verifier accepts for exactly these public inputs."""
    return (commitment + count + tag, 0, 0, 0, 0, 0, 0, 0)


def stand_in_verify(proof: tuple[int, ...], commitment: int, count: int, tag: int) -> bool:
    """The stand-in verifier's relation, for the specification."""
    return proof[0] == commitment + count + tag


def stand_in_aggregate_proof(inputs: Sequence[int]) -> tuple[int, ...]:
    """An aggregation proof the stand-in aggregator accepts for exactly ``inputs``."""
    return (sum(inputs) % FIELD_ORDER, 0, 0, 0, 0, 0, 0, 0)


def stand_in_verify_aggregate(proof: tuple[int, ...], inputs: tuple[int, ...]) -> bool:
    """The stand-in aggregator's relation, for the specification (its slot count is the
    registration's capacity, which the inputs already have)."""
    return proof[0] == sum(inputs) % FIELD_ORDER
