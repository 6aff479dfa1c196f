"""Leader turns and skipped rounds on both backends: the next-best submitter leads once a
turn passes, and a round is skipped once no leader is left or nobody submitted. Proofs are
real (ledger_task.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from ledger_task import (
    CID,
    KEY_HASH,
    SEALED_KEY,
    WINDOW,
    ZERO_ADDRESS,
    TaskRun,
    advance_to,
    assert_rejected_on_chain,
)

from zkpot.ledger import Leader, Ledger, RoundStatus
from zkpot.protocol import (
    BlockAlreadyProposed,
    NoLeaderLeft,
    NotLeader,
    RoundHasLeader,
    RoundStillOpen,
)
from zkpot.protocol.hashes import block_hash, sort_addresses

if TYPE_CHECKING:
    from anvil import TinyProver

# ---------------------------------------------------------------------------- leader turns


def test_second_best_leads_once_the_first_turn_passes(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=3)
    task = run.task_id
    first, second = run.accounts[:2]
    run.submit(first, 0, 9)
    run.submit(second, 0, 7)
    deadline = ledger.round_state(task, 0).deadline
    advance_to(ledger, deadline + WINDOW // 2)  # closed, still the first turn
    state = ledger.round_state(task, 0)
    assert (state.status, state.turn, state.turn_ends) == (RoundStatus.CLOSED, 0, deadline + WINDOW)
    assert (state.leader, state.best_count) == (first.address, 9)
    ledger.hand_over(second, task, 0, first.address, SEALED_KEY, KEY_HASH)
    late = run.global_proof(first.address, 0, 9)  # the first leader's valid, late, proof

    advance_to(ledger, deadline + WINDOW + WINDOW // 2)
    assert ledger.leader_of(task, 0) == Leader(second.address, 7)
    state = ledger.round_state(task, 0)
    assert (state.status, state.turn, state.turn_ends) == (
        RoundStatus.CLOSED,
        1,
        deadline + 2 * WINDOW,
    )
    assert (state.leader, state.best_count) == (second.address, 7)
    error = assert_rejected_on_chain(run, first, NotLeader, lambda: run.propose(first, 0, late))
    assert (error.sender, error.leader) == (first.address, second.address)
    # Keys go to the current leader only.
    error = assert_rejected_on_chain(
        run,
        second,
        NotLeader,
        lambda: ledger.hand_over(second, task, 0, first.address, SEALED_KEY, KEY_HASH),
    )
    assert (error.sender, error.leader) == (first.address, second.address)
    other_key = SEALED_KEY[::-1]
    handed = ledger.hand_over(first, task, 0, second.address, other_key, KEY_HASH)
    assert handed.event("HandedOver").args["leader"] == second.address
    assert ledger.handovers(task, 0, leader=first.address) == {second.address: SEALED_KEY}
    assert ledger.handovers(task, 0, leader=second.address) == {first.address: other_key}
    error = assert_rejected_on_chain(
        run, run.outsider, RoundHasLeader, lambda: ledger.skip_round(run.outsider, task, 0)
    )
    assert error.leader == second.address

    proof = run.global_proof(second.address, 0, 9)  # the aggregate may beat its leader
    accepted = sort_addresses([first.address, second.address])
    genesis = ledger.genesis_hash(task)
    proposal = run.propose(second, 0, proof, accepted=accepted)
    assert proposal.block_hash == block_hash(
        task, 0, genesis, second.address, 7, proof.commitment, 9, CID, accepted
    )
    block = ledger.round_block(task, 0)
    assert block is not None
    assert (block.leader, block.leader_count, block.global_count) == (second.address, 7, 9)
    assert ledger.leader_of(task, 0) == Leader(second.address, 7)
    state = ledger.round_state(task, 0)
    assert (state.status, state.leader, state.best_count) == (
        RoundStatus.FINALIZED,
        second.address,
        7,
    )
    assert ledger.round_state(task, 1).status is RoundStatus.OPEN


def test_third_best_leads_the_third_turn(ledger: Ledger, prover: TinyProver) -> None:
    """Turns follow the leader order, ties included: count, then the tie-break rank."""
    run = TaskRun(ledger, prover, participants=3)
    task = run.task_id
    counts = dict(zip((a.address for a in run.accounts), [7, 9, 7], strict=True))
    for account in run.accounts:  # all three: the window closes early
        run.submit(account, 0, counts[account.address])
    ranking = run.ranking(0, counts)
    assert ranking[0] == run.accounts[1].address
    state = ledger.round_state(task, 0)
    deadline = state.deadline
    assert (state.status, state.turn, state.turn_ends) == (RoundStatus.CLOSED, 0, deadline + WINDOW)
    for turn in (0, 1, 2):
        if turn:
            advance_to(ledger, deadline + turn * WINDOW + WINDOW // 2)
        assert ledger.leader_of(task, 0) == Leader(ranking[turn], counts[ranking[turn]])
        state = ledger.round_state(task, 0)
        assert (state.turn, state.turn_ends, state.leader) == (
            turn,
            deadline + (turn + 1) * WINDOW,
            ranking[turn],
        )

    second, third = run.account(ranking[1]), run.account(ranking[2])
    proof = run.global_proof(second.address, 0, 7)
    error = assert_rejected_on_chain(run, second, NotLeader, lambda: run.propose(second, 0, proof))
    assert (error.sender, error.leader) == (second.address, third.address)
    proof = run.global_proof(third.address, 0, 7)
    run.propose(third, 0, proof, accepted=ranking)
    assert ledger.leader_of(task, 0) == Leader(third.address, 7)


# ---------------------------------------------------------------------------- skipped rounds


def test_round_is_skipped_once_every_turn_has_passed(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=2, rounds=3)
    task = run.task_id
    first, second = run.accounts
    run.submit(first, 0, 9)
    ledger.advance_time(WINDOW)
    proof = run.global_proof(first.address, 0, 7)
    previous = run.propose(first, 0, proof, cid="bafyglobal0").block_hash

    run.submit(first, 1, 5)
    run.submit(second, 1, 9)
    deadline = ledger.round_state(task, 1).deadline
    error = assert_rejected_on_chain(
        run, run.outsider, RoundHasLeader, lambda: ledger.skip_round(run.outsider, task, 1)
    )
    assert (error.round, error.leader) == (1, second.address)
    advance_to(ledger, deadline + 2 * WINDOW + WINDOW // 2)  # turn 2: both turns passed
    state = ledger.round_state(task, 1)
    assert (state.status, state.turn, state.leader, state.best_count) == (
        RoundStatus.CLOSED,
        2,
        None,
        0,
    )
    with pytest.raises(NoLeaderLeft):
        ledger.leader_of(task, 1)
    error = assert_rejected_on_chain(
        run,
        first,
        NoLeaderLeft,
        lambda: ledger.hand_over(first, task, 1, second.address, SEALED_KEY, KEY_HASH),
    )
    assert (error.task_id, error.round) == (task, 1)
    late = run.global_proof(second.address, 1, 9)
    assert_rejected_on_chain(run, second, NoLeaderLeft, lambda: run.propose(second, 1, late))

    skipped = ledger.skip_round(run.outsider, task, 1)  # anyone, even an unregistered account
    expected = block_hash(
        task, 1, previous, ZERO_ADDRESS, 0, proof.commitment, 7, "bafyglobal0", []
    )
    assert skipped.block_hash == expected == ledger.block_hash(task, 1)
    assert [e.name for e in skipped.tx.events] == ["BlockProposed", "RoundOpened"]
    event = skipped.tx.event("BlockProposed").args
    assert (event["leader"], event["leaderCount"], event["globalCount"]) == (ZERO_ADDRESS, 0, 7)
    assert (event["parentHash"], list(event["accepted"])) == (previous, [])
    block = ledger.round_block(task, 1)
    assert block is not None
    assert (block.global_commitment, block.global_cid, block.global_count) == (
        proof.commitment,
        "bafyglobal0",
        7,
    )
    assert (block.leader, block.leader_count) == (None, 0)
    assert ledger.leader_of(task, 1) == Leader(ZERO_ADDRESS, 0)
    state = ledger.round_state(task, 1)
    assert (state.status, state.leader, state.block_hash) == (RoundStatus.FINALIZED, None, expected)
    assert ledger.head(task).block_hash == expected and ledger.head(task).next_round == 2
    assert ledger.round_state(task, 2).status is RoundStatus.OPEN
    for account in run.accounts:
        submission = ledger.submission(task, 1, account.address)
        assert submission is not None and not submission.accepted


def test_round_nobody_submitted_to_is_skipped_after_its_deadline(
    ledger: Ledger, prover: TinyProver
) -> None:
    run = TaskRun(ledger, prover, rounds=1)
    task = run.task_id
    deadline = ledger.round_state(task, 0).deadline
    error = assert_rejected_on_chain(
        run, run.outsider, RoundStillOpen, lambda: ledger.skip_round(run.outsider, task, 0)
    )
    assert error.deadline == deadline
    ledger.advance_time(WINDOW)
    skipped = ledger.skip_round(run.outsider, task, 0)
    genesis = ledger.genesis_hash(task)
    params = run.params
    expected = block_hash(
        task, 0, genesis, ZERO_ADDRESS, 0, params.initial_commitment, 0, params.initial_cid, []
    )
    assert skipped.block_hash == expected == ledger.block_hash(task, 0)
    assert [e.name for e in skipped.tx.events] == ["BlockProposed", "TaskFinished"]
    block = ledger.round_block(task, 0)
    assert block is not None
    assert (block.global_commitment, block.global_cid, block.global_count) == (
        params.initial_commitment,
        params.initial_cid,
        0,
    )
    assert (block.leader, block.leader_count) == (None, 0)
    assert ledger.task(task).finished
    assert ledger.head(task).block_hash == expected and ledger.head(task).next_round == 1
    assert_rejected_on_chain(
        run, run.outsider, BlockAlreadyProposed, lambda: ledger.skip_round(run.outsider, task, 0)
    )
