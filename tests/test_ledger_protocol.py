"""The ZKPoT protocol on both backends: rounds, leaders, the block chain, every rejection.

Proofs are real: ``zkpot.proving`` proves, for a tiny circuit (``prover`` fixture), models
whose correct-count each test chooses among 9, 7, 5 and 3 of 24 test samples, both for
submissions (bound by the submitter's binding tag) and for the global model of each block
(bound by the leader's global tag). Every rejection is sent as a real transaction
(bypassing the Python checks), must revert with its custom error and must leave the state
as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from zkpot.ledger import (
    ContractError,
    InvalidArgument,
    InvalidTaskParams,
    Leader,
    Ledger,
    Participant,
    RoundStatus,
    TaskParams,
    TxResult,
)
from zkpot.ledger.ledger import PROPOSE_GAS_BASE, SUBMIT_GAS, BlockProposal
from zkpot.protocol import (
    AcceptedNotSorted,
    BadParent,
    BelowThreshold,
    BlockAlreadyProposed,
    CountAboveSamples,
    DuplicateSubmission,
    GlobalBelowThreshold,
    InvalidCommitment,
    InvalidGlobalProof,
    InvalidProof,
    InvalidTransaction,
    LateSubmission,
    NoLeaderLeft,
    NoSubmissions,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    RoundHasLeader,
    RoundNotOpen,
    RoundStillOpen,
    UnknownTask,
)
from zkpot.protocol.hashes import (
    BASE_FIELD,
    binding_tag,
    block_hash,
    genesis_hash,
    sort_addresses,
    tie_break_rank,
)
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver

pytest_plugins = ("anvil",)

WINDOW = 3_600
GAS_BUDGET = 300_000
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
#: A stand-in sealed box (80 bytes); the ledger checks only its length.
SEALED_KEY = bytes(range(80))
ZERO_ADDRESS = "0x" + "00" * 20


def commitment_of(name: str) -> int:
    """A stand-in commitment of the initial model (any field element will do for it)."""
    return int.from_bytes(keccak(text=name), "big") % FIELD_ORDER


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

    def global_proof(self, leader: str, round: int, count: int) -> Proof:
        """A real proof that a global model gets ``count`` right, bound to ``leader``'s
        global tag in this task and round."""
        proven = self.prover.prove(count, self.ledger.global_tag(self.task_id, round, leader))
        return Proof(proven.commitment, proven.count, list(proven.proof.to_evm()))

    def propose(
        self,
        leader: LocalAccount,
        round: int,
        proof: Proof,
        *,
        parent: bytes | None = None,
        cid: str = CID,
        accepted: Sequence[str] = (),
        count: int | None = None,
    ) -> BlockProposal:
        """Propose a block whose global model is ``proof``'s (optionally claiming another
        ``count``) through the ledger API; ``parent`` defaults to the current head."""
        if parent is None:
            parent = self.ledger.head(self.task_id).block_hash
        return self.ledger.propose_block(
            leader,
            self.task_id,
            round,
            parent,
            proof.commitment,
            proof.count if count is None else count,
            cid,
            accepted,
            proof.words,
        )

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

    @staticmethod
    def ranking(round: int, counts: dict[str, int]) -> list[str]:
        """The leader order of the turns: count descending, then lowest tie-break rank."""
        return sorted(counts, key=lambda a: (-counts[a], tie_break_rank(round, a)))

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


def advance_to(ledger: Ledger, timestamp: int) -> None:
    """Mine a block at ``timestamp`` (in the future)."""
    ledger.advance_time(timestamp - ledger.timestamp())
    assert ledger.timestamp() == timestamp


def assert_rejected_on_chain(
    run: TaskRun,
    sender: LocalAccount,
    error: type[InvalidTransaction],
    action: Callable[[], Any],
) -> InvalidTransaction:
    """The action's transaction is mined, reverts with ``error`` and changes no state."""
    before = run.snapshot()
    nonce = run.ledger.w3.eth.get_transaction_count(sender.address)
    with pytest.raises(error) as raised:
        action()
    assert run.ledger.w3.eth.get_transaction_count(sender.address) == nonce + 1, "not mined"
    assert isinstance(raised.value, ContractError), "raised by the ledger"
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
            proof.words,
            gas=PROPOSE_GAS_BASE,
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

    run.propose(a, 0, proof, parent=genesis, accepted=[a.address, b.address])
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
    ledger.hand_over(second, task, 0, first.address, SEALED_KEY)
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
        lambda: ledger.hand_over(second, task, 0, first.address, SEALED_KEY),
    )
    assert (error.sender, error.leader) == (first.address, second.address)
    other_key = SEALED_KEY[::-1]
    handed = ledger.hand_over(first, task, 0, second.address, other_key)
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
        lambda: ledger.hand_over(first, task, 1, second.address, SEALED_KEY),
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
    "commitment": (lambda run, f: {"initialCommitment": FIELD_ORDER}, "commitment not in field"),
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
    me = account.address
    before = run.snapshot()
    nonce = ledger.w3.eth.get_transaction_count(account.address)
    calls: list[Callable[[], Any]] = [
        lambda: ledger.submit(account, task, 0, FIELD_ORDER, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, -1, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 2**32, CID, proof),
        lambda: ledger.submit(account, task, -1, 1, 10, CID, proof),
        lambda: ledger.submit(account, 0, 0, 1, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, proof[:7]),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, [*proof[:7], BASE_FIELD]),
        lambda: ledger.submit(account, task, 0, 1, 10, "", proof),
        lambda: ledger.propose_block(account, task, 0, genesis[:31], 1, 7, CID, [], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, FIELD_ORDER, 7, CID, [], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, -1, CID, [], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 2**32, CID, [], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, "", [], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, CID, ["0x1234"], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, CID, [me, me.lower()], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, CID, [], proof[:7]),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, 7, CID, [], [*proof[:7], BASE_FIELD]
        ),
        lambda: ledger.hand_over(account, task, 0, "0x1234", SEALED_KEY),
        lambda: ledger.hand_over(account, task, 0, me, SEALED_KEY[:79]),
        lambda: ledger.hand_over(account, task, -1, me, SEALED_KEY),
        lambda: ledger.skip_round(account, task, -1),
        lambda: ledger.skip_round(account, 0, 0),
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
        {"initial_commitment": FIELD_ORDER},
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
