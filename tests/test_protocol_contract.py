"""The contract agrees with the executable specification.

A hypothesis state machine sends random sequences of register / submit / hand over /
contest / reopen / propose / skip / wait, from honest and hostile accounts, both to
``ZKPoT.sol`` on the in-process EVM and to :func:`zkpot.protocol.state_transition`. After
every transaction the two agree on its outcome (the same error with the same arguments, or
success), on the block hashes, and on what the views report: head, submissions, status,
turn, leader and hand-overs.

The tasks' verifier is ``contracts/test/StandInVerifier.sol``, a stand-in that accepts a
"proof" whose first word is the sum of the public inputs, so valid and invalid proofs cost
nothing; the Groth16 verifier keeps its own tests (test_ledger_verifier.py).

CI runs the ``ci`` profile; ``--hypothesis-show-statistics`` shows how often each
transaction was accepted or refused by each rule. ``ZKPOT_STATEFUL_EXAMPLES`` sets the
number of sequences and ``ZKPOT_STATEFUL_STEPS`` their longest length (docs/protocol.md
has the command of the 1,000-sequence run and its time).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from stand_ins import (
    deploy_stand_in_aggregator,
    deploy_stand_in_verifier,
    stand_in_aggregate_proof,
    stand_in_proof,
    stand_in_verify,
    stand_in_verify_aggregate,
)

from zkpot.ledger import ContractError, Ledger, Member, RoundStatus, TaskParams
from zkpot.protocol import (
    Address,
    Chain,
    Cid,
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
    Transaction,
    aggregation_inputs,
    is_closed,
    leader_at,
    open_task,
    state_transition,
    turn_at,
    turn_ends,
)
from zkpot.protocol.hashes import (
    binding_tag,
    genesis_hash,
    global_tag,
    key_hash,
    sort_addresses,
)
from zkpot.proving import FIELD_ORDER

CID = Cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")
NUM_SAMPLES = 24
POOL = 5  # accounts that may be registered; one more is never registered
GAS = 2_000_000
#: The package key every honest hand-over commits to, and one that no hand-over does.
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("ZKPOT_STATEFUL_EXAMPLES", "25")),
    stateful_step_count=int(os.environ.get("ZKPOT_STATEFUL_STEPS", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class World:
    """One in-process chain shared by every sequence: new tasks, same accounts."""

    ledger: Ledger
    verifier: str
    publisher: LocalAccount
    accounts: list[LocalAccount]  # the last one is never registered


@cache
def world() -> World:
    ledger = Ledger.in_process()
    verifier = deploy_stand_in_verifier(ledger)
    accounts = [ledger.new_account(10**21) for _ in range(POOL + 1)]
    # Far ahead of the wall clock: every mined block is then exactly one second later.
    ledger.advance_time(10**8)
    return World(ledger, verifier, ledger.new_account(10**21), accounts)


@dataclass
class TaskUnderTest:
    """A task registered in this sequence: its id, its state in the spec, its members."""

    task_id: int
    chain: Chain
    members: list[LocalAccount]


class ContractAgreesWithSpec(RuleBasedStateMachine):
    """Random transactions to the contract and to the specification, side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.world = world()
        self.ledger = self.world.ledger
        self.tasks: list[TaskUnderTest] = []

    # ---------------------------------------------------------------- registration

    @initialize(data=st.data())
    def first_task(self, data: st.DataObject) -> None:
        self.register(data)

    @precondition(lambda self: len(self.tasks) < 3)
    @rule(data=st.data())
    def register(self, data: st.DataObject) -> None:
        members = data.draw(st.lists(st.integers(0, POOL - 1), min_size=1, max_size=4, unique=True))
        window = data.draw(st.integers(6, 20), label="window")
        params = TaskParams(
            verifier=self.world.verifier,
            test_set_hash=keccak(text="test set"),
            test_set_cid=CID,
            model_spec_hash=keccak(text="spec"),
            min_count=data.draw(st.integers(0, NUM_SAMPLES), label="min_count"),
            num_samples=NUM_SAMPLES,
            rounds=data.draw(st.integers(1, 3), label="rounds"),
            window=window,
            initial_commitment=data.draw(st.integers(0, FIELD_ORDER - 1)),
            initial_cid=CID,
            participants=tuple(
                Member(
                    self.world.accounts[i].address,
                    keccak(text=f"x25519 {i}"),
                    data.draw(st.integers(1, 2**32 - 1), label="samples"),
                )
                for i in members
            ),
            aggregator=deploy_stand_in_aggregator(
                self.ledger, data.draw(st.integers(1, 4), label="capacity")
            ),
            padding_commitment=data.draw(st.integers(0, FIELD_ORDER - 1), label="padding"),
        )
        publisher = self.world.publisher
        task_id = self.ledger.register_task(publisher, params)
        now = Timestamp(self.ledger.timestamp())
        ledger = self.ledger
        registration = Registration(
            chain_id=ledger.chain_id,
            ledger=Address(ledger.address),
            task_id=task_id,
            participants=tuple(Address(p.address) for p in params.participants),
            min_count=params.min_count,
            num_samples=NUM_SAMPLES,
            rounds=params.rounds,
            window=window,
            initial_commitment=FieldElement(params.initial_commitment),
            initial_cid=CID,
            genesis_hash=genesis_hash(
                ledger.chain_id, ledger.address, task_id, publisher.address, params.to_abi()
            ),
            sample_counts=tuple(p.samples for p in params.participants),
            capacity=ledger.task(task_id).capacity,
            padding_commitment=FieldElement(params.padding_commitment),
        )
        assert ledger.genesis_hash(task_id) == registration.genesis_hash
        chain = open_task(registration, now)
        self.tasks.append(TaskUnderTest(task_id, chain, [self.world.accounts[i] for i in members]))

    # ---------------------------------------------------------------- the transactions

    @rule(data=st.data())
    def submit_honest(self, data: st.DataObject) -> None:
        """A member that has not submitted yet sends a passing count with a valid proof."""
        task = self._task(data)
        chain = task.chain
        waiting = [a for a in task.members if chain.round.entry(Address(a.address)) is None]
        sender = data.draw(st.sampled_from(waiting or task.members), label="sender")
        count = data.draw(st.integers(chain.registration.min_count, NUM_SAMPLES), label="count")
        commitment = data.draw(st.integers(0, FIELD_ORDER - 1), label="commitment")
        self._submit(task, sender, len(chain.blocks), commitment, count, "self")

    @rule(data=st.data())
    def submit_hostile(self, data: st.DataObject) -> None:
        """Anyone sends anything: another round, any count, a commitment outside the field,
        a proof replayed from another sender, or no proof."""
        task, sender = self._task_and_sender(data)
        count = data.draw(st.integers(0, NUM_SAMPLES + 2), label="count")
        commitment = data.draw(
            st.one_of(st.integers(0, FIELD_ORDER - 1), st.integers(FIELD_ORDER, 2**256 - 1)),
            label="commitment",
        )
        tagged = data.draw(st.sampled_from(["self", "other", "garbage"]), label="proof")
        self._submit(task, sender, self._round(data, task), commitment, count, tagged)

    @rule(data=st.data())
    def hand_over_honest(self, data: st.DataObject) -> None:
        """A submitter seals its key to the leader of the turn."""
        task = self._task(data)
        chain = task.chain
        submitters = [self._account(e.submitter) for e in chain.round.entries]
        sender = data.draw(st.sampled_from(submitters or task.members), label="sender")
        holder = leader_at(chain, self._next_timestamp())
        leader = holder.submitter if holder else Address(sender.address)
        self._hand_over(task, sender, len(chain.blocks), leader, bytes(80), key_hash(KEY))

    @rule(data=st.data())
    def hand_over_hostile(self, data: st.DataObject) -> None:
        """Anyone hands anything over, to anyone."""
        task, sender = self._task_and_sender(data)
        leader = data.draw(st.sampled_from([a.address for a in self.world.accounts]))
        key = bytes(data.draw(st.sampled_from([80, 0, 79, 81]), label="key length"))
        committed = data.draw(st.sampled_from([key_hash(KEY), bytes(32)]), label="key hash")
        self._hand_over(task, sender, self._round(data, task), Address(leader), key, committed)

    @rule(data=st.data())
    def contest(self, data: st.DataObject) -> None:
        """The leader of the turn (mostly), or anyone, contests a member's hand-over."""
        task = self._task(data)
        holder = leader_at(task.chain, self._next_timestamp())
        leader = [self._account(holder.submitter)] if holder else []
        sender = data.draw(st.sampled_from(leader * 4 + self.world.accounts), label="sender")
        turn = turn_at(task.chain, self._next_timestamp())
        owed = [self._account(h.submitter) for h in task.chain.round.hand_overs if h.turn == turn]
        submitter = data.draw(st.sampled_from(owed * 4 + self.world.accounts), label="submitter")
        round = self._round(data, task)
        tx = Contest(Address(sender.address), task.task_id, round, Address(submitter.address))
        self._send(task, sender, tx, "contest", task.task_id, round, submitter.address)

    @rule(data=st.data())
    def reopen(self, data: st.DataObject) -> None:
        """Anyone re-opens a key: mostly the committed one."""
        task, sender = self._task_and_sender(data)
        key = data.draw(st.sampled_from([KEY, KEY, OTHER_KEY]), label="key")
        round = self._round(data, task)
        tx = Reopen(Address(sender.address), task.task_id, round, key)
        self._send(task, sender, tx, "reopen", task.task_id, round, key)

    @rule(data=st.data())
    def propose_honest(self, data: st.DataObject) -> None:
        """The leader of the turn (or, before there is one, a member) proposes a block
        with a passing global model, a valid proof and accepted submitters in order."""
        task = self._task(data)
        chain = task.chain
        holder = leader_at(chain, self._next_timestamp())
        if holder is None:
            sender = data.draw(st.sampled_from(task.members), label="sender")
        else:
            sender = self._account(holder.submitter)
        count = data.draw(st.integers(chain.registration.min_count, NUM_SAMPLES), label="g")
        commitment = data.draw(st.integers(0, FIELD_ORDER - 1), label="G")
        submitters = [e.submitter for e in chain.round.entries]
        accepted = (
            data.draw(st.lists(st.sampled_from(submitters), unique=True)) if submitters else []
        )
        turn = turn_at(chain, self._next_timestamp())
        owed = [h.submitter for h in chain.round.hand_overs if h.turn == turn]
        excluded = [
            Exclusion(a, data.draw(st.sampled_from([KEY, None]), label="shown"))
            for a in sort_addresses(owed)
            if a not in accepted
        ]
        if excluded and data.draw(st.booleans(), label="leave one out"):
            excluded.pop(data.draw(st.integers(0, len(excluded) - 1)))
        args = (commitment, count, sort_addresses(accepted), "self", "valid", excluded)
        self._propose(task, sender, len(chain.blocks), chain.head, *args)

    @rule(data=st.data())
    def propose_hostile(self, data: st.DataObject) -> None:
        """Anyone proposes anything: another round or parent, a count or commitment the
        rules refuse, a proof bound to another leader, accepted lists out of order or
        naming non-submitters."""
        task, sender = self._task_and_sender(data)
        chain = task.chain
        parent = data.draw(st.sampled_from([chain.head, bytes(32), keccak(text="fork")]))
        count = data.draw(st.integers(0, NUM_SAMPLES + 1), label="g")
        commitment = data.draw(
            st.one_of(st.integers(0, FIELD_ORDER - 1), st.just(FIELD_ORDER)), label="G"
        )
        every = [a.address for a in self.world.accounts]
        accepted = data.draw(st.lists(st.sampled_from(every), max_size=3), label="accepted")
        tagged = data.draw(st.sampled_from(["self", "other", "garbage"]), label="proof")
        aggregate = data.draw(st.sampled_from(["valid", "garbage"]), label="aggregation proof")
        excluded = data.draw(
            st.lists(
                st.builds(
                    Exclusion,
                    st.sampled_from(every).map(Address),
                    st.sampled_from([KEY, OTHER_KEY, None]),
                ),
                max_size=3,
            ),
            label="excluded",
        )
        args = (commitment, count, accepted, tagged, aggregate, excluded)
        self._propose(task, sender, self._round(data, task), parent, *args)

    @rule(data=st.data())
    def skip(self, data: st.DataObject) -> None:
        """Anyone asks to skip a round."""
        task, sender = self._task_and_sender(data)
        round = self._round(data, task)
        tx = Skip(Address(sender.address), task.task_id, round)
        self._send(task, sender, tx, "skipRound", task.task_id, round)

    def _submit(
        self,
        task: TaskUnderTest,
        sender: LocalAccount,
        round: int,
        commitment: int,
        count: int,
        tagged: str,
    ) -> None:
        proof = self._proof(task, round, sender, commitment, count, tagged, binding_tag)
        address = Address(sender.address)
        tx = Submission(address, task.task_id, round, FieldElement(commitment), count, CID, proof)
        args = (task.task_id, round, commitment, count, CID, list(proof))
        self._send(task, sender, tx, "submit", *args)

    def _hand_over(
        self,
        task: TaskUnderTest,
        sender: LocalAccount,
        round: int,
        leader: Address,
        key: bytes,
        committed: bytes,
    ) -> None:
        tx = HandOver(Address(sender.address), task.task_id, round, leader, key, Hash32(committed))
        self._send(task, sender, tx, "handOver", task.task_id, round, leader, key, committed)

    def _propose(
        self,
        task: TaskUnderTest,
        sender: LocalAccount,
        round: int,
        parent: bytes,
        commitment: int,
        count: int,
        accepted: list[str],
        tagged: str,
        aggregate: str,
        excluded: list[Exclusion],
    ) -> None:
        proof = self._proof(task, round, sender, commitment, count, tagged, global_tag)
        aggregation_proof: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
        if aggregate == "valid":
            try:
                accepted_ = tuple(Address(a) for a in accepted)
                inputs = aggregation_inputs(task.chain, FieldElement(commitment), accepted_)
                aggregation_proof = stand_in_aggregate_proof(inputs)
            except InvalidTransaction:
                pass  # the list itself is refused: any proof will do
        tx = Proposal(
            Address(sender.address),
            task.task_id,
            round,
            Hash32(parent),
            FieldElement(commitment),
            count,
            CID,
            tuple(Address(a) for a in accepted),
            proof,
            aggregation_proof,
            tuple(excluded),
        )
        args = (
            task.task_id,
            round,
            parent,
            commitment,
            count,
            CID,
            accepted,
            [(e.submitter, e.key or bytes(32)) for e in excluded],
            list(proof),
            list(aggregation_proof),
        )
        self._send(task, sender, tx, "proposeBlock", *args)

    @rule(seconds=st.integers(1, 30))
    def wait(self, seconds: int) -> None:
        self.ledger.advance_time(seconds)

    # ---------------------------------------------------------------- agreement

    @invariant()
    def views_agree(self) -> None:
        """What the contract's views say now is what the specification says: the head, and
        the current round's schedule, status, turn and leader."""
        # eth-tester runs a call in the context of the latest block, at its timestamp.
        now = Timestamp(self.ledger.timestamp())
        for task in self.tasks:
            chain = task.chain
            head = self.ledger.head(task.task_id)
            assert (head.block_hash, head.next_round) == (chain.head, len(chain.blocks))
            if chain.finished:
                continue
            view = self.ledger.round_state(task.task_id, chain.round.number)
            assert view.opened_at == chain.round.opened_at
            assert view.deadline == chain.deadline
            assert view.submitted == len(chain.round.entries)
            leader = leader_at(chain, now)
            if is_closed(chain, now):
                assert view.status == RoundStatus.CLOSED
                assert view.turn == turn_at(chain, now)
                assert view.turn_ends == turn_ends(chain, now)
            else:
                assert view.status == RoundStatus.OPEN
            assert view.leader == (leader.submitter if leader else None)
            assert view.best_count == (leader.count if leader else 0)
            for member in task.members:
                record = chain.round.hand_over(Address(member.address))
                seen = self.ledger.hand_over_state(task.task_id, chain.round.number, member.address)
                if record is None:
                    assert seen is None
                    continue
                assert seen is not None
                assert (seen.turn, seen.key_hash) == (record.turn, record.key_hash)
                assert (seen.contested_at, seen.reopened) == (record.contested_at, record.reopened)

    def _send(
        self, task: TaskUnderTest, sender: LocalAccount, tx: Transaction, fn: str, *args: Any
    ) -> None:
        """Mine ``tx`` on the contract and apply it to the spec; both must agree."""
        now = self._next_timestamp()
        expected: InvalidTransaction | None = None
        try:
            after = state_transition(
                task.chain, tx, now, stand_in_verify, stand_in_verify_aggregate
            )
        except InvalidTransaction as error:
            expected, after = error, task.chain
        try:
            self.ledger.transact(sender, fn, *args, gas=GAS)
            outcome: ContractError | None = None
        except ContractError as error:
            outcome = error
        assert self.ledger.timestamp() == now, "the transaction was mined at another time"
        if expected is None:
            assert outcome is None, f"the spec accepts {tx}, the contract says {outcome}"
        else:
            assert outcome is not None, f"the contract accepts {tx}, the spec says {expected}"
            assert type(outcome).__name__ == type(expected).__name__, (outcome, expected)
            assert isinstance(outcome, type(expected))
            assert outcome.values == expected.values, (outcome, expected)
        event(f"{fn}: {'accepted' if expected is None else type(expected).__name__}")
        task.chain = after
        if isinstance(tx, Submission) and expected is None:
            seen = self.ledger.submission(task.task_id, tx.round, sender.address)
            assert seen is not None and (seen.count, seen.commitment) == (tx.count, tx.commitment)
        if isinstance(tx, Proposal | Skip) and expected is None:
            block = after.blocks[-1]
            assert self.ledger.block_hash(task.task_id, block.round) == block.hash

    # ---------------------------------------------------------------- choices

    def _next_timestamp(self) -> Timestamp:
        return Timestamp(self.ledger.timestamp() + 1)

    def _task(self, data: st.DataObject) -> TaskUnderTest:
        return self.tasks[data.draw(st.integers(0, len(self.tasks) - 1), label="task")]

    def _sender(self, data: st.DataObject, task: TaskUnderTest) -> LocalAccount:
        """Mostly a member of the task; sometimes anyone (hostile or just unregistered)."""
        return data.draw(st.sampled_from(task.members * 3 + self.world.accounts), label="sender")

    def _task_and_sender(self, data: st.DataObject) -> tuple[TaskUnderTest, LocalAccount]:
        task = self._task(data)
        return task, self._sender(data, task)

    def _round(self, data: st.DataObject, task: TaskUnderTest) -> int:
        current = len(task.chain.blocks)
        return data.draw(
            st.sampled_from([current, current, current, max(current - 1, 0), current + 1]),
            label="round",
        )

    def _account(self, address: str) -> LocalAccount:
        return next(a for a in self.world.accounts if a.address == address)

    def _proof(
        self,
        task: TaskUnderTest,
        round: int,
        sender: LocalAccount,
        commitment: int,
        count: int,
        tagged: str,
        tag_of: Callable[[int, str, int, int, str], FieldElement],
    ) -> tuple[int, ...]:
        """A stand-in proof bound to ``sender`` ("self"), to another account ("other", a
        replay), or no proof at all ("garbage")."""
        if tagged == "garbage":
            return (1, 2, 3, 4, 5, 6, 7, 8)
        reg = task.chain.registration
        others = (a for a in self.world.accounts if a.address != sender.address)
        who = sender if tagged == "self" else next(others)
        tag = tag_of(reg.chain_id, reg.ledger, reg.task_id, round, who.address)
        return stand_in_proof(commitment % 2**255, count, tag)


ContractAgreesWithSpec.TestCase.settings = settings.get_profile("ci")
TestContractAgreesWithSpec = ContractAgreesWithSpec.TestCase
