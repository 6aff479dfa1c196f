"""The specification and the contract agree at every boundary of a round: a table of
cases, each a sequence of transactions mined at exact times (relative to the deadline),
run against both ``ZKPoT.sol`` (in-process EVM, stand-in verifier) and
:func:`zkpot.protocol.state_transition`. Each step states the outcome it expects, and both
must give exactly it (the same error with the same arguments, or success)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils import keccak
from stand_ins import (
    deploy_stand_in_aggregator,
    stand_in_aggregate_proof,
    stand_in_proof,
    stand_in_verify,
    stand_in_verify_aggregate,
)
from test_protocol_contract import CID, GAS, NUM_SAMPLES, world

from zkpot.ledger import ContractError, Member, TaskParams
from zkpot.protocol import (
    Address,
    Contest,
    Exclusion,
    FieldElement,
    HandOver,
    Hash32,
    InvalidTransaction,
    Proposal,
    Registration,
    Reopen,
    Skip,
    Submission,
    Timestamp,
    aggregation_inputs,
    open_task,
    state_transition,
    turn_at,
)
from zkpot.protocol.hashes import (
    binding_tag,
    genesis_hash,
    global_tag,
    key_hash,
    sort_addresses,
)

WINDOW = 10
MIN_COUNT = 3
MEMBERS = 3  # A, B, C
#: The package key of every hand-over, and the hash they commit to it by.
KEY = bytes(range(32))
KEY_HASH = key_hash(KEY)


@dataclass(frozen=True)
class Step:
    """``what`` by member ``who`` mined at ``deadline + at``; ``expect`` is the error's
    name, or None for success. ``arg`` is the count (submit, propose) or the leader
    index (hand over)."""

    at: int
    who: int
    what: str
    arg: int = 0
    expect: str | None = None
    round: int | None = None  # the current round unless named


def submit(at: int, who: int, count: int, expect: str | None = None) -> Step:
    return Step(at, who, "submit", count, expect)


def hand_over(at: int, who: int, leader: int, expect: str | None = None) -> Step:
    return Step(at, who, "handOver", leader, expect)


def contest(at: int, who: int, submitter: int, expect: str | None = None) -> Step:
    return Step(at, who, "contest", submitter, expect)


def reopen(at: int, who: int, expect: str | None = None) -> Step:
    return Step(at, who, "reopen", 0, expect)


def propose(at: int, who: int, expect: str | None = None) -> Step:
    return Step(at, who, "proposeBlock", MIN_COUNT, expect)


def skip(at: int, expect: str | None = None) -> Step:
    return Step(at, 0, "skipRound", 0, expect)


W = WINDOW
CASES: dict[str, list[Step]] = {
    # deadline: open strictly before it
    "submit one second before the deadline": [submit(-1, 0, 10)],
    "submit at the deadline": [submit(0, 0, 10, "LateSubmission")],
    "submit after the deadline": [submit(1, 0, 10, "LateSubmission")],
    "submit right after the opening": [submit(-W + 1, 0, 10)],
    # counts: min_count <= count <= num_samples
    "count at the threshold": [submit(-1, 0, MIN_COUNT)],
    "count below the threshold": [submit(-1, 0, MIN_COUNT - 1, "BelowThreshold")],
    "count of every sample": [submit(-1, 0, NUM_SAMPLES)],
    "count above the samples": [submit(-1, 0, NUM_SAMPLES + 1, "CountAboveSamples")],
    "count at uint32 max": [submit(-1, 0, 2**32 - 1, "CountAboveSamples")],
    "a second submission": [submit(-3, 0, 10), submit(-2, 0, 11, "DuplicateSubmission")],
    "a duplicate after the deadline": [submit(-3, 0, 10), submit(0, 0, 11, "DuplicateSubmission")],
    # everyone in closes the window early
    "all in closes the round": [
        submit(-5, 0, 10),
        submit(-4, 1, 11),
        submit(-3, 2, 12),
        hand_over(-2, 0, 2),
        propose(-1, 2),
    ],
    "hand over while open": [submit(-3, 0, 10), hand_over(-1, 0, 0, "RoundStillOpen")],
    "propose while open": [submit(-3, 0, 10), propose(-1, 0, "RoundStillOpen")],
    # turns: turn 0 until deadline + window, turn k on [deadline + kW, deadline + (k+1)W)
    "turn 0 at the deadline": [submit(-3, 0, 20), submit(-2, 1, 10), hand_over(0, 1, 0)],
    "turn 0 to its last second": [
        submit(-3, 0, 20),
        submit(-2, 1, 10),
        hand_over(W - 2, 1, 0),
        propose(W - 1, 0),
    ],
    "turn 1 begins one window after the deadline": [
        submit(-3, 0, 20),
        submit(-2, 1, 10),
        hand_over(W, 1, 0, "NotLeader"),
        propose(W + 1, 0, "NotLeader"),
        hand_over(W + 2, 0, 1),
        propose(W + 3, 1),
    ],
    "turn 1 to its last second": [
        submit(-3, 0, 20),
        submit(-2, 1, 10),
        propose(2 * W - 1, 1),
    ],
    "no leader left after the last turn": [
        submit(-3, 0, 20),
        submit(-2, 1, 10),
        skip(2 * W - 1, "RoundHasLeader"),
        propose(2 * W, 1, "NoLeaderLeft"),
        hand_over(2 * W + 1, 0, 1, "NoLeaderLeft"),
        skip(2 * W + 2),
    ],
    "equal counts: the tie-break decides": [
        submit(-3, 0, 15),
        submit(-2, 1, 15),
        # whichever ranks first leads turn 0: exactly one of these names the leader
        hand_over(0, 1, 0, "?"),
        hand_over(1, 0, 1, "?"),
    ],
    "an empty round is skipped at the deadline": [
        skip(-1, "RoundStillOpen"),
        skip(0),
    ],
    "after the block the round is finalized": [
        submit(-3, 0, 20),
        propose(0, 0),
        Step(1, 1, "submit", 10, "RoundNotOpen", round=0),
        Step(2, 0, "skipRound", 0, "BlockAlreadyProposed", round=0),
        Step(3, 0, "submit", 10, "RoundNotOpen", round=2),
        submit(W - 1, 1, 10),
        submit(W, 2, 10, "LateSubmission"),
    ],
    "a non-submitter cannot hand over": [
        submit(-3, 0, 20),
        hand_over(0, 1, 0, "NoValidSubmission"),
    ],
    # a contested submitter has ceil(W / 4) = 3 seconds to re-open its key
    "a keyless exclusion waits out the response time": [
        submit(-5, 0, 20),
        submit(-4, 1, 10),
        hand_over(0, 1, 0),
        contest(1, 0, 1),
        propose(3, 0, "ExclusionNotShown"),
        propose(4, 0),
    ],
    "a key re-opened at the last second keeps its submission in": [
        submit(-5, 0, 20),
        submit(-4, 1, 10),
        hand_over(0, 1, 0),
        contest(1, 0, 1),
        reopen(3, 1),
        propose(4, 0, "ExclusionNotShown"),
    ],
    "a key re-opened after the response time still counts": [
        submit(-5, 0, 20),
        submit(-4, 1, 10),
        hand_over(0, 1, 0),
        contest(1, 0, 1),
        reopen(4, 1),
        propose(5, 0, "ExclusionNotShown"),
    ],
    "a hand-over to the next turn's leader is owed by that leader only": [
        submit(-5, 0, 20),
        submit(-4, 1, 10),
        hand_over(0, 1, 0),
        contest(W, 0, 1, "NotLeader"),
        hand_over(W + 1, 0, 1),
        contest(W + 2, 1, 0),
        reopen(W + 3, 1, "NotHandedOver"),
        propose(W + 5, 1),
    ],
}


def _register():
    w = world()
    ledger = w.ledger
    members = w.accounts[:MEMBERS]
    params = TaskParams(
        verifier=w.verifier,
        test_set_hash=keccak(text="test set"),
        test_set_cid=CID,
        model_spec_hash=keccak(text="spec"),
        min_count=MIN_COUNT,
        num_samples=NUM_SAMPLES,
        rounds=2,
        window=WINDOW,
        initial_commitment=7,
        initial_cid=CID,
        participants=tuple(
            Member(a.address, keccak(text=f"x25519 {i}"), 10 + i) for i, a in enumerate(members)
        ),
        aggregator=deploy_stand_in_aggregator(ledger, MEMBERS),
        padding_commitment=11,
    )
    task_id = ledger.register_task(w.publisher, params)
    now = Timestamp(ledger.timestamp())
    registration = Registration(
        chain_id=ledger.chain_id,
        ledger=Address(ledger.address),
        task_id=task_id,
        participants=tuple(Address(a.address) for a in members),
        min_count=MIN_COUNT,
        num_samples=NUM_SAMPLES,
        rounds=2,
        window=WINDOW,
        initial_commitment=FieldElement(7),
        initial_cid=CID,
        genesis_hash=genesis_hash(
            ledger.chain_id, ledger.address, task_id, w.publisher.address, params.to_abi()
        ),
        sample_counts=tuple(m.samples for m in params.participants),
        capacity=MEMBERS,
        padding_commitment=FieldElement(11),
    )
    return ledger, members, task_id, open_task(registration, now)


def _transaction(step: Step, chain, members, task_id, at: int):
    """The spec's transaction and the contract call's arguments for ``step``."""
    sender = members[step.who]
    me = Address(sender.address)
    reg = chain.registration
    round = len(chain.blocks) if step.round is None else step.round
    if step.what == "submit":
        tag = binding_tag(reg.chain_id, reg.ledger, task_id, round, me)
        proof = stand_in_proof(5, step.arg, tag)
        tx = Submission(me, task_id, round, FieldElement(5), step.arg, CID, proof)
        return tx, (task_id, round, 5, step.arg, CID, list(proof))
    if step.what == "handOver":
        leader = Address(members[step.arg].address)
        return HandOver(me, task_id, round, leader, bytes(80), KEY_HASH), (
            task_id,
            round,
            leader,
            bytes(80),
            KEY_HASH,
        )
    if step.what == "contest":
        submitter = Address(members[step.arg].address)
        return Contest(me, task_id, round, submitter), (task_id, round, submitter)
    if step.what == "reopen":
        return Reopen(me, task_id, round, KEY), (task_id, round, KEY)
    if step.what == "proposeBlock":
        tag = global_tag(reg.chain_id, reg.ledger, task_id, round, me)
        proof = stand_in_proof(9, step.arg, tag)
        # The leader accepts itself and every uncontested hand-over of the turn, and
        # excludes each contested one without its key.
        turn = turn_at(chain, Timestamp(at))
        owed = [h for h in chain.round.hand_overs if h.turn == turn]
        accepted = tuple(
            sort_addresses(
                ([me] if chain.round.entry(me) is not None else [])
                + [h.submitter for h in owed if h.contested_at is None]
            )
        )
        excluded = tuple(
            Exclusion(h.submitter, None)
            for h in sorted(owed, key=lambda h: int(h.submitter, 16))
            if h.contested_at is not None
        )
        try:
            aggregate = stand_in_aggregate_proof(
                aggregation_inputs(chain, FieldElement(9), accepted)
            )
        except InvalidTransaction:
            aggregate = (0,) * 8
        tx = Proposal(
            me,
            task_id,
            round,
            Hash32(chain.head),
            FieldElement(9),
            step.arg,
            CID,
            accepted,
            proof,
            aggregate,
            excluded,
        )
        shown = [(e.submitter, bytes(32)) for e in excluded]
        args = (task_id, round, chain.head, 9, step.arg, CID, list(accepted), shown, list(proof))
        return tx, (*args, list(aggregate))
    return Skip(me, task_id, round), (task_id, round)


@pytest.mark.parametrize("name", list(CASES))
def test_spec_and_contract_agree_at_the_boundary(name: str) -> None:
    ledger, members, task_id, chain = _register()
    outcomes = []
    deadline = chain.deadline  # of round 0: every step's time is relative to it
    for step in CASES[name]:
        at = deadline + step.at
        gap = at - ledger.timestamp()
        assert gap >= 1, "steps must be in time order"
        if gap > 1:
            ledger.advance_time(gap - 1)
        tx, args = _transaction(step, chain, members, task_id, at)
        try:
            after = state_transition(
                chain, tx, Timestamp(at), stand_in_verify, stand_in_verify_aggregate
            )
            expected = None
        except InvalidTransaction as error:
            after, expected = chain, error
        try:
            ledger.transact(members[step.who], step.what, *args, gas=GAS)
            outcome = None
        except ContractError as error:
            outcome = error
        assert ledger.timestamp() == at
        spec_says = type(expected).__name__ if expected else None
        contract_says = type(outcome).__name__ if outcome else None
        assert spec_says == contract_says, (step, spec_says, contract_says)
        if expected is not None:
            assert outcome is not None and outcome.values == expected.values
        if step.expect != "?":
            assert spec_says == step.expect, (step, spec_says)
        outcomes.append(spec_says)
        chain = after
    if name == "equal counts: the tie-break decides":
        assert sorted(outcomes[2:], key=str) == [None, "NotLeader"]
