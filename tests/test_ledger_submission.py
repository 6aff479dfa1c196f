"""The ZKPoT transaction on both backends: a full round, the leader it elects, and every
way a submission is refused (each sent as a mined transaction that changes nothing).
Proofs are real (ledger_task.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zkpot.ledger import Leader, Ledger, RoundStatus
from zkpot.ledger.ledger import SUBMIT_GAS
from zkpot.protocol import (
    BelowThreshold,
    CountAboveSamples,
    DuplicateSubmission,
    InvalidProof,
    LateSubmission,
    NotLeader,
    NotRegistered,
    RoundNotOpen,
    RoundStillOpen,
    UnknownTask,
)
from zkpot.protocol.hashes import BASE_FIELD, binding_tag, block_hash, sort_addresses
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver
from ledger_task import CID, GAS_BUDGET, WINDOW, Proof, TaskRun, assert_rejected_on_chain

# ---------------------------------------------------------------------------- a full round


def test_full_round(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=5, rounds=2)
    task = run.task_id
    counts = dict(zip((a.address for a in run.accounts), [7, 9, 5, 9, 9], strict=True))
    assert ledger.round_state(task, 0).status is RoundStatus.OPEN
    with pytest.raises(RoundStillOpen):
        ledger.leader_of(task, 0)

    for i, account in enumerate(run.accounts):
        result = run.submit(account, 0, counts[account.address])
        assert result.gas_used <= GAS_BUDGET
        submitted = result.event("Submitted").args
        assert (submitted["submitter"], submitted["count"]) == (
            account.address,
            counts[account.address],
        )
        assert submitted["modelCid"] == CID
        state = ledger.round_state(task, 0)
        assert state.submitted == i + 1
        if i < 4:
            assert state.status is RoundStatus.OPEN
            assert [e.name for e in result.events] == ["Submitted"]
            with pytest.raises(RoundStillOpen):
                ledger.leader_of(task, 0)

    # The last participant closes the window early.
    assert [e.name for e in result.events] == ["Submitted", "RoundClosed"]
    leader = ledger.leader_of(task, 0)
    assert leader.count == 9
    assert leader.address == run.expected_leader(0, counts)
    assert result.event("RoundClosed").args["leader"] == leader.address
    state = ledger.round_state(task, 0)
    assert (state.status, state.leader, state.best_count) == (
        RoundStatus.CLOSED,
        leader.address,
        9,
    )

    genesis = ledger.genesis_hash(task)
    accepted = [a.address for a in run.accounts if counts[a.address] >= 7]
    non_leader = next(a for a in run.accounts if a.address != leader.address)
    # Even with a valid global proof of its own, a non-leader may not propose.
    foreign = run.global_proof(non_leader.address, 0, 7)
    assert_rejected_on_chain(
        run,
        non_leader,
        NotLeader,
        lambda: run.propose(non_leader, 0, foreign, parent=genesis, accepted=accepted),
    )

    proof = run.global_proof(leader.address, 0, 7)
    proposal = run.propose(
        run.account(leader.address), 0, proof, parent=genesis, cid="bafyglobal0", accepted=accepted
    )
    expected = block_hash(
        task,
        0,
        genesis,
        leader.address,
        9,
        proof.commitment,
        7,
        "bafyglobal0",
        sort_addresses(accepted),
    )
    assert proposal.block_hash == expected
    assert [e.name for e in proposal.tx.events] == ["BlockProposed", "RoundOpened"]
    event = proposal.tx.event("BlockProposed").args
    assert event["parentHash"] == genesis and event["leaderCount"] == 9
    assert (event["leader"], event["globalCount"]) == (leader.address, 7)
    assert list(event["accepted"]) == sort_addresses(accepted)
    assert ledger.block_hash(task, 0) == expected
    block = ledger.round_block(task, 0)
    assert block is not None
    assert (block.global_commitment, block.global_cid) == (proof.commitment, "bafyglobal0")
    assert (block.leader, block.leader_count, block.global_count) == (leader.address, 9, 7)
    assert ledger.head(task).block_hash == expected and ledger.head(task).next_round == 1
    assert ledger.round_state(task, 0).status is RoundStatus.FINALIZED
    assert ledger.leader_of(task, 0) == leader
    assert ledger.round_state(task, 1).status is RoundStatus.OPEN
    for account in run.accounts:
        submission = ledger.submission(task, 0, account.address)
        assert submission is not None
        assert submission.count == counts[account.address]
        assert submission.commitment == run.commitments[account.address, 0]
        assert submission.accepted is (account.address in accepted)


def test_leader_tie_break_ignores_arrival_order(ledger: Ledger, prover: TinyProver) -> None:
    accounts = [ledger.new_account(), ledger.new_account()]
    expected = TaskRun.expected_leader(0, {a.address: 7 for a in accounts})
    for order in (accounts, accounts[::-1]):
        run = TaskRun(ledger, prover, accounts=accounts)
        for account in order:
            run.submit(account, 0, 7)
        assert ledger.leader_of(run.task_id, 0) == Leader(expected, 7)


def test_leader_is_highest_count_whatever_the_order(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=3)
    for account, count in zip(run.accounts, [5, 9, 7], strict=True):
        run.submit(account, 0, count)
    assert ledger.leader_of(run.task_id, 0) == Leader(run.accounts[1].address, 9)


# ---------------------------------------------------------------------------- rejections


def test_submit_to_unknown_task(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 7)
    error = assert_rejected_on_chain(
        run,
        account,
        UnknownTask,
        lambda: ledger.transact(
            account, "submit", run.task_id + 1, 0, proof.commitment, 7, CID, proof.words,
            gas=SUBMIT_GAS,
        ),
    )  # fmt: skip
    assert error.task_id == run.task_id + 1


def test_submit_to_wrong_round(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 1, 7)
    error = assert_rejected_on_chain(
        run, account, RoundNotOpen, lambda: run.raw_submit(account, 1, proof)
    )
    assert (error.round, error.current_round) == (1, 0)


def test_submit_by_unregistered_sender(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    proof = run.proof(run.outsider, 0, 7)
    assert_rejected_on_chain(
        run, run.outsider, NotRegistered, lambda: run.raw_submit(run.outsider, 0, proof)
    )


def test_duplicate_submission(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    run.submit(account, 0, 5)
    proof = run.proof(account, 0, 9)
    assert_rejected_on_chain(
        run, account, DuplicateSubmission, lambda: run.raw_submit(account, 0, proof)
    )


def test_late_submission(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 7)
    deadline = ledger.round_state(run.task_id, 0).deadline
    ledger.advance_time(WINDOW)
    error = assert_rejected_on_chain(
        run, account, LateSubmission, lambda: run.raw_submit(account, 0, proof)
    )
    assert error.deadline == deadline
    assert error.timestamp >= deadline


def test_count_below_threshold(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, min_count=4)
    account = run.accounts[0]
    proof = run.proof(account, 0, 3)  # a valid proof, but of too low a count
    error = assert_rejected_on_chain(
        run, account, BelowThreshold, lambda: run.raw_submit(account, 0, proof)
    )
    assert (error.count, error.min_count) == (3, 4)


def test_count_above_samples(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 9)
    error = assert_rejected_on_chain(
        run,
        account,
        CountAboveSamples,
        lambda: run.raw_submit(account, 0, proof, count=prover.num_samples + 1),
    )
    assert error.num_samples == prover.num_samples


@pytest.mark.parametrize("claim", ["count", "commitment"])
def test_proof_of_another_statement(ledger: Ledger, prover: TinyProver, claim: str) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 7)
    change = {"count": 9} if claim == "count" else {"commitment": proof.commitment + 1}
    assert_rejected_on_chain(
        run, account, InvalidProof, lambda: run.raw_submit(account, 0, proof, **change)
    )


def test_malformed_proof_words(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 7)
    for index, delta in ((7, BASE_FIELD), (0, 1), (3, 1)):
        words = list(proof.words)
        words[index] += delta
        forged = Proof(proof.commitment, proof.count, words)
        assert_rejected_on_chain(
            run, account, InvalidProof, lambda f=forged: run.raw_submit(account, 0, f)
        )


def test_commitment_out_of_field(ledger: Ledger, prover: TinyProver) -> None:
    """commitment + r is the same field element, but the contract must not accept it."""
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 7)
    aliased = proof.commitment + FIELD_ORDER
    assert_rejected_on_chain(
        run, account, InvalidProof, lambda: run.raw_submit(account, 0, proof, commitment=aliased)
    )


def test_proof_replayed_by_another_sender(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    owner, thief = run.accounts[:2]
    proof = run.proof(owner, 0, 9)
    assert_rejected_on_chain(run, thief, InvalidProof, lambda: run.raw_submit(thief, 0, proof))
    run.raw_submit(owner, 0, proof)  # the owner's own submission goes through


def test_proof_replayed_in_another_round(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    proof = run.proof(account, 0, 9)
    run.raw_submit(account, 0, proof)
    ledger.advance_time(WINDOW)
    run.propose(account, 0, run.global_proof(account.address, 0, 5))
    assert_rejected_on_chain(run, account, InvalidProof, lambda: run.raw_submit(account, 1, proof))


def test_proof_for_another_ledger_task_or_chain(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    chain, task, me = ledger.chain_id, run.task_id, account.address
    tags = (
        binding_tag(chain, run.verifier, task, 0, me),  # another contract
        binding_tag(chain + 1, ledger.address, task, 0, me),  # another chain
        binding_tag(chain, ledger.address, task + 1, 0, me),  # another task
    )
    for tag in tags:
        proof = run.proof(account, 0, 7, tag=tag)
        assert_rejected_on_chain(
            run, account, InvalidProof, lambda p=proof: run.raw_submit(account, 0, p)
        )


def test_binding_and_global_tags_match_the_contract(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    for round in (0, 1, 2**32 - 1):
        for account in run.accounts:
            on_chain = ledger.contract.functions.bindingTag(run.task_id, round, account.address)
            tag = ledger.binding_tag(run.task_id, round, account.address)
            assert tag == on_chain.call()
            on_chain = ledger.contract.functions.globalTag(run.task_id, round, account.address)
            assert ledger.global_tag(run.task_id, round, account.address) == on_chain.call() != tag
