"""The ZKPoT protocol as an executable specification: its nouns and rules, pure data and
functions, with no I/O.

- :mod:`~zkpot.protocol.task`: :class:`Task`, what a publisher announces.
- :mod:`~zkpot.protocol.submission`: the transactions of a round (:class:`Submission`,
  the ZKPoT transaction; :class:`HandOver`, :class:`Proposal`, :class:`Skip`).
- :mod:`~zkpot.protocol.block`: :class:`RoundBlock`, what a round decided.
- :mod:`~zkpot.protocol.chain`: :class:`Chain`, one task's state on the ledger.
- :mod:`~zkpot.protocol.round`: :func:`state_transition` and the rules it applies.
- :mod:`~zkpot.protocol.errors`: one exception type per kind of invalidity.
- :mod:`~zkpot.protocol.hashes`: the contract's hashes, recomputed.
- :mod:`~zkpot.protocol.types`: ``Address``, ``Hash32``, ``FieldElement``, ``Cid``.

The ledger contract enforces the same rules on chain, and a stateful test holds it to them.
"""

from zkpot.protocol.block import Rejection, RoundBlock
from zkpot.protocol.chain import Chain, Entry, Registration, Round, open_task
from zkpot.protocol.errors import (
    AcceptedNotSorted,
    BadParent,
    BadSealedKey,
    BelowThreshold,
    BlockAlreadyProposed,
    CountAboveSamples,
    DuplicateSubmission,
    EmptyAggregate,
    GlobalBelowThreshold,
    InvalidAggregationProof,
    InvalidBlock,
    InvalidCommitment,
    InvalidGlobalProof,
    InvalidHandOver,
    InvalidProof,
    InvalidSubmission,
    InvalidTransaction,
    LateSubmission,
    NoLeaderLeft,
    NoSubmissions,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    RoundHasLeader,
    RoundNotOpen,
    RoundStillOpen,
    TooManyContributions,
    UnknownTask,
)
from zkpot.protocol.round import (
    AggregateVerifier,
    Verifier,
    aggregation_inputs,
    aggregation_weights,
    apply_block,
    apply_hand_over,
    apply_submission,
    is_closed,
    leader_at,
    ranking,
    skip_round,
    state_transition,
    turn_at,
    turn_ends,
)
from zkpot.protocol.submission import HandOver, Proposal, Skip, Submission, Transaction
from zkpot.protocol.task import Task
from zkpot.protocol.types import Address, Cid, FieldElement, Hash32, Timestamp

__all__ = [
    "AcceptedNotSorted",
    "Address",
    "AggregateVerifier",
    "BadParent",
    "BadSealedKey",
    "BelowThreshold",
    "BlockAlreadyProposed",
    "Chain",
    "Cid",
    "CountAboveSamples",
    "DuplicateSubmission",
    "EmptyAggregate",
    "Entry",
    "FieldElement",
    "GlobalBelowThreshold",
    "HandOver",
    "Hash32",
    "InvalidAggregationProof",
    "InvalidBlock",
    "InvalidCommitment",
    "InvalidGlobalProof",
    "InvalidHandOver",
    "InvalidProof",
    "InvalidSubmission",
    "InvalidTransaction",
    "LateSubmission",
    "NoLeaderLeft",
    "NoSubmissions",
    "NoValidSubmission",
    "NotLeader",
    "NotRegistered",
    "Proposal",
    "Registration",
    "Rejection",
    "Round",
    "RoundBlock",
    "RoundHasLeader",
    "RoundNotOpen",
    "RoundStillOpen",
    "Skip",
    "Submission",
    "Task",
    "Timestamp",
    "TooManyContributions",
    "Transaction",
    "UnknownTask",
    "Verifier",
    "aggregation_inputs",
    "aggregation_weights",
    "apply_block",
    "apply_hand_over",
    "apply_submission",
    "is_closed",
    "leader_at",
    "open_task",
    "ranking",
    "skip_round",
    "state_transition",
    "turn_at",
    "turn_ends",
]
