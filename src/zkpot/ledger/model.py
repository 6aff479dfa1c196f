"""Plain data exchanged with the ledger: task parameters in, on-chain state out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import is_address, to_checksum_address

from zkpot.ledger.errors import InvalidArgument
from zkpot.proving import FIELD_ORDER

UINT32_MAX = 2**32 - 1
UINT16_MAX = 2**16 - 1
#: ZKPoT.MAX_SAMPLES: counts are stored on chain as count + 1 in 31 bits.
MAX_SAMPLES = 2**31 - 2


@dataclass(frozen=True)
class Member:
    """A registered participant of a task: its account, its X25519 public key and its
    registered sample count, the weight of its model in every aggregate (one entry of
    ``TaskParams.participants`` / ``participantKeys`` / ``sampleCounts``)."""

    address: str
    x25519_key: bytes
    samples: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", checksum(self.address, "participant address"))
        key = bytes(self.x25519_key)
        if len(key) != 32 or not any(key):
            raise InvalidArgument("an X25519 public key is 32 bytes, not all zero")
        object.__setattr__(self, "x25519_key", key)
        uint("samples", self.samples, UINT32_MAX, minimum=1)


@dataclass(frozen=True)
class TaskParams:
    """What a publisher fixes when registering a task (``ZKPoT.TaskParams``)."""

    verifier: str
    test_set_hash: bytes
    test_set_cid: str
    model_spec_hash: bytes
    min_count: int
    num_samples: int
    rounds: int
    window: int
    initial_commitment: int
    initial_cid: str
    participants: tuple[Member, ...]
    #: the ``AggregationVerifier`` of the task's aggregation circuit
    aggregator: str
    #: the commitment of an empty aggregation slot (``proving.padding_commitment``)
    padding_commitment: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifier", checksum(self.verifier, "verifier"))
        object.__setattr__(self, "aggregator", checksum(self.aggregator, "aggregator"))
        field_element("padding_commitment", self.padding_commitment)
        object.__setattr__(self, "participants", tuple(self.participants))
        for name in ("test_set_hash", "model_spec_hash"):
            if len(bytes(getattr(self, name))) != 32:
                raise InvalidArgument(f"{name} must be 32 bytes")
        uint("num_samples", self.num_samples, MAX_SAMPLES, minimum=1)
        uint("min_count", self.min_count, self.num_samples)
        uint("rounds", self.rounds, UINT32_MAX, minimum=1)
        uint("window", self.window, UINT32_MAX, minimum=1)
        field_element("initial_commitment", self.initial_commitment)
        if not 1 <= len(self.participants) <= UINT16_MAX:
            raise InvalidArgument(f"a task has 1..{UINT16_MAX} participants")
        addresses = [p.address for p in self.participants]
        if len(set(addresses)) != len(addresses):
            raise InvalidArgument("a participant is listed twice")

    def to_abi(self) -> tuple[Any, ...]:
        """The ``TaskParams`` tuple as the contract ABI expects it."""
        return (
            self.verifier,
            bytes(self.test_set_hash),
            self.test_set_cid,
            bytes(self.model_spec_hash),
            self.min_count,
            self.num_samples,
            self.rounds,
            self.window,
            self.initial_commitment,
            self.initial_cid,
            [p.address for p in self.participants],
            [p.x25519_key for p in self.participants],
            [p.samples for p in self.participants],
            self.aggregator,
            self.padding_commitment,
        )


@dataclass(frozen=True)
class TaskView:
    """A registered task as stored on chain (``ZKPoT.Task``; the task as published is
    :class:`zkpot.protocol.Task`)."""

    task_id: int
    publisher: str
    verifier: str
    test_set_hash: bytes
    test_set_cid: str
    model_spec_hash: bytes
    min_count: int
    num_samples: int
    rounds: int
    window: int
    initial_commitment: int
    initial_cid: str
    participant_count: int
    current_round: int
    genesis_hash: bytes
    aggregator: str
    #: aggregation slots: the most submissions one block may aggregate
    capacity: int
    padding_commitment: int

    @property
    def finished(self) -> bool:
        """Whether every round has its block."""
        return self.current_round >= self.rounds


class RoundStatus(IntEnum):
    """Lifecycle of a round (``ZKPoT.RoundStatus``)."""

    NOT_OPENED = 0
    OPEN = 1
    CLOSED = 2
    FINALIZED = 3


@dataclass(frozen=True)
class RoundView:
    """A round's schedule, submissions so far and its leader (``ZKPoT.RoundView``).

    While open, ``leader`` is the best submission so far; once closed, the leader of the
    current turn (``None`` when every turn has passed), whose turn ends at ``turn_ends``;
    once finalized, the leader that appended the block (``None`` if the round was skipped).
    ``best_count`` is that leader's proven count.
    """

    task_id: int
    round: int
    status: RoundStatus
    opened_at: int
    deadline: int
    submitted: int
    leader: str | None
    best_count: int
    block_hash: bytes | None
    turn: int = 0
    turn_ends: int = 0


@dataclass(frozen=True)
class SubmissionView:
    """A participant's valid submission in a round (``ZKPoT.SubmissionView``)."""

    commitment: int
    count: int
    accepted: bool


@dataclass(frozen=True)
class HandOverView:
    """A submitter's latest hand-over in a round (``ZKPoT.HandOver``): the leader turn it
    was made in, its key hash, when that turn's leader contested it (``None``: never) and
    whether its submitter re-opened the key."""

    turn: int
    key_hash: bytes
    contested_at: int | None
    reopened: bool


@dataclass(frozen=True)
class Leader:
    """The leader of a closed round and its proven count."""

    address: str
    count: int


@dataclass(frozen=True)
class RoundBlockView:
    """The block appended for a round as stored on chain (``ZKPoT.RoundBlock``; ``leader``
    is ``None`` for a skipped round). The whole block, hashed as the contract hashes it,
    is :class:`zkpot.protocol.RoundBlock`."""

    task_id: int
    round: int
    block_hash: bytes
    global_commitment: int
    global_cid: str
    leader: str | None = None
    leader_count: int = 0
    global_count: int = 0


@dataclass(frozen=True)
class BlockCall:
    """What the leader sent to append a round's block: the ``proposeBlock`` arguments,
    read back from the transaction's calldata (``Ledger.block_call``)."""

    leader: str
    parent_hash: bytes
    global_commitment: int
    global_count: int
    global_cid: str
    accepted: tuple[str, ...]
    excluded: tuple[tuple[str, bytes], ...]
    global_proof: tuple[int, ...]
    aggregation_proof: tuple[int, ...]


@dataclass(frozen=True)
class Head:
    """Latest block of a task (genesis if none) and the round whose block comes next."""

    block_hash: bytes
    next_round: int


@dataclass(frozen=True)
class Event:
    """A contract event decoded from a transaction receipt."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    calldata_size: int
    events: tuple[Event, ...]

    def event(self, name: str) -> Event:
        """The first event with this name."""
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(f"no {name} event in transaction 0x{self.tx_hash.hex()}")


def checksum(address: str, what: str) -> str:
    """A checksummed address, or InvalidArgument."""
    if not isinstance(address, str) or not is_address(address):
        raise InvalidArgument(f"{what} is not an address: {address!r}")
    return to_checksum_address(address)


def uint(name: str, value: int, maximum: int, *, minimum: int = 0) -> int:
    """An int in [minimum, maximum], or InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidArgument(f"{name} must be an integer in [{minimum}, {maximum}]: {value!r}")
    return value


def field_element(name: str, value: int) -> int:
    """An element of the BN254 scalar field, or InvalidArgument."""
    return uint(name, value, FIELD_ORDER - 1)


def words(name: str, values: Sequence[int], count: int, bound: int) -> list[int]:
    """Exactly ``count`` ints below ``bound``, or InvalidArgument."""
    values = list(values)
    if len(values) != count:
        raise InvalidArgument(f"{name} has {count} words, got {len(values)}")
    return [uint(f"{name}[{i}]", v, bound - 1) for i, v in enumerate(values)]
