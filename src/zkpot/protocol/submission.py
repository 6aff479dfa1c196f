"""The ZKPoT transaction: a participant's proven claim for one round.

It carries no weights and no gradients: only a hiding commitment to the model, the count
the proof establishes, the proof, and the content address of the encrypted model.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkpot.proving import FIELD_ORDER

PROOF_BYTES = 128


@dataclass(frozen=True)
class Submission:
    """What ``submit`` puts on the ledger for (task, round, submitter)."""

    task_id: int
    round: int
    submitter: str
    commitment: int
    count: int
    proof: bytes
    model_cid: str

    def __post_init__(self) -> None:
        if not 0 <= self.commitment < FIELD_ORDER:
            raise ValueError("the commitment is not a BN254 scalar")
        if self.count < 0 or self.round < 0 or self.task_id < 1:
            raise ValueError("task id, round and count are non-negative (task ids from 1)")
        if len(self.proof) != PROOF_BYTES:
            raise ValueError(f"a proof is {PROOF_BYTES} bytes, got {len(self.proof)}")
        if not self.model_cid:
            raise ValueError("a submission names its encrypted model's CID")
