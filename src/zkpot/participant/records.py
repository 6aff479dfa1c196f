"""How far a participant got in each round: the stages of its state machine and their record.

A participant's round moves through these stages, forward only:

=========== ===================================================================
trained     local training done; ``params`` holds the local model
prepared    proof made, package sealed and stored; salt, package key, proof,
            claim (commitment, count, proof words, CID) recorded *before* the
            transaction is sent
submitted   the ZKPoT transaction is on chain
handed_over the package key was handed to the round's leader
proposed    this participant led the round and its block is on chain
skipped     no submission this round (``note`` says why)
done        the round's block is on chain and this participant has read it
=========== ===================================================================

:class:`Records` is where a machine keeps them: :class:`MemoryRecords` for a federation
in one process, and the node's SQLite file (:class:`zkpot.node.state.ParticipantState`),
which survives a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, Protocol


class StateError(RuntimeError):
    """A stage would go back, or a state file is bound to another identity or task."""


class Stage(StrEnum):
    """How far a participant got in one round (see the module docstring)."""

    TRAINED = "trained"
    PREPARED = "prepared"
    SUBMITTED = "submitted"
    HANDED_OVER = "handed_over"
    PROPOSED = "proposed"
    SKIPPED = "skipped"
    DONE = "done"


#: Forward order of the stages; hand-over and proposal are alternatives of equal rank.
RANK = {
    Stage.TRAINED: 1,
    Stage.PREPARED: 2,
    Stage.SUBMITTED: 3,
    Stage.HANDED_OVER: 4,
    Stage.PROPOSED: 4,
    Stage.SKIPPED: 5,
    Stage.DONE: 6,
}


@dataclass(frozen=True)
class RoundRecord:
    """What a participant keeps of one round. Field elements are decimal strings (SQLite
    integers have 64 bits). ``commitment``, ``count``, ``model_cid`` and ``claim_proof``
    (the eight proof words, 32 bytes each) are what the ZKPoT transaction claims; ``proof``
    is the proof the participant made."""

    round: int
    stage: Stage
    params: bytes | None = None
    salt: str | None = None
    package_key: bytes | None = None
    ciphertext: bytes | None = None
    model_cid: str | None = None
    commitment: str | None = None
    count: int | None = None
    tag: str | None = None
    proof: bytes | None = None
    prove_s: float | None = None
    local_accuracy: float | None = None
    submit_gas: int | None = None
    handover_gas: int | None = None
    propose_gas: int | None = None
    leader: str | None = None
    block_hash: str | None = None
    global_cid: str | None = None
    note: str | None = None
    updated_at: float | None = None
    claim_proof: bytes | None = None

    @property
    def submitted(self) -> bool:
        """Whether the submission is on chain and phase two is pending or done (a ``done``
        record tells no more; the chain does)."""
        return self.stage in (Stage.SUBMITTED, Stage.HANDED_OVER, Stage.PROPOSED)


#: The record's columns, in order; ``round`` and ``stage`` first, ``updated_at`` set on write.
COLUMNS = [f.name for f in fields(RoundRecord)]
VALUE_COLUMNS = frozenset(COLUMNS) - {"round", "stage", "updated_at"}


def check_advance(current: RoundRecord | None, round: int, stage: Stage, values: Any) -> None:
    """Refuse unknown fields and a stage that would go back (:class:`StateError`)."""
    unknown = set(values) - VALUE_COLUMNS
    if unknown:
        raise ValueError(f"unknown round fields: {sorted(unknown)}")
    if current is not None and RANK[stage] < RANK[current.stage]:
        raise StateError(f"round {round} is {current.stage}; it cannot go back to {stage}")


def words_to_bytes(words: tuple[int, ...] | list[int]) -> bytes:
    """Proof words as stored: 32 big-endian bytes each."""
    return b"".join(int(w).to_bytes(32, "big") for w in words)


def bytes_to_words(data: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32))


class Records(Protocol):
    """Where a participant's state machine keeps its round records."""

    def record(self, round: int) -> RoundRecord | None:
        """The record of a round, or None if the participant never started it."""
        ...

    def advance(self, round: int, stage: Stage, **values: Any) -> RoundRecord:
        """Move a round to ``stage`` and set ``values`` (the others keep theirs); a stage
        that would go back raises :class:`StateError` and changes nothing."""
        ...


class MemoryRecords:
    """Round records held in memory: a participant of an in-process federation."""

    def __init__(self) -> None:
        self._rounds: dict[int, RoundRecord] = {}

    def record(self, round: int) -> RoundRecord | None:
        return self._rounds.get(round)

    def records(self) -> list[RoundRecord]:
        return [self._rounds[r] for r in sorted(self._rounds)]

    def advance(self, round: int, stage: Stage, **values: Any) -> RoundRecord:
        current = self._rounds.get(round)
        check_advance(current, round, stage, values)
        base = current or RoundRecord(round, stage)
        record = replace(base, stage=stage, **values, updated_at=time.time())
        self._rounds[round] = record
        return record
