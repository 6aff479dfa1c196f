"""The transactions of a round: what participants send to the ledger.

:class:`Submission` is the ZKPoT transaction proper: a proven count for a committed model.
It carries no weights and no gradients: only a hiding commitment to the model, the count
the proof establishes, the proof, and the content address of the encrypted model. After
the window, submitters hand their package keys over (:class:`HandOver`), the leader of the
turn may contest a hand-over that does not open (:class:`Contest`) and its submitter
re-open the key in public (:class:`Reopen`), the leader proposes the block
(:class:`Proposal`), or anyone skips a round left without a leader (:class:`Skip`).
Values are as sent: the rules (:mod:`zkpot.protocol.round`) judge them.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkpot.protocol.types import Address, Cid, FieldElement, Hash32

#: Words of a Groth16 proof as the EVM verifier takes it (A, B, C on BN254).
PROOF_WORDS = 8


@dataclass(frozen=True)
class Submission:
    """``submit(task, round, commitment, count, modelCid, proof)`` from ``sender``."""

    sender: Address
    task_id: int
    round: int
    commitment: FieldElement
    count: int
    model_cid: Cid
    proof: tuple[int, ...]


@dataclass(frozen=True)
class HandOver:
    """``handOver(task, round, leader, sealedKey, keyHash)``: the package key sealed to
    ``leader``, and its keccak256 hash."""

    sender: Address
    task_id: int
    round: int
    leader: Address
    sealed_key: bytes
    key_hash: Hash32


@dataclass(frozen=True)
class Contest:
    """``contest(task, round, submitter)``: the turn's leader says that ``submitter``'s
    hand-over does not open."""

    sender: Address
    task_id: int
    round: int
    submitter: Address


@dataclass(frozen=True)
class Reopen:
    """``reopen(task, round, key)``: a submitter publishes its package key."""

    sender: Address
    task_id: int
    round: int
    key: Hash32


@dataclass(frozen=True)
class Exclusion:
    """A submitter that handed the leader a key and is left out of the block: with the
    handed ``key``, or with ``None`` after an unanswered contest."""

    submitter: Address
    key: Hash32 | None


@dataclass(frozen=True)
class Proposal:
    """``proposeBlock(task, round, parent, G, g, gcid, accepted, excluded, proof,
    aggregationProof)`` from the leader."""

    sender: Address
    task_id: int
    round: int
    parent_hash: Hash32
    global_commitment: FieldElement
    global_count: int
    global_cid: Cid
    accepted: tuple[Address, ...]
    proof: tuple[int, ...]
    aggregation_proof: tuple[int, ...]
    excluded: tuple[Exclusion, ...] = ()


@dataclass(frozen=True)
class Skip:
    """``skipRound(task, round)``: anyone, once the round has no leader left."""

    sender: Address
    task_id: int
    round: int


#: Any transaction of a round.
Transaction = Submission | HandOver | Contest | Reopen | Proposal | Skip
