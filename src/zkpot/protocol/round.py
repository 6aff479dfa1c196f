"""The ZKPoT round as an executable specification: pure functions from one ledger state
to the next, mirroring ``contracts/ZKPoT.sol`` rule for rule.

A round is OPEN until its deadline (``opened_at + window``, exclusive) or until every
registered participant has submitted; then CLOSED, with leader turns: turn 0 lasts until
one window after the deadline, turn k >= 1 covers ``[deadline + k*window, deadline +
(k+1)*window)``, and the leader of turn k is the (k+1)-th best submission (count
descending, then lowest ``keccak256(abi.encode(round, submitter))``). Submitters hand the
turn's leader their package keys, each with its hash; the leader appends the block, which
accounts for every hand-over of its turn: accepted, or excluded with the handed key, or
excluded without one after a contest that its submitter did not answer by re-opening the
key within a quarter window. Once no leader is left anyone skips the round. Each function
checks state, then arguments, then the proof, and only then returns the new state; a
broken rule raises its :mod:`~zkpot.protocol.errors` class and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from zkpot.protocol.block import RoundBlock
from zkpot.protocol.chain import Chain, Entry, HandOverRecord, Round
from zkpot.protocol.errors import (
    AcceptedNotSorted,
    AlreadyContested,
    AlreadyReopened,
    BadParent,
    BadSealedKey,
    BelowThreshold,
    BlockAlreadyProposed,
    CountAboveSamples,
    DuplicateHandOver,
    DuplicateSubmission,
    EmptyAggregate,
    ExcludedAndAccepted,
    ExcludedNotSorted,
    ExclusionNotShown,
    GlobalBelowThreshold,
    HandOverLeftOut,
    InvalidAggregationProof,
    InvalidCommitment,
    InvalidGlobalProof,
    InvalidProof,
    KeyMismatch,
    LateSubmission,
    NoLeaderLeft,
    NotHandedOver,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    RoundHasLeader,
    RoundNotOpen,
    RoundStillOpen,
    TooManyContributions,
    UnknownTask,
)
from zkpot.protocol.hashes import binding_tag, global_tag, key_hash, tie_break_rank
from zkpot.protocol.submission import (
    Contest,
    Exclusion,
    HandOver,
    Proposal,
    Reopen,
    Skip,
    Submission,
    Transaction,
)
from zkpot.protocol.types import ZERO_ADDRESS, Address, FieldElement, Timestamp, in_field

#: verify(proof words, commitment, count, tag) -> bool: the task's verifier contract.
Verifier = Callable[[tuple[int, ...], FieldElement, int, FieldElement], bool]
#: verify_aggregate(proof words, public inputs) -> bool: the task's aggregation verifier.
AggregateVerifier = Callable[[tuple[int, ...], tuple[int, ...]], bool]

#: Fractional bits of an aggregation weight (ZKPoT.AGGREGATION_FRAC_BITS).
AGGREGATION_FRAC_BITS = 14

#: A 32-byte key in a libsodium sealed box (32-byte ephemeral key, 16-byte tag).
SEALED_KEY_BYTES = 80

#: A contested submitter has ceil(window / RESPONSE_DIVISOR) seconds to re-open its key.
RESPONSE_DIVISOR = 4


def state_transition(
    chain: Chain,
    tx: Transaction,
    now: Timestamp,
    verify: Verifier,
    verify_aggregate: AggregateVerifier,
) -> Chain:
    """The ledger state after ``tx`` is mined at ``now``, or the rule it breaks."""
    if tx.task_id != chain.registration.task_id:
        raise UnknownTask(tx.task_id)
    match tx:
        case Submission():  # OPEN: a proven count for a committed model
            return apply_submission(chain, tx, now, verify)
        case HandOver():  # CLOSED, turn k: a package key sealed to leader(k), and its hash
            return apply_hand_over(chain, tx, now)
        case Contest():  # CLOSED, turn k: leader(k) says a hand-over does not open
            return apply_contest(chain, tx, now)
        case Reopen():  # CLOSED, turn k: a submitter publishes its key
            return apply_reopen(chain, tx, now)
        case Proposal():  # CLOSED -> FINALIZED: leader(k) appends the block
            return apply_block(chain, tx, now, verify, verify_aggregate)
        case Skip():  # CLOSED, no leader left -> FINALIZED: the previous model carries over
            return skip_round(chain, tx, now)


# --------------------------------------------------------------------- time and leaders


def is_closed(chain: Chain, now: Timestamp) -> bool:
    """Whether the current round's window is over: the deadline passed, or all are in."""
    everyone = len(chain.round.entries) == len(chain.registration.participants)
    return now >= chain.deadline or everyone


def turn_at(chain: Chain, now: Timestamp) -> int:
    """The leader turn of the current (closed) round at ``now``."""
    window, deadline = chain.registration.window, chain.deadline
    if now < deadline + window:
        return 0
    return (now - deadline) // window


def turn_ends(chain: Chain, now: Timestamp) -> Timestamp:
    """When the turn that holds at ``now`` ends."""
    return Timestamp(chain.deadline + chain.registration.window * (turn_at(chain, now) + 1))


def ranking(round: Round) -> tuple[Entry, ...]:
    """The round's submissions in leader order: count descending, then tie-break rank."""
    return tuple(
        sorted(round.entries, key=lambda e: (-e.count, tie_break_rank(round.number, e.submitter)))
    )


def leader_at(chain: Chain, now: Timestamp) -> Entry | None:
    """The leader of the turn at ``now`` (while open: the best so far); ``None`` when
    nobody submitted or every submitter's turn has passed."""
    order = ranking(chain.round)
    turn = turn_at(chain, now)
    return order[turn] if turn < len(order) else None


# --------------------------------------------------------------------- the transactions


def apply_submission(chain: Chain, tx: Submission, now: Timestamp, verify: Verifier) -> Chain:
    """``submit``: record a valid submission in the open round."""
    reg, round = chain.registration, chain.round
    _require_current(chain, tx.round)
    if tx.sender not in reg.participants:
        raise NotRegistered(tx.sender)
    if round.entry(tx.sender) is not None:
        raise DuplicateSubmission(tx.sender)
    if now >= chain.deadline:
        raise LateSubmission(chain.deadline, now)
    if tx.count < reg.min_count:
        raise BelowThreshold(tx.count, reg.min_count)
    if tx.count > reg.num_samples:
        raise CountAboveSamples(tx.count, reg.num_samples)
    tag = binding_tag(reg.chain_id, reg.ledger, reg.task_id, tx.round, tx.sender)
    if not in_field(tx.commitment) or not verify(tx.proof, tx.commitment, tx.count, tag):
        raise InvalidProof()
    entry = Entry(tx.sender, tx.count, tx.commitment)
    return replace(chain, round=replace(round, entries=(*round.entries, entry)))


def response_time(chain: Chain) -> int:
    """Seconds a contested submitter has to re-open its key."""
    return -(-chain.registration.window // RESPONSE_DIVISOR)


def apply_hand_over(chain: Chain, tx: HandOver, now: Timestamp) -> Chain:
    """``handOver``: valid only from a submitter, after the window, to the turn's leader,
    once per turn; it records the turn and the key hash."""
    _require_current(chain, tx.round)
    _require_closed(chain, now)
    if tx.sender not in chain.registration.participants:
        raise NotRegistered(tx.sender)
    if chain.round.entry(tx.sender) is None:
        raise NoValidSubmission(tx.sender)
    turn = turn_at(chain, now)
    previous = chain.round.hand_over(tx.sender)
    if previous is not None and previous.turn == turn:
        raise DuplicateHandOver(tx.sender)
    if len(tx.sealed_key) != SEALED_KEY_BYTES:
        raise BadSealedKey(len(tx.sealed_key))
    holder = _require_leader(chain, now)
    if tx.leader != holder.submitter:
        raise NotLeader(tx.leader, holder.submitter)
    record = HandOverRecord(tx.sender, turn, tx.key_hash)
    return replace(chain, round=chain.round.with_hand_over(record))


def apply_contest(chain: Chain, tx: Contest, now: Timestamp) -> Chain:
    """``contest``: the turn's leader marks a hand-over of its turn as not opening."""
    _require_closed_round(chain, tx.round, now)
    leader = _require_leader(chain, now)
    if tx.sender != leader.submitter:
        raise NotLeader(tx.sender, leader.submitter)
    record = _require_handed(chain, tx.submitter, now)
    if record.reopened:
        raise AlreadyReopened(tx.submitter)
    if record.contested_at is not None:
        raise AlreadyContested(tx.submitter)
    return replace(chain, round=chain.round.with_hand_over(replace(record, contested_at=now)))


def apply_reopen(chain: Chain, tx: Reopen, now: Timestamp) -> Chain:
    """``reopen``: a submitter publishes the key of its hand-over of the current turn."""
    _require_closed_round(chain, tx.round, now)
    _require_leader(chain, now)
    record = _require_handed(chain, tx.sender, now)
    if record.reopened:
        raise AlreadyReopened(tx.sender)
    if key_hash(tx.key) != record.key_hash:
        raise KeyMismatch(tx.sender)
    return replace(chain, round=chain.round.with_hand_over(replace(record, reopened=True)))


def apply_block(
    chain: Chain,
    tx: Proposal,
    now: Timestamp,
    verify: Verifier,
    verify_aggregate: AggregateVerifier,
) -> Chain:
    """``proposeBlock``: the turn's leader appends the block with a global model proven to
    reach the threshold and to be the weighted average of exactly the accepted models."""
    reg = chain.registration
    _require_closed_round(chain, tx.round, now)
    leader = _require_leader(chain, now)
    if tx.sender != leader.submitter:
        raise NotLeader(tx.sender, leader.submitter)
    if tx.parent_hash != chain.head:
        raise BadParent(tx.parent_hash, chain.head)
    if not in_field(tx.global_commitment):
        raise InvalidCommitment(tx.global_commitment)
    if tx.global_count < reg.min_count:
        raise GlobalBelowThreshold(tx.global_count, reg.min_count)
    if tx.global_count > reg.num_samples:
        raise CountAboveSamples(tx.global_count, reg.num_samples)
    tag = global_tag(reg.chain_id, reg.ledger, reg.task_id, tx.round, leader.submitter)
    if not verify(tx.proof, tx.global_commitment, tx.global_count, tag):
        raise InvalidGlobalProof()
    inputs = aggregation_inputs(chain, tx.global_commitment, tx.accepted)
    check_hand_overs(chain, tx.accepted, tx.excluded, now)
    if not verify_aggregate(tx.aggregation_proof, inputs):
        raise InvalidAggregationProof()
    model = (tx.global_commitment, tx.global_count, tx.global_cid)
    return _append(chain, _block(chain, leader.submitter, leader.count, *model, tx.accepted), now)


def skip_round(chain: Chain, tx: Skip, now: Timestamp) -> Chain:
    """``skipRound``: an empty block once no leader is left; the global model carries over."""
    reg = chain.registration
    _require_closed_round(chain, tx.round, now)
    leader = leader_at(chain, now)
    if leader is not None:
        raise RoundHasLeader(reg.task_id, tx.round, leader.submitter)
    if chain.blocks:
        last = chain.blocks[-1]
        model = (last.global_commitment, last.global_count, last.global_cid)
    else:
        model = (reg.initial_commitment, 0, reg.initial_cid)
    return _append(chain, _block(chain, ZERO_ADDRESS, 0, *model, ()), now)


# --------------------------------------------------------------------- shared checks


def _require_current(chain: Chain, round: int) -> None:
    current = len(chain.blocks)
    if round != current or chain.finished:
        raise RoundNotOpen(chain.registration.task_id, round, current)


def _require_closed(chain: Chain, now: Timestamp) -> None:
    if not is_closed(chain, now):
        raise RoundStillOpen(chain.deadline, now)


def _require_closed_round(chain: Chain, round: int, now: Timestamp) -> None:
    if round < len(chain.blocks):
        raise BlockAlreadyProposed(chain.registration.task_id, round)
    _require_current(chain, round)
    _require_closed(chain, now)


def check_hand_overs(
    chain: Chain, accepted: tuple[Address, ...], excluded: tuple[Exclusion, ...], now: Timestamp
) -> None:
    """Every hand-over of the current turn is accepted or excluded, and each exclusion
    shows why: the handed key (it hashes to the hand-over's key hash), or a contest that
    its submitter let pass without re-opening the key."""
    turn = turn_at(chain, now)
    previous = 0
    for i, exclusion in enumerate(excluded):
        address = exclusion.submitter
        if int(address, 16) <= previous:
            raise ExcludedNotSorted(i)
        previous = int(address, 16)
        if address in accepted:
            raise ExcludedAndAccepted(address)
        record = chain.round.hand_over(address)
        if record is None or record.turn != turn:
            raise NotHandedOver(address)
        if exclusion.key is not None:
            if key_hash(exclusion.key) != record.key_hash:
                raise KeyMismatch(address)
        elif (
            record.contested_at is None
            or record.reopened
            or now < record.contested_at + response_time(chain)
        ):
            raise ExclusionNotShown(address)
    listed = {*accepted, *(e.submitter for e in excluded)}
    for address in chain.registration.participants:
        record = chain.round.hand_over(address)
        if record is not None and record.turn == turn and address not in listed:
            raise HandOverLeftOut(address)


def _require_handed(chain: Chain, submitter: Address, now: Timestamp) -> HandOverRecord:
    record = chain.round.hand_over(submitter)
    if record is None or record.turn != turn_at(chain, now):
        raise NotHandedOver(submitter)
    return record


def _require_leader(chain: Chain, now: Timestamp) -> Entry:
    leader = leader_at(chain, now)
    if leader is None:
        raise NoLeaderLeft(chain.registration.task_id, chain.round.number)
    return leader


def aggregation_weights(counts: tuple[int, ...]) -> tuple[int, ...]:
    """``λ_k = floor((2^(F+1) n_k + N) / (2N))``: each count's share of ``N = Σ n_k`` with
    ``F`` fractional bits, rounded half up (``zkpot.learning.aggregate``)."""
    total = sum(counts)
    return tuple(((n << (AGGREGATION_FRAC_BITS + 1)) + total) // (2 * total) for n in counts)


def aggregation_inputs(
    chain: Chain, global_commitment: FieldElement, accepted: tuple[Address, ...]
) -> tuple[int, ...]:
    """The public inputs of a block's aggregation proof, ``[G, C_1, λ_1, ..., C_cap,
    λ_cap]``: the accepted submissions' commitments with their registered sample counts'
    weights, in the order given, then empty slots (the padding commitment, weight 0).
    The accepted list has one to ``capacity`` strictly ascending addresses, each with a
    submission in the round."""
    reg = chain.registration
    if not accepted:
        raise EmptyAggregate()
    if len(accepted) > reg.capacity:
        raise TooManyContributions(len(accepted), reg.capacity)
    previous = 0
    commitments, counts = [], []
    for i, address in enumerate(accepted):
        if int(address, 16) <= previous:
            raise AcceptedNotSorted(i)
        previous = int(address, 16)
        entry = chain.round.entry(address)
        if entry is None:
            raise NoValidSubmission(address)
        commitments.append(entry.commitment)
        counts.append(reg.sample_counts[reg.participants.index(address)])
    weights = aggregation_weights(tuple(counts))
    inputs = [global_commitment]
    for c, w in zip(commitments, weights, strict=True):
        inputs += [c, w]
    inputs += [reg.padding_commitment, 0] * (reg.capacity - len(accepted))
    return tuple(inputs)


def _block(
    chain: Chain,
    leader: Address,
    leader_count: int,
    global_commitment: FieldElement,
    global_count: int,
    global_cid: str,
    accepted: tuple[Address, ...],
) -> RoundBlock:
    reg = chain.registration
    return RoundBlock(
        task_id=reg.task_id,
        round=chain.round.number,
        parent_hash=chain.head,
        leader=leader,
        leader_count=leader_count,
        num_samples=reg.num_samples,
        global_commitment=global_commitment,
        global_count=global_count,
        global_cid=global_cid,
        accepted=accepted,
    )


def _append(chain: Chain, block: RoundBlock, now: Timestamp) -> Chain:
    """The chain with ``block`` appended; the next round opens at ``now``."""
    return Chain(chain.registration, (*chain.blocks, block), Round(block.round + 1, now))
