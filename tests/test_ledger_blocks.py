"""Round blocks on both backends: the hash chain over rounds, every way a block proposal is
refused, and the rules of the global model's proof. Proofs are real (ledger_task.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from zkpot.ledger import Leader, Ledger, RoundStatus
from zkpot.ledger.ledger import AGGREGATE_GAS_BASE, AGGREGATE_GAS_PER_SLOT, PROPOSE_GAS_BASE
from zkpot.protocol import (
    AcceptedNotSorted,
    BadParent,
    BlockAlreadyProposed,
    CountAboveSamples,
    EmptyAggregate,
    GlobalBelowThreshold,
    InvalidAggregationProof,
    InvalidCommitment,
    InvalidGlobalProof,
    NoLeaderLeft,
    NoSubmissions,
    NotLeader,
    NoValidSubmission,
    RoundNotOpen,
    RoundStillOpen,
    UnknownTask,
)
from zkpot.protocol.hashes import block_hash, genesis_hash, sort_addresses
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver
from ledger_task import CID, WINDOW, TaskRun, assert_rejected_on_chain
from stand_ins import stand_in_aggregate_proof

# ---------------------------------------------------------------------------- round blocks


def test_hash_chain_over_rounds(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=2, rounds=3)
    task = run.task_id
    first, second = run.accounts
    parent = ledger.genesis_hash(task)
    assert parent == genesis_hash(
        ledger.chain_id, ledger.address, task, run.publisher.address, run.params.to_abi()
    )
    hashes = []
    for round in range(3):
        assert ledger.head(task).block_hash == parent and ledger.head(task).next_round == round
        if round == 0:  # both submit: the window closes early
            counts = {first.address: 5, second.address: 9}
            run.submit(first, 0, 5)
            run.submit(second, 0, 9)
        else:  # one submits: the window closes at its deadline
            counts = {first.address: 7}
            run.submit(first, round, 7)
            with pytest.raises(RoundStillOpen):
                ledger.leader_of(task, round)
            ledger.advance_time(WINDOW)
        leader = ledger.leader_of(task, round)
        assert leader.address == run.expected_leader(round, counts)
        leader_account = run.account(leader.address)
        global_count = (7, 9, 5)[round]
        proof = run.global_proof(leader.address, round, global_count)
        cid = f"bafyglobal{round}"
        if round > 0:
            stale = hashes[-2] if round > 1 else ledger.genesis_hash(task)
            error = assert_rejected_on_chain(
                run,
                leader_account,
                BadParent,
                partial(
                    run.propose,
                    leader_account,
                    round,
                    proof,
                    parent=stale,
                    cid=cid,
                    accepted=list(counts),
                ),
            )
            assert (error.given, error.expected) == (stale, parent)
        proposal = run.propose(
            leader_account, round, proof, parent=parent, cid=cid, accepted=list(counts)
        )
        expected = block_hash(
            task,
            round,
            parent,
            leader.address,
            leader.count,
            proof.commitment,
            global_count,
            cid,
            sort_addresses(counts),
        )
        assert proposal.block_hash == expected == ledger.block_hash(task, round)
        hashes.append(expected)
        parent = expected

    assert len(set(hashes)) == 3
    assert [e.name for e in proposal.tx.events] == ["BlockProposed", "TaskFinished"]
    assert ledger.task(task).finished
    assert ledger.head(task).block_hash == hashes[-1] and ledger.head(task).next_round == 3
    assert ledger.round_state(task, 3).status is RoundStatus.NOT_OPENED
    proof = run.proof(first, 3, 7)
    assert_rejected_on_chain(run, first, RoundNotOpen, lambda: run.raw_submit(first, 3, proof))
    assert_rejected_on_chain(
        run,
        first,
        BlockAlreadyProposed,
        lambda: run.propose(first, 2, proof, parent=parent),
    )


def test_block_proposal_rejections(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=3)
    task = run.task_id
    a, b, c = run.accounts
    run.submit(a, 0, 9)
    run.submit(b, 0, 7)
    genesis = ledger.genesis_hash(task)
    proof = run.global_proof(a.address, 0, 7)  # valid: each rejection is for another reason

    def propose(sender: LocalAccount, **change: Any) -> Callable[[], Any]:
        args = {"round": 0, "parent": genesis, "accepted": [a.address]}
        args.update(change)
        return lambda: ledger.propose_block(
            sender,
            change.get("task", task),
            args["round"],
            args["parent"],
            proof.commitment,
            proof.count,
            CID,
            args["accepted"],
            proof.words,
            run.aggregation_proof(args["round"], proof.commitment, args["accepted"]),
        )

    def raw_propose(
        accepted: list[str], commitment: int = proof.commitment, task: int = task
    ) -> Callable[[], Any]:
        return lambda: ledger.transact(
            a,
            "proposeBlock",
            task,
            0,
            genesis,
            commitment,
            proof.count,
            CID,
            accepted,
            [],
            proof.words,
            run.aggregation_proof(0, commitment % FIELD_ORDER, accepted),
            gas=PROPOSE_GAS_BASE + AGGREGATE_GAS_BASE + AGGREGATE_GAS_PER_SLOT * 3,
        )

    error = assert_rejected_on_chain(run, a, RoundStillOpen, propose(a))
    assert error.deadline == ledger.round_state(task, 0).deadline
    ledger.advance_time(WINDOW)
    assert ledger.leader_of(task, 0).address == a.address

    assert_rejected_on_chain(run, b, NotLeader, propose(b))
    assert_rejected_on_chain(run, c, NotLeader, propose(c))
    with pytest.raises(UnknownTask):  # the client reads the task first: nothing is sent
        propose(a, task=task + 1)()
    assert_rejected_on_chain(run, a, UnknownTask, raw_propose([a.address], task=task + 1))
    assert_rejected_on_chain(run, a, RoundNotOpen, propose(a, round=1))
    assert_rejected_on_chain(run, a, BadParent, propose(a, parent=keccak(b"elsewhere")))
    error = assert_rejected_on_chain(
        run, a, NoValidSubmission, propose(a, accepted=[a.address, c.address])
    )
    assert error.account == c.address
    assert_rejected_on_chain(run, a, NoValidSubmission, propose(a, accepted=[run.outsider.address]))
    ordered = sort_addresses([a.address, b.address])
    assert_rejected_on_chain(run, a, AcceptedNotSorted, raw_propose(ordered[::-1]))
    assert_rejected_on_chain(run, a, AcceptedNotSorted, raw_propose([a.address, a.address]))
    assert_rejected_on_chain(run, a, InvalidCommitment, raw_propose([a.address], FIELD_ORDER))
    aliased = proof.commitment + FIELD_ORDER  # the proven field element, not reduced
    error = assert_rejected_on_chain(run, a, InvalidCommitment, raw_propose([a.address], aliased))
    assert error.value == aliased

    # The aggregation rule: at least one model, a proof of exactly this statement.
    assert_rejected_on_chain(run, a, EmptyAggregate, propose(a, accepted=[]))
    both = [a.address, b.address]
    statement = ledger.aggregation_inputs(task, 0, proof.commitment, both)
    for wrong in (
        ledger.aggregation_inputs(task, 0, proof.commitment, [a.address]),  # another set
        [*statement[:2], statement[2] + 1, *statement[3:]],  # another weight
        [statement[0] + 1, *statement[1:]],  # another global model
    ):
        bad = list(stand_in_aggregate_proof(wrong))
        assert_rejected_on_chain(
            run,
            a,
            InvalidAggregationProof,
            lambda bad=bad: ledger.propose_block(
                a, task, 0, genesis, proof.commitment, proof.count, CID, both, proof.words, bad
            ),
        )

    run.propose(a, 0, proof, parent=genesis, accepted=both)
    assert_rejected_on_chain(run, a, BlockAlreadyProposed, propose(a))


def test_round_without_submissions_has_no_leader(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    ledger.advance_time(WINDOW)
    state = ledger.round_state(run.task_id, 0)
    assert (state.status, state.leader, state.submitted) == (RoundStatus.CLOSED, None, 0)
    with pytest.raises(NoSubmissions):
        ledger.leader_of(run.task_id, 0)
    account = run.accounts[0]
    proof = run.global_proof(account.address, 0, 7)
    # leaderOf says NoSubmissions, proposeBlock NoLeaderLeft: the round can only be skipped.
    assert_rejected_on_chain(run, account, NoLeaderLeft, lambda: run.propose(account, 0, proof))


def test_global_proof_rules(ledger: Ledger, prover: TinyProver) -> None:
    """The block's global model must be proven, at the threshold, for the leader's global
    tag: no other proof or claimed count will do."""
    run = TaskRun(ledger, prover, participants=3, min_count=4)
    leader, other = run.accounts[:2]
    submission = run.proof(leader, 0, 9)
    run.raw_submit(leader, 0, submission)
    ledger.advance_time(WINDOW)
    assert ledger.leader_of(run.task_id, 0) == Leader(leader.address, 9)

    low = run.global_proof(leader.address, 0, 3)  # valid, but below the threshold
    error = assert_rejected_on_chain(
        run, leader, GlobalBelowThreshold, lambda: run.propose(leader, 0, low)
    )
    assert (error.count, error.min_count) == (3, 4)
    # (a) the leader's own submission proof: its tag is the binding tag, not the global tag
    assert_rejected_on_chain(
        run, leader, InvalidGlobalProof, lambda: run.propose(leader, 0, submission)
    )
    # (b) a global proof made for another leader's global tag
    foreign = run.global_proof(other.address, 0, 7)
    assert_rejected_on_chain(
        run, leader, InvalidGlobalProof, lambda: run.propose(leader, 0, foreign)
    )
    # (c) a valid global proof of 7, claiming another count
    proof = run.global_proof(leader.address, 0, 7)
    assert_rejected_on_chain(
        run, leader, InvalidGlobalProof, lambda: run.propose(leader, 0, proof, count=9)
    )
    error = assert_rejected_on_chain(
        run,
        leader,
        CountAboveSamples,
        lambda: run.propose(leader, 0, proof, count=prover.num_samples + 1),
    )
    assert (error.count, error.num_samples) == (prover.num_samples + 1, prover.num_samples)

    run.propose(leader, 0, proof, accepted=[leader.address])
    block = ledger.round_block(run.task_id, 0)
    assert block is not None
    assert (block.global_commitment, block.global_count) == (proof.commitment, 7)
    assert (block.leader, block.leader_count) == (leader.address, 9)
