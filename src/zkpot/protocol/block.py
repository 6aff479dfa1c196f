"""The ZKPoT block: what a round decided, hash-linked to the round before it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from zkpot.protocol.hashes import block_hash


@dataclass(frozen=True)
class Rejection:
    """A submission left out of the round, and why."""

    submitter: str
    reason: str


@dataclass(frozen=True)
class RoundBlock:
    """Round ``round`` of task ``task_id``: its leader, the leader's proven accuracy, the
    global model it published with that model's own proven count, and which submissions
    it aggregated or rejected.

    A skipped round (no leader proposed in time) has the zero address as leader, count 0,
    no submissions, and carries the previous global model over.
    """

    task_id: int
    round: int
    parent_hash: bytes
    leader: str
    leader_count: int
    num_samples: int
    global_commitment: int
    global_count: int
    global_cid: str
    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...] = field(default=())

    @property
    def leader_accuracy(self) -> float:
        return self.leader_count / self.num_samples

    @property
    def global_proven_accuracy(self) -> float:
        """The accuracy the global model proved on the public test set."""
        return self.global_count / self.num_samples

    @property
    def skipped(self) -> bool:
        return int(self.leader, 16) == 0

    @property
    def hash(self) -> bytes:
        """The block hash, exactly as the ledger contract computes it."""
        return block_hash(
            self.task_id,
            self.round,
            self.parent_hash,
            self.leader,
            self.leader_count,
            self.global_commitment,
            self.global_count,
            self.global_cid,
            self.accepted,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["parent_hash"] = "0x" + self.parent_hash.hex()
        data["hash"] = "0x" + self.hash.hex()
        data["leader_accuracy"] = self.leader_accuracy
        data["global_proven_accuracy"] = self.global_proven_accuracy
        data["skipped"] = self.skipped
        return data
