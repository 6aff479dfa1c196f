"""The rules of a round, as examples against the executable specification (no chain, no
proofs: each test runs in milliseconds). test_protocol_contract.py holds the contract to
the same rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from stand_ins import stand_in_aggregate_proof, stand_in_verify_aggregate

from zkpot.ledger.errors import CONTRACT_ERRORS, ContractError, LedgerError
from zkpot.protocol import (
    AcceptedNotSorted,
    Address,
    AlreadyContested,
    AlreadyReopened,
    BadParent,
    BadSealedKey,
    BelowThreshold,
    BlockAlreadyProposed,
    Chain,
    Cid,
    Contest,
    CountAboveSamples,
    DuplicateHandOver,
    DuplicateSubmission,
    EmptyAggregate,
    ExcludedAndAccepted,
    ExcludedNotSorted,
    Exclusion,
    ExclusionNotShown,
    FieldElement,
    GlobalBelowThreshold,
    HandOver,
    HandOverLeftOut,
    HandOverRecord,
    Hash32,
    InvalidAggregationProof,
    InvalidCommitment,
    InvalidGlobalProof,
    InvalidProof,
    InvalidSubmission,
    InvalidTransaction,
    KeyMismatch,
    LateSubmission,
    NoLeaderLeft,
    NotHandedOver,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    Proposal,
    Registration,
    Reopen,
    RoundHasLeader,
    RoundNotOpen,
    RoundStillOpen,
    Skip,
    Submission,
    Timestamp,
    TooManyContributions,
    UnknownTask,
    aggregation_inputs,
    is_closed,
    leader_at,
    open_task,
    ranking,
    response_time,
    state_transition,
    turn_at,
    turn_ends,
)
from zkpot.protocol.hashes import (
    binding_tag,
    global_tag,
    key_hash,
    sort_addresses,
    tie_break_rank,
)
from zkpot.proving import FIELD_ORDER

T0 = Timestamp(1_000)
WINDOW = 100
DEADLINE = T0 + WINDOW
LEDGER = Address("0x5FbDB2315678afecb367f032d93F642f64180aa3")
A, B, C, OUTSIDER = (
    Address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    Address("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
    Address("0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
    Address("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
)
CID = Cid("bafyinitial")
#: Registered sample counts of A, B, C, and the commitment of an empty aggregation slot.
SAMPLES = (120, 80, 200)
PADDING = FieldElement(777)
#: A package key and the hash its hand-overs commit to.
KEY = bytes(range(32))
KH = key_hash(KEY)


verify_aggregate = stand_in_verify_aggregate


def verify(proof: tuple[int, ...], commitment: FieldElement, count: int, tag: FieldElement) -> bool:
    """A stand-in verifier: the "proof" is the sum of the public inputs."""
    return proof[0] == commitment + count + tag


def task(
    rounds: int = 2, participants: tuple[Address, ...] = (A, B, C), capacity: int = 3
) -> Chain:
    registration = Registration(
        chain_id=1,
        ledger=LEDGER,
        task_id=7,
        participants=participants,
        min_count=10,
        num_samples=20,
        rounds=rounds,
        window=WINDOW,
        initial_commitment=FieldElement(42),
        initial_cid=CID,
        genesis_hash=Hash32(b"\x01" * 32),
        sample_counts=SAMPLES[: len(participants)],
        capacity=capacity,
        padding_commitment=PADDING,
    )
    return open_task(registration, T0)


def submission(chain: Chain, by: Address, count: int, **change: object) -> Submission:
    """A valid submission by ``by`` (then ``change`` makes it invalid)."""
    round = len(chain.blocks)
    tag = binding_tag(1, LEDGER, 7, round, by)
    commitment = FieldElement(1234)
    proof = (commitment + count + tag, 0, 0, 0, 0, 0, 0, 0)
    tx = Submission(by, 7, round, commitment, count, Cid("bafymodel"), proof)
    return replace(tx, **change)  # type: ignore[arg-type]


def submit(chain: Chain, now: int, **counts: int) -> Chain:
    named = {"A": A, "B": B, "C": C}
    for name, count in counts.items():
        chain = state_transition(
            chain, submission(chain, named[name], count), Timestamp(now), verify, verify_aggregate
        )
    return chain


def proposal(chain: Chain, by: Address, count: int = 15, **change: object) -> Proposal:
    """A valid block proposal by ``by`` (then ``change`` makes it invalid)."""
    round = len(chain.blocks)
    tag = global_tag(1, LEDGER, 7, round, by)
    accepted = tuple(sort_addresses([e.submitter for e in chain.round.entries]))
    proof = (99 + count + tag, 0, 0, 0, 0, 0, 0, 0)
    accepted = change.pop("accepted", accepted)  # type: ignore[assignment]
    try:
        inputs = aggregation_inputs(chain, FieldElement(99), accepted)
        aggregate = stand_in_aggregate_proof(inputs)
    except InvalidTransaction:
        aggregate = (0,) * 8
    tx = Proposal(
        by, 7, round, chain.head, FieldElement(99), count, CID, accepted, proof, aggregate
    )
    return replace(tx, **change)  # type: ignore[arg-type]


def best_first(round: int, *addresses: Address) -> list[Address]:
    return sorted(addresses, key=lambda a: tie_break_rank(round, a))


# --------------------------------------------------------------------- submissions


def test_a_submission_at_the_deadline_is_late_one_second_before_is_not() -> None:
    chain = task()
    on_time = submit(chain, DEADLINE - 1, A=12)
    assert [e.submitter for e in on_time.round.entries] == [A]
    with pytest.raises(LateSubmission) as late:
        submit(chain, DEADLINE, A=12)
    assert (late.value.deadline, late.value.timestamp) == (DEADLINE, DEADLINE)


@pytest.mark.parametrize(
    ("tx", "error"),
    [
        (lambda c: submission(c, A, 12, task_id=8), UnknownTask),
        (lambda c: submission(c, A, 12, round=1), RoundNotOpen),
        (lambda c: submission(c, OUTSIDER, 12), NotRegistered),
        (lambda c: submission(c, A, 9), BelowThreshold),
        (lambda c: submission(c, A, 21), CountAboveSamples),
        (lambda c: submission(c, A, 12, proof=(0,) * 8), InvalidProof),
        (lambda c: submission(c, A, 12, commitment=FIELD_ORDER), InvalidProof),
        (lambda c: submission(c, A, 12, sender=B), InvalidProof),  # A's proof, sent by B
    ],
)
def test_each_broken_submission_rule_raises_its_own_error(tx, error) -> None:
    chain = task()
    with pytest.raises(error):
        state_transition(chain, tx(chain), Timestamp(T0 + 1), verify, verify_aggregate)


def test_the_first_rule_broken_is_reported() -> None:
    chain = submit(task(), T0 + 1, A=12)
    # A duplicate, late, below the threshold, without a proof: the duplicate comes first.
    tx = submission(chain, A, 3, proof=(0,) * 8)
    with pytest.raises(DuplicateSubmission):
        state_transition(chain, tx, Timestamp(DEADLINE + 5), verify, verify_aggregate)


def test_a_rejected_transaction_leaves_the_state_as_it_was() -> None:
    chain = submit(task(), T0 + 1, A=12)
    with pytest.raises(InvalidSubmission):
        state_transition(
            chain, submission(chain, B, 1), Timestamp(T0 + 2), verify, verify_aggregate
        )
    assert [e.submitter for e in chain.round.entries] == [A]


# --------------------------------------------------------------------- closing and turns


def test_the_round_closes_at_the_deadline_or_once_everyone_is_in() -> None:
    chain = submit(task(), T0 + 1, A=12, B=12)
    assert not is_closed(chain, Timestamp(DEADLINE - 1))
    assert is_closed(chain, Timestamp(DEADLINE))
    everyone = submit(chain, T0 + 2, C=12)
    assert is_closed(everyone, Timestamp(T0 + 3))
    # Turn 0 still lasts until one window after the deadline, however early the close.
    assert turn_at(everyone, Timestamp(T0 + 3)) == 0
    assert turn_ends(everyone, Timestamp(T0 + 3)) == DEADLINE + WINDOW


def test_the_leader_is_the_best_count_whatever_the_arrival_order() -> None:
    forwards = submit(task(), T0 + 1, A=12, B=15, C=15)
    backwards = submit(task(), T0 + 1, C=15, B=15, A=12)
    tied = best_first(0, B, C)
    for chain in (forwards, backwards):
        assert [e.submitter for e in ranking(chain.round)] == [*tied, A]
        leader = leader_at(chain, DEADLINE)
        assert leader is not None and (leader.submitter, leader.count) == (tied[0], 15)


def test_each_turn_passes_to_the_next_best_until_nobody_is_left() -> None:
    chain = submit(task(), T0 + 1, A=12, B=15, C=11)
    order = [B, A, C]
    for turn, starts in enumerate([DEADLINE, DEADLINE + WINDOW, DEADLINE + 2 * WINDOW]):
        for now in (starts, starts + WINDOW - 1):
            assert turn_at(chain, Timestamp(now)) == turn
            leader = leader_at(chain, Timestamp(now))
            assert leader is not None and leader.submitter == order[turn]
    assert leader_at(chain, Timestamp(DEADLINE + 3 * WINDOW)) is None


# --------------------------------------------------------------------- hand-over


def test_hand_over_goes_to_the_leader_of_the_turn_after_the_window() -> None:
    chain = submit(task(), T0 + 1, A=12, B=15)
    key = bytes(80)
    now = Timestamp(DEADLINE)
    handed = state_transition(chain, HandOver(A, 7, 0, B, key, KH), now, verify, verify_aggregate)
    assert handed.round.hand_over(A) == HandOverRecord(A, 0, KH)
    cases = [
        (chain, HandOver(A, 7, 0, B, key, KH), Timestamp(DEADLINE - 1), RoundStillOpen),
        (chain, HandOver(OUTSIDER, 7, 0, B, key, KH), now, NotRegistered),
        (chain, HandOver(C, 7, 0, B, key, KH), now, NoValidSubmission),
        (chain, HandOver(A, 7, 0, B, bytes(79), KH), now, BadSealedKey),
        (chain, HandOver(B, 7, 0, A, key, KH), now, NotLeader),
        (chain, HandOver(A, 7, 0, B, key, KH), Timestamp(DEADLINE + WINDOW), NotLeader),
        (chain, HandOver(A, 7, 0, B, key, KH), Timestamp(DEADLINE + 2 * WINDOW), NoLeaderLeft),
        (handed, HandOver(A, 7, 0, B, key, KH), now, DuplicateHandOver),  # once per turn
    ]
    for state, tx, at, error in cases:
        with pytest.raises(error):
            state_transition(state, tx, at, verify, verify_aggregate)


# --------------------------------------------------------------------- hand-overs owed


def handed_to_b(now: int = DEADLINE) -> Chain:
    """A (12) and C (11) handed their keys to B (15), the leader of turn 0."""
    chain = submit(task(), T0 + 1, A=12, B=15, C=11)
    for sender in (A, C):
        tx = HandOver(sender, 7, 0, B, bytes(80), KH)
        chain = state_transition(chain, tx, Timestamp(now), verify, verify_aggregate)
    return chain


def test_a_block_accounts_for_every_hand_over_of_its_turn() -> None:
    chain = handed_to_b()
    now = Timestamp(DEADLINE + 1)
    everyone = tuple(sort_addresses([A, B, C]))
    state_transition(chain, proposal(chain, B, accepted=everyone), now, verify, verify_aggregate)
    alone = proposal(chain, B, accepted=(B,))
    with pytest.raises(HandOverLeftOut) as left_out:
        state_transition(chain, alone, now, verify, verify_aggregate)
    assert left_out.value.account == A  # the first in registration order
    # Excluded with the handed key (its hash is the hand-over's): the block stands.
    shown = (Exclusion(A, KEY), Exclusion(C, KEY))
    shown = tuple(sorted(shown, key=lambda e: int(e.submitter, 16)))
    state_transition(chain, replace(alone, excluded=shown), now, verify, verify_aggregate)
    others = tuple(sort_addresses([A, C]))
    cases = [
        ((B,), (Exclusion(A, bytes(32)), Exclusion(C, KEY)), KeyMismatch),
        ((B,), shown[::-1], ExcludedNotSorted),
        (others, (Exclusion(B, KEY),), NotHandedOver),  # the leader handed nothing to itself
        ((B,), (Exclusion(A, None), Exclusion(C, None)), ExclusionNotShown),  # not contested
    ]
    for accepted, excluded, error in cases:
        if error is not ExcludedNotSorted:
            excluded = tuple(sorted(excluded, key=lambda e: int(e.submitter, 16)))
        tx = replace(proposal(chain, B, accepted=accepted), excluded=excluded)
        with pytest.raises(error):
            state_transition(chain, tx, now, verify, verify_aggregate)
    both = replace(proposal(chain, B, accepted=everyone), excluded=(Exclusion(A, KEY),))
    with pytest.raises(ExcludedAndAccepted):
        state_transition(chain, both, now, verify, verify_aggregate)


def test_a_contest_unanswered_for_its_response_time_allows_a_keyless_exclusion() -> None:
    chain = handed_to_b()
    at = Timestamp(DEADLINE + 2)
    contested = state_transition(chain, Contest(B, 7, 0, A), at, verify, verify_aggregate)
    assert contested.round.hand_over(A).contested_at == at
    ends = at + response_time(chain)
    assert response_time(chain) == WINDOW // 4
    keyless = replace(
        proposal(contested, B, accepted=tuple(sort_addresses([B, C]))),
        excluded=(Exclusion(A, None),),
    )
    with pytest.raises(ExclusionNotShown):
        state_transition(contested, keyless, Timestamp(ends - 1), verify, verify_aggregate)
    state_transition(contested, keyless, Timestamp(ends), verify, verify_aggregate)
    # Re-opened in time: the keyless exclusion no longer stands; the key does.
    reopened = state_transition(
        contested, Reopen(A, 7, 0, KEY), Timestamp(ends - 1), verify, verify_aggregate
    )
    with pytest.raises(ExclusionNotShown):
        state_transition(reopened, keyless, Timestamp(ends), verify, verify_aggregate)
    shown = replace(keyless, excluded=(Exclusion(A, KEY),))
    state_transition(reopened, shown, Timestamp(ends), verify, verify_aggregate)


def test_contest_and_reopen_rules() -> None:
    chain = handed_to_b()
    now = Timestamp(DEADLINE + 2)
    contested = state_transition(chain, Contest(B, 7, 0, A), now, verify, verify_aggregate)
    reopened = state_transition(contested, Reopen(A, 7, 0, KEY), now, verify, verify_aggregate)
    open_round = submit(task(), T0 + 1, A=12, B=15)
    cases = [
        (chain, Contest(A, 7, 0, C), now, NotLeader),
        (chain, Contest(B, 7, 0, B), now, NotHandedOver),
        (open_round, Contest(B, 7, 0, A), Timestamp(DEADLINE - 1), RoundStillOpen),
        (chain, Contest(B, 7, 0, A), Timestamp(DEADLINE + WINDOW), NotLeader),  # A's turn
        (contested, Contest(B, 7, 0, A), now, AlreadyContested),
        (reopened, Contest(B, 7, 0, A), now, AlreadyReopened),
        (chain, Reopen(A, 7, 0, bytes(32)), now, KeyMismatch),
        (chain, Reopen(B, 7, 0, KEY), now, NotHandedOver),
        (reopened, Reopen(A, 7, 0, KEY), now, AlreadyReopened),
        (chain, Reopen(A, 7, 0, KEY), Timestamp(DEADLINE + WINDOW), NotHandedOver),  # new turn
        (chain, Reopen(A, 7, 1, KEY), now, RoundNotOpen),
    ]
    for state, tx, at, error in cases:
        with pytest.raises(error):
            state_transition(state, tx, at, verify, verify_aggregate)
    # A hand-over of an earlier turn is owed to nobody now.
    later = Timestamp(DEADLINE + WINDOW)
    a_leads = proposal(chain, A, accepted=(A,))
    state_transition(chain, a_leads, later, verify, verify_aggregate)


# --------------------------------------------------------------------- blocks


def test_the_leader_appends_a_block_and_the_next_round_opens() -> None:
    chain = submit(task(), T0 + 1, A=12, B=15)
    now = Timestamp(DEADLINE + 3)
    after = state_transition(chain, proposal(chain, B), now, verify, verify_aggregate)
    block = after.blocks[0]
    assert (block.round, block.leader, block.leader_count, block.global_count) == (0, B, 15, 15)
    assert block.parent_hash == chain.head and after.head == block.hash
    assert block.accepted == tuple(sort_addresses([A, B]))
    assert (after.round.number, after.round.opened_at, after.round.entries) == (1, now, ())
    with pytest.raises(BlockAlreadyProposed):
        state_transition(after, proposal(chain, B), now, verify, verify_aggregate)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"sender": A}, NotLeader),
        ({"parent_hash": Hash32(bytes(32))}, BadParent),
        ({"global_commitment": FieldElement(FIELD_ORDER)}, InvalidCommitment),
        ({"global_count": 9}, GlobalBelowThreshold),
        ({"global_count": 21}, CountAboveSamples),
        ({"proof": (0,) * 8}, InvalidGlobalProof),
        ({"accepted": (A, A)}, AcceptedNotSorted),
        ({"accepted": (C,)}, NoValidSubmission),
        ({"accepted": ()}, EmptyAggregate),
        ({"aggregation_proof": (0,) * 8}, InvalidAggregationProof),
    ],
)
def test_each_broken_block_rule_raises_its_own_error(change, error) -> None:
    chain = submit(task(), T0 + 1, A=12, B=15)
    with pytest.raises(error):
        state_transition(
            chain, proposal(chain, B, **change), Timestamp(DEADLINE), verify, verify_aggregate
        )


def test_no_block_while_the_round_is_open() -> None:
    chain = submit(task(), T0 + 1, A=12, B=15)
    with pytest.raises(RoundStillOpen):
        state_transition(
            chain, proposal(chain, B), Timestamp(DEADLINE - 1), verify, verify_aggregate
        )


def test_a_round_is_skipped_only_once_no_leader_is_left() -> None:
    chain = submit(task(), T0 + 1, A=12)
    with pytest.raises(RoundHasLeader):
        state_transition(chain, Skip(OUTSIDER, 7, 0), Timestamp(DEADLINE), verify, verify_aggregate)
    after = state_transition(
        chain, Skip(OUTSIDER, 7, 0), Timestamp(DEADLINE + WINDOW), verify, verify_aggregate
    )
    block = after.blocks[0]
    assert block.skipped and block.accepted == () and block.leader_count == 0
    assert (block.global_commitment, block.global_count, block.global_cid) == (42, 0, CID)


def test_a_skipped_round_carries_the_previous_global_model_over() -> None:
    chain = submit(task(), T0 + 1, A=12)
    chain = state_transition(
        chain, proposal(chain, A, 13), Timestamp(DEADLINE), verify, verify_aggregate
    )
    nobody = Timestamp(DEADLINE + WINDOW)  # round 1 opened at DEADLINE, nobody submitted
    skipped = state_transition(chain, Skip(B, 7, 1), nobody, verify, verify_aggregate)
    previous, block = skipped.blocks
    assert block.parent_hash == previous.hash
    assert (block.global_commitment, block.global_count, block.global_cid) == (
        previous.global_commitment,
        13,
        previous.global_cid,
    )
    assert skipped.finished
    with pytest.raises(RoundNotOpen):
        state_transition(skipped, submission(skipped, A, 12), nobody, verify, verify_aggregate)


# --------------------------------------------------------------------- errors


def test_one_except_catches_a_rule_broken_in_python_or_on_chain() -> None:
    on_chain = CONTRACT_ERRORS["BelowThreshold"](3, 10)
    assert isinstance(on_chain, BelowThreshold)
    assert isinstance(on_chain, InvalidSubmission) and isinstance(on_chain, LedgerError)
    assert (on_chain.count, on_chain.min_count) == (3, 10)
    in_python = BelowThreshold(3, 10)
    assert str(in_python) == str(on_chain) == "BelowThreshold(count=3, minCount=10)"
    for name, cls in CONTRACT_ERRORS.items():
        assert cls.__name__ == name and issubclass(cls, ContractError | InvalidTransaction)


def test_the_aggregation_statement_weighs_the_registered_counts_and_pads_empty_slots() -> None:
    chain = submit(task(), T0 + 1, A=12, B=15)
    entries = {e.submitter: e.commitment for e in chain.round.entries}
    accepted = tuple(sort_addresses([A, B]))
    inputs = aggregation_inputs(chain, FieldElement(99), accepted)
    counts = {A: 120, B: 80}
    total = 200
    expected = [99]
    for a in accepted:
        expected += [entries[a], ((counts[a] << 15) + total) // (2 * total)]
    assert inputs == (*expected, PADDING, 0)
    # Only the leader: it weighs 2^14, the whole.
    assert aggregation_inputs(chain, FieldElement(99), (B,))[1:3] == (entries[B], 2**14)


def test_a_block_aggregates_at_most_the_tasks_capacity() -> None:
    chain = submit(task(capacity=1), T0 + 1, A=12, B=15)
    accepted = tuple(sort_addresses([A, B]))
    with pytest.raises(TooManyContributions):
        state_transition(
            chain,
            proposal(chain, B, accepted=accepted),
            Timestamp(DEADLINE),
            verify,
            verify_aggregate,
        )
    after = state_transition(
        chain, proposal(chain, B, accepted=(B,)), Timestamp(DEADLINE), verify, verify_aggregate
    )
    assert after.blocks[0].accepted == (B,)
