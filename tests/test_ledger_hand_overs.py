"""The hand-overs a block owes, on both backends: a leader accepts every submitter that
handed it a key in its turn, or excludes it by showing the key, or, after a contest that
went unanswered for the response time, without one. Proofs are real (ledger_task.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from ledger_task import (
    KEY_HASH,
    PACKAGE_KEY,
    SEALED_KEY,
    WINDOW,
    TaskRun,
    advance_to,
    assert_rejected_on_chain,
)

from zkpot.ledger import InvalidArgument, Ledger
from zkpot.ledger.model import HandOverView
from zkpot.node.status import round_summary
from zkpot.protocol import (
    AlreadyContested,
    AlreadyReopened,
    DuplicateHandOver,
    ExcludedAndAccepted,
    Exclusion,
    ExclusionNotShown,
    HandOverLeftOut,
    KeyMismatch,
    NotHandedOver,
    NotLeader,
)
from zkpot.protocol.hashes import sort_addresses
from zkpot.protocol.round import RESPONSE_DIVISOR

if TYPE_CHECKING:
    from anvil import TinyProver

RESPONSE = -(-WINDOW // RESPONSE_DIVISOR)


def _handed(ledger: Ledger, prover: TinyProver) -> tuple[TaskRun, int]:
    """Three submitters; the two below the leader hand it their keys. Returns the run and
    the time of the hand-overs."""
    run = TaskRun(ledger, prover, participants=3)
    leader, a, b = run.accounts
    run.submit(leader, 0, 9)
    run.submit(a, 0, 7)
    run.submit(b, 0, 5)  # everyone in: the round closes now
    for account in (a, b):
        ledger.hand_over(account, run.task_id, 0, leader.address, SEALED_KEY, KEY_HASH)
    return run, ledger.timestamp()


def test_a_block_accounts_for_every_hand_over(ledger: Ledger, prover: TinyProver) -> None:
    run, _ = _handed(ledger, prover)
    task, (leader, a, b) = run.task_id, run.accounts
    state = ledger.hand_over_state(task, 0, a.address)
    assert state == HandOverView(0, KEY_HASH, None, False)
    assert ledger.hand_over_state(task, 0, leader.address) is None
    assert_rejected_on_chain(
        run,
        a,
        DuplicateHandOver,
        lambda: ledger.hand_over(a, task, 0, leader.address, SEALED_KEY, KEY_HASH),
    )
    proof = run.global_proof(leader.address, 0, 7)
    error = assert_rejected_on_chain(
        run, leader, HandOverLeftOut, lambda: run.propose(leader, 0, proof)
    )
    assert error.account == a.address  # the first in registration order
    wrong = [Exclusion(a.address, bytes(31) + b"\x01"), Exclusion(b.address, PACKAGE_KEY)]
    error = assert_rejected_on_chain(
        run, leader, KeyMismatch, lambda: run.propose(leader, 0, proof, excluded=wrong)
    )
    assert error.account == a.address
    keyless = [Exclusion(a.address, None), Exclusion(b.address, PACKAGE_KEY)]
    assert_rejected_on_chain(
        run, leader, ExclusionNotShown, lambda: run.propose(leader, 0, proof, excluded=keyless)
    )
    both = sort_addresses([leader.address, a.address])
    assert_rejected_on_chain(
        run,
        leader,
        ExcludedAndAccepted,
        lambda: run.propose(
            leader, 0, proof, accepted=both, excluded=[Exclusion(a.address, PACKAGE_KEY)]
        ),
    )
    assert_rejected_on_chain(
        run,
        leader,
        NotHandedOver,
        lambda: run.propose(
            leader,
            0,
            proof,
            accepted=[a.address],
            excluded=[Exclusion(leader.address, PACKAGE_KEY), Exclusion(b.address, PACKAGE_KEY)],
        ),
    )
    with pytest.raises(InvalidArgument):  # a zero key is the keyless marker: say None
        run.propose(leader, 0, proof, excluded=[Exclusion(a.address, bytes(32))])
    shown = [Exclusion(a.address, PACKAGE_KEY)]
    proposal = run.propose(
        leader, 0, proof, accepted=sort_addresses([leader.address, b.address]), excluded=shown
    )
    assert [e.name for e in proposal.tx.events].count("Excluded") == 1
    assert ledger.exclusions(task, 0) == (Exclusion(a.address, PACKAGE_KEY),)
    assert ledger.submission(task, 0, b.address).accepted
    assert not ledger.submission(task, 0, a.address).accepted


def test_a_contest_answered_or_not(ledger: Ledger, prover: TinyProver) -> None:
    run, _ = _handed(ledger, prover)
    task, (leader, a, b) = run.task_id, run.accounts
    assert_rejected_on_chain(run, a, NotLeader, lambda: ledger.contest(a, task, 0, b.address))
    assert_rejected_on_chain(
        run, leader, NotHandedOver, lambda: ledger.contest(leader, task, 0, leader.address)
    )
    contested = ledger.contest(leader, task, 0, a.address)
    at = ledger.timestamp()
    assert contested.event("Contested").args["respondBy"] == at + RESPONSE
    assert ledger.contests(task, 0) == {a.address: at + RESPONSE}
    assert ledger.hand_over_state(task, 0, a.address).contested_at == at
    assert_rejected_on_chain(
        run, leader, AlreadyContested, lambda: ledger.contest(leader, task, 0, a.address)
    )
    ledger.contest(leader, task, 0, b.address)
    assert_rejected_on_chain(run, b, KeyMismatch, lambda: ledger.reopen(b, task, 0, bytes(32)))
    assert_rejected_on_chain(
        run, leader, NotHandedOver, lambda: ledger.reopen(leader, task, 0, PACKAGE_KEY)
    )
    with pytest.raises(InvalidArgument):
        ledger.reopen(b, task, 0, PACKAGE_KEY[:31])
    # b answers in time: its key is public; a does not.
    ledger.reopen(b, task, 0, PACKAGE_KEY)
    assert ledger.reopened_keys(task, 0) == {b.address: PACKAGE_KEY}
    assert_rejected_on_chain(
        run, b, AlreadyReopened, lambda: ledger.reopen(b, task, 0, PACKAGE_KEY)
    )
    proof = run.global_proof(leader.address, 0, 7)
    keyless = [Exclusion(a.address, None)]
    accepted = sort_addresses([leader.address, b.address])
    assert_rejected_on_chain(
        run,
        leader,
        ExclusionNotShown,
        lambda: run.propose(leader, 0, proof, accepted=accepted, excluded=keyless),
    )
    advance_to(ledger, at + RESPONSE)  # the response time is over
    both = sorted(
        [Exclusion(a.address, None), Exclusion(b.address, None)], key=lambda e: int(e.submitter, 16)
    )
    error = assert_rejected_on_chain(
        run, leader, ExclusionNotShown, lambda: run.propose(leader, 0, proof, excluded=both)
    )
    assert error.account == b.address  # re-opened: a keyless exclusion no longer stands
    run.propose(leader, 0, proof, accepted=accepted, excluded=keyless)
    assert ledger.exclusions(task, 0) == (Exclusion(a.address, None),)
    view = round_summary(ledger, task, 0, [x.address for x in run.accounts])
    assert view.handed_over == [a.address, b.address]
    assert view.contested == [a.address, b.address]
    assert view.excluded == {a.address: False}
    assert view.accepted == [leader.address, b.address]  # registration order


def test_a_block_call_with_exclusions_decodes(ledger: Ledger, prover: TinyProver) -> None:
    """A participant reads each block's call back from its transaction, exclusions too."""
    run, _ = _handed(ledger, prover)
    task, (leader, a, b) = run.task_id, run.accounts
    proof = run.global_proof(leader.address, 0, 7)
    accepted = sort_addresses([leader.address, b.address])
    run.propose(leader, 0, proof, accepted=accepted, excluded=[Exclusion(a.address, PACKAGE_KEY)])
    call = ledger.block_call(task, 0)
    assert call is not None and call.leader == leader.address
    assert call.accepted == tuple(accepted)
    assert call.excluded == ((a.address, PACKAGE_KEY),)
    assert call.global_proof == tuple(proof.words)
