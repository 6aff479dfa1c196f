"""The ZKPoT protocol on both backends: rounds, leaders, the block chain, every rejection.

Proofs are real: ``zkpot.proving`` proves, for a tiny circuit (``prover`` fixture), models
whose correct-count each test chooses among 9, 7, 5 and 3 of 24 test samples. Every
rejection is sent as a real transaction (bypassing the Python checks), must revert with
its custom error and must leave the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from zkpot.ledger import (
    AcceptedNotSorted,
    BadParent,
    BelowThreshold,
    BlockAlreadyProposed,
    ContractError,
    CountAboveSamples,
    DuplicateSubmission,
    InvalidArgument,
    InvalidCommitment,
    InvalidProof,
    InvalidTaskParams,
    LateSubmission,
    Leader,
    Ledger,
    NoSubmissions,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    Participant,
    RoundNotOpen,
    RoundStatus,
    RoundStillOpen,
    TaskParams,
    TxResult,
    UnknownTask,
    binding_tag,
    block_hash,
    genesis_hash,
)
from zkpot.ledger.hashes import BASE_FIELD, SCALAR_FIELD, sort_addresses, tie_break_rank
from zkpot.ledger.ledger import SUBMIT_GAS

if TYPE_CHECKING:
    from anvil import TinyProver

pytest_plugins = ("anvil",)

WINDOW = 3_600
GAS_BUDGET = 300_000
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def commitment_of(name: str) -> int:
    """A stand-in global model commitment (any field element will do for the ledger)."""
    return int.from_bytes(keccak(text=name), "big") % SCALAR_FIELD


@dataclass(frozen=True)
class Proof:
    """The public inputs a proof was made for, and its 8 EVM words."""

    commitment: int
    count: int
    words: list[int]


class TaskRun:
    """A registered task with funded participants, and helpers to act in it."""

    def __init__(
        self,
        ledger: Ledger,
        prover: TinyProver,
        *,
        participants: int = 3,
        rounds: int = 2,
        min_count: int = 4,
        accounts: list[LocalAccount] | None = None,
    ) -> None:
        self.ledger = ledger
        self.prover = prover
        self.publisher = ledger.new_account()
        self.accounts = accounts or [ledger.new_account() for _ in range(participants)]
        self.outsider = ledger.new_account()
        self.verifier = ledger.deploy_verifier(prover.vk_words)
        self.params = TaskParams(
            verifier=self.verifier,
            test_set_hash=prover.circuit.test_set_hash,
            test_set_cid=CID,
            model_spec_hash=keccak(text=prover.spec.to_json()),
            min_count=min_count,
            num_samples=prover.num_samples,
            rounds=rounds,
            window=WINDOW,
            initial_commitment=commitment_of("initial"),
            initial_cid=CID,
            participants=tuple(
                Participant(a.address, keccak(text=f"x25519 {i}"))
                for i, a in enumerate(self.accounts)
            ),
        )
        self.task_id = ledger.register_task(self.publisher, self.params)
        #: Commitment of each submission made through ``submit``, by (address, round).
        self.commitments: dict[tuple[str, int], int] = {}

    def proof(self, account: LocalAccount, round: int, count: int, tag: int | None = None) -> Proof:
        """A real proof of ``count`` bound to this sender, task and round (or to ``tag``)."""
        if tag is None:
            tag = self.ledger.binding_tag(self.task_id, round, account.address)
        proven = self.prover.prove(count, tag)
        return Proof(proven.commitment, proven.count, list(proven.proof.to_evm()))

    def submit(self, account: LocalAccount, round: int, count: int) -> TxResult:
        """Submit a valid proof of ``count`` through the ledger API."""
        proof = self.proof(account, round, count)
        self.commitments[account.address, round] = proof.commitment
        return self.ledger.submit(
            account, self.task_id, round, proof.commitment, proof.count, CID, proof.words
        )

    def raw_submit(
        self,
        account: LocalAccount,
        round: int,
        proof: Proof,
        *,
        commitment: int | None = None,
        count: int | None = None,
    ) -> TxResult:
        """Send ``submit`` as is (optionally with other public inputs): the contract judges."""
        return self.ledger.transact(
            account,
            "submit",
            self.task_id,
            round,
            proof.commitment if commitment is None else commitment,
            proof.count if count is None else count,
            CID,
            proof.words,
            gas=SUBMIT_GAS,
        )

    @staticmethod
    def expected_leader(round: int, counts: dict[str, int]) -> str:
        """Highest count; among equal counts, the lowest tie-break rank."""
        best = max(counts.values())
        return min(
            (a for a, c in counts.items() if c == best), key=lambda a: tie_break_rank(round, a)
        )

    def account(self, address: str) -> LocalAccount:
        return next(a for a in [*self.accounts, self.outsider] if a.address == address)

    def snapshot(self, rounds: int = 2) -> tuple[Any, ...]:
        """Everything the views expose about this task."""
        ledger, task = self.ledger, self.task_id
        return (
            ledger.task_count(),
            ledger.task(task),
            ledger.head(task),
            tuple(ledger.round_state(task, r) for r in range(rounds)),
            tuple(ledger.round_block(task, r) for r in range(rounds)),
            tuple(
                ledger.submission(task, r, a.address)
                for r in range(rounds)
                for a in [*self.accounts, self.outsider]
            ),
        )


def assert_rejected_on_chain(
    run: TaskRun, sender: LocalAccount, error: type[ContractError], action: Callable[[], Any]
) -> ContractError:
    """The action's transaction is mined, reverts with ``error`` and changes no state."""
    before = run.snapshot()
    nonce = run.ledger.w3.eth.get_transaction_count(sender.address)
    with pytest.raises(error) as raised:
        action()
    assert run.ledger.w3.eth.get_transaction_count(sender.address) == nonce + 1, "not mined"
    assert run.snapshot() == before
    return raised.value


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
    global_commitment = commitment_of("global 0")
    non_leader = next(a for a in run.accounts if a.address != leader.address)
    assert_rejected_on_chain(
        run,
        non_leader,
        NotLeader,
        lambda: ledger.propose_block(
            non_leader, task, 0, genesis, global_commitment, CID, accepted
        ),
    )

    proposal = ledger.propose_block(
        run.account(leader.address), task, 0, genesis, global_commitment, "bafyglobal0", accepted
    )
    expected = block_hash(
        task,
        0,
        genesis,
        leader.address,
        9,
        global_commitment,
        "bafyglobal0",
        sort_addresses(accepted),
    )
    assert proposal.block_hash == expected
    assert [e.name for e in proposal.tx.events] == ["BlockProposed", "RoundOpened"]
    event = proposal.tx.event("BlockProposed").args
    assert event["parentHash"] == genesis and event["leaderCount"] == 9
    assert list(event["accepted"]) == sort_addresses(accepted)
    assert ledger.block_hash(task, 0) == expected
    block = ledger.round_block(task, 0)
    assert block is not None
    assert (block.global_commitment, block.global_cid) == (global_commitment, "bafyglobal0")
    assert ledger.head(task).block_hash == expected and ledger.head(task).next_round == 1
    assert ledger.round_state(task, 0).status is RoundStatus.FINALIZED
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
    aliased = proof.commitment + SCALAR_FIELD
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
    ledger.propose_block(account, run.task_id, 0, ledger.genesis_hash(run.task_id), 5, CID, [])
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


def test_binding_tag_matches_the_contract(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    for round in (0, 1, 2**32 - 1):
        for account in run.accounts:
            on_chain = ledger.contract.functions.bindingTag(run.task_id, round, account.address)
            assert ledger.binding_tag(run.task_id, round, account.address) == on_chain.call()


# ---------------------------------------------------------------------------- round blocks


def test_hash_chain_over_rounds(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=2, rounds=3)
    task = run.task_id
    first, second = run.accounts
    parent = ledger.genesis_hash(task)
    assert parent == genesis_hash(
        ledger.chain_id, ledger.address, task, run.publisher.address, run.params
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
        commitment = commitment_of(f"global {round}")
        cid = f"bafyglobal{round}"
        if round > 0:
            stale = hashes[-2] if round > 1 else ledger.genesis_hash(task)
            error = assert_rejected_on_chain(
                run,
                leader_account,
                BadParent,
                partial(
                    ledger.propose_block,
                    leader_account,
                    task,
                    round,
                    stale,
                    commitment,
                    cid,
                    list(counts),
                ),
            )
            assert (error.given, error.expected) == (stale, parent)
        proposal = ledger.propose_block(
            leader_account, task, round, parent, commitment, cid, list(counts)
        )
        expected = block_hash(
            task,
            round,
            parent,
            leader.address,
            leader.count,
            commitment,
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
        lambda: ledger.propose_block(first, task, 2, parent, 1, CID, []),
    )


def test_block_proposal_rejections(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=3)
    task = run.task_id
    a, b, c = run.accounts
    run.submit(a, 0, 9)
    run.submit(b, 0, 7)
    genesis = ledger.genesis_hash(task)
    commitment = commitment_of("global")

    def propose(sender: LocalAccount, **change: Any) -> Callable[[], Any]:
        args = {"round": 0, "parent": genesis, "commitment": commitment, "accepted": [a.address]}
        args.update(change)
        return lambda: ledger.propose_block(
            sender,
            change.get("task", task),
            args["round"],
            args["parent"],
            args["commitment"],
            CID,
            args["accepted"],
        )

    def raw_propose(
        accepted: list[str], commitment: int = commitment, task: int = task
    ) -> Callable[[], Any]:
        return lambda: ledger.transact(
            a, "proposeBlock", task, 0, genesis, commitment, CID, accepted, gas=500_000
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
    assert_rejected_on_chain(run, a, InvalidCommitment, raw_propose([a.address], SCALAR_FIELD))

    ledger.propose_block(a, task, 0, genesis, commitment, CID, [a.address, b.address])
    assert_rejected_on_chain(run, a, BlockAlreadyProposed, propose(a))


def test_round_without_submissions_has_no_leader(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    ledger.advance_time(WINDOW)
    state = ledger.round_state(run.task_id, 0)
    assert (state.status, state.leader, state.submitted) == (RoundStatus.CLOSED, None, 0)
    with pytest.raises(NoSubmissions):
        ledger.leader_of(run.task_id, 0)
    account = run.accounts[0]
    assert_rejected_on_chain(
        run,
        account,
        NoSubmissions,
        lambda: ledger.propose_block(
            account, run.task_id, 0, ledger.genesis_hash(run.task_id), 1, CID, []
        ),
    )


# ---------------------------------------------------------------------------- registration


def test_task_views(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=9, rounds=4, min_count=5)
    task = ledger.task(run.task_id)
    params = run.params
    assert ledger.task_count() == run.task_id == 1
    assert (task.publisher, task.verifier) == (run.publisher.address, params.verifier)
    assert (task.test_set_hash, task.test_set_cid) == (params.test_set_hash, params.test_set_cid)
    assert task.model_spec_hash == params.model_spec_hash
    assert (task.min_count, task.num_samples, task.rounds, task.window) == (5, 24, 4, WINDOW)
    assert (task.initial_commitment, task.initial_cid) == (params.initial_commitment, CID)
    assert (task.participant_count, task.current_round, task.finished) == (9, 0, False)
    assert task.genesis_hash == ledger.genesis_hash(run.task_id)
    assert ledger.participants(run.task_id) == params.participants
    for p in params.participants:
        assert (
            ledger.contract.functions.participantKey(run.task_id, p.address).call() == p.x25519_key
        )
    state = ledger.round_state(run.task_id, 0)
    assert state.deadline == state.opened_at + WINDOW
    assert ledger.round_state(run.task_id, 1).status is RoundStatus.NOT_OPENED
    assert ledger.submission(run.task_id, 0, run.accounts[8].address) is None
    assert ledger.round_block(run.task_id, 0) is None and ledger.block_hash(run.task_id, 0) is None
    for view in (ledger.task, ledger.genesis_hash, ledger.head, ledger.participants):
        with pytest.raises(UnknownTask):
            view(run.task_id + 1)
    with pytest.raises(UnknownTask):
        ledger.round_state(run.task_id + 1, 0)
    # Participants beyond the first submission word (7 per word) submit like the others.
    result = run.submit(run.accounts[8], 0, 5)
    assert result.gas_used <= GAS_BUDGET
    submission = ledger.submission(run.task_id, 0, run.accounts[8].address)
    assert submission is not None and submission.count == 5


ZERO_ADDRESS = "0x" + "00" * 20
PARAM_FIELDS = (
    "verifier", "testSetHash", "testSetCid", "modelSpecHash", "minCount", "numSamples",
    "rounds", "window", "initialCommitment", "initialCid", "participants", "participantKeys",
)  # fmt: skip
Fields = dict[str, Any]
REGISTRATION_CASES: dict[str, tuple[Callable[[TaskRun, Fields], Fields], str]] = {
    "eoa verifier": (lambda run, f: {"verifier": run.outsider.address}, "verifier has no code"),
    "no samples": (lambda run, f: {"numSamples": 0, "minCount": 0}, "no test samples"),
    "many samples": (lambda run, f: {"numSamples": 2**31}, "too many samples"),
    "threshold": (lambda run, f: {"minCount": f["numSamples"] + 1}, "threshold above samples"),
    "no rounds": (lambda run, f: {"rounds": 0}, "no rounds"),
    "no window": (lambda run, f: {"window": 0}, "empty window"),
    "commitment": (lambda run, f: {"initialCommitment": SCALAR_FIELD}, "commitment not in field"),
    "nobody": (lambda run, f: {"participants": [], "participantKeys": []}, "participant count"),
    "keys": (lambda run, f: {"participantKeys": f["participantKeys"][:-1]}, "keys do not match"),
    "zero key": (
        lambda run, f: {"participantKeys": [b"\0" * 32, *f["participantKeys"][1:]]},
        "zero participant key",
    ),
    "duplicate": (
        lambda run, f: {"participants": [f["participants"][0]] * len(f["participants"])},
        "duplicate participant",
    ),
    "zero address": (
        lambda run, f: {"participants": [ZERO_ADDRESS, *f["participants"][1:]]},
        "zero participant address",
    ),
}


@pytest.mark.parametrize("case", list(REGISTRATION_CASES))
def test_register_task_rejections(ledger: Ledger, prover: TinyProver, case: str) -> None:
    run = TaskRun(ledger, prover)
    change, reason = REGISTRATION_CASES[case]
    fields = dict(zip(PARAM_FIELDS, run.params.to_abi(), strict=True))
    fields.update(change(run, fields))
    params = tuple(fields.values())
    error = assert_rejected_on_chain(
        run,
        run.publisher,
        InvalidTaskParams,
        lambda: ledger.transact(run.publisher, "registerTask", params, gas=2_000_000),
    )
    assert error.reason == reason


# ---------------------------------------------------------------------------- Python checks


def test_bad_arguments_send_nothing(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    task = run.task_id
    proof = run.proof(account, 0, 7).words
    genesis = ledger.genesis_hash(task)
    before = run.snapshot()
    nonce = ledger.w3.eth.get_transaction_count(account.address)
    calls: list[Callable[[], Any]] = [
        lambda: ledger.submit(account, task, 0, SCALAR_FIELD, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, -1, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 2**32, CID, proof),
        lambda: ledger.submit(account, task, -1, 1, 10, CID, proof),
        lambda: ledger.submit(account, 0, 0, 1, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, proof[:7]),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, [*proof[:7], BASE_FIELD]),
        lambda: ledger.submit(account, task, 0, 1, 10, "", proof),
        lambda: ledger.propose_block(account, task, 0, genesis[:31], 1, CID, []),
        lambda: ledger.propose_block(account, task, 0, genesis, SCALAR_FIELD, CID, []),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, "", []),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, CID, ["0x1234"]),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, CID, [account.address, account.address.lower()]
        ),
        lambda: ledger.register_task(account, _with(run.params, verifier=account.address)),
        lambda: ledger.advance_time(0),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument):
            call()
    assert ledger.w3.eth.get_transaction_count(account.address) == nonce
    assert run.snapshot() == before


@pytest.mark.parametrize(
    "change",
    [
        {"min_count": 25},
        {"num_samples": 0},
        {"num_samples": 2**31 - 1},
        {"rounds": 0},
        {"window": 0},
        {"initial_commitment": SCALAR_FIELD},
        {"participants": ()},
        {"test_set_hash": b"short"},
        {"verifier": "not an address"},
    ],
)
def test_task_params_are_checked(
    ledger: Ledger, prover: TinyProver, change: dict[str, Any]
) -> None:
    run = TaskRun(ledger, prover)
    with pytest.raises(InvalidArgument):
        _with(run.params, **change)


def test_participant_checks() -> None:
    with pytest.raises(InvalidArgument):
        Participant("0x" + "11" * 20, b"\0" * 32)
    with pytest.raises(InvalidArgument):
        Participant("0x" + "11" * 20, b"\1" * 31)
    with pytest.raises(InvalidArgument):
        Participant("0x11", b"\1" * 32)
    twice = Participant("0x" + "11" * 20, b"\1" * 32)
    with pytest.raises(InvalidArgument):
        TaskParams(
            verifier="0x" + "22" * 20,
            test_set_hash=b"\1" * 32,
            test_set_cid=CID,
            model_spec_hash=b"\1" * 32,
            min_count=1,
            num_samples=2,
            rounds=1,
            window=1,
            initial_commitment=0,
            initial_cid=CID,
            participants=(twice, twice),
        )


def _with(params: TaskParams, **change: Any) -> TaskParams:
    fields = {name: getattr(params, name) for name in params.__dataclass_fields__}
    fields.update(change)
    return TaskParams(**fields)
