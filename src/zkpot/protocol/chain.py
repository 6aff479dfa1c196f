"""The state of one task on the ledger: what registration fixed, the blocks so far, and
the round that is open (or waiting for its block).

Frozen data only; :mod:`zkpot.protocol.round` computes each next state.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkpot.protocol.block import RoundBlock
from zkpot.protocol.types import Address, Cid, FieldElement, Hash32, Timestamp


@dataclass(frozen=True)
class Registration:
    """What ``registerTask`` fixed: the ledger it lives on, the rule's numbers, the
    participant registry in order, and the initial global model."""

    chain_id: int
    ledger: Address
    task_id: int
    participants: tuple[Address, ...]
    min_count: int
    num_samples: int
    rounds: int
    window: int
    initial_commitment: FieldElement
    initial_cid: Cid
    genesis_hash: Hash32
    #: each participant's registered sample count (its FedAvg weight), in registry order
    sample_counts: tuple[int, ...]
    #: aggregation slots of the task's aggregation circuit
    capacity: int
    #: commitment of an empty aggregation slot
    padding_commitment: FieldElement


@dataclass(frozen=True)
class Entry:
    """A valid submission recorded in the open round."""

    submitter: Address
    count: int
    commitment: FieldElement


@dataclass(frozen=True)
class HandOverRecord:
    """A submitter's latest hand-over in the round: the turn it was made in, the key hash
    it committed to, when that turn's leader contested it, whether it was re-opened."""

    submitter: Address
    turn: int
    key_hash: Hash32
    contested_at: Timestamp | None = None
    reopened: bool = False


@dataclass(frozen=True)
class Round:
    """The current round: when its window opened, the submissions and the hand-overs."""

    number: int
    opened_at: Timestamp
    entries: tuple[Entry, ...] = ()
    hand_overs: tuple[HandOverRecord, ...] = ()

    def entry(self, submitter: Address) -> Entry | None:
        return next((e for e in self.entries if e.submitter == submitter), None)

    def hand_over(self, submitter: Address) -> HandOverRecord | None:
        return next((h for h in self.hand_overs if h.submitter == submitter), None)

    def with_hand_over(self, record: HandOverRecord) -> Round:
        """This round with ``record`` as its submitter's latest hand-over."""
        others = tuple(h for h in self.hand_overs if h.submitter != record.submitter)
        return Round(self.number, self.opened_at, self.entries, (*others, record))


@dataclass(frozen=True)
class Chain:
    """One task's ledger state: its registration, its blocks, its current round."""

    registration: Registration
    blocks: tuple[RoundBlock, ...]
    round: Round

    @property
    def finished(self) -> bool:
        return len(self.blocks) >= self.registration.rounds

    @property
    def head(self) -> Hash32:
        """The latest block's hash (the genesis hash before round 0's block)."""
        return self.blocks[-1].hash if self.blocks else self.registration.genesis_hash

    @property
    def deadline(self) -> Timestamp:
        """When the current round's window closes (it may close earlier)."""
        return Timestamp(self.round.opened_at + self.registration.window)


def open_task(registration: Registration, now: Timestamp) -> Chain:
    """The state right after ``registerTask`` at ``now``: round 0 is open."""
    return Chain(registration, (), Round(0, now))
