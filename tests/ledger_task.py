"""A registered task on a ledger, and helpers to act in it, for the ledger's tests
(test_ledger_*.py).

Proofs are real: ``zkpot.proving`` proves, for a tiny circuit (the ``prover`` fixture), models
whose correct-count each test chooses among 9, 7, 5 and 3 of 24 test samples, both for
submissions (bound by the submitter's binding tag) and for the global model of each block
(bound by the leader's global tag). A rejection is sent as a real transaction (bypassing the
Python checks) and must revert with its custom error and leave the state as it was
(:func:`assert_rejected_on_chain`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from stand_ins import deploy_stand_in_aggregator, stand_in_aggregate_proof

from zkpot.ledger import ContractError, Ledger, Member, TaskParams, TxResult
from zkpot.ledger.ledger import SUBMIT_GAS, BlockProposal
from zkpot.protocol import Exclusion, InvalidTransaction
from zkpot.protocol.hashes import key_hash, tie_break_rank
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver


WINDOW = 3_600
GAS_BUDGET = 300_000
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
#: A stand-in sealed box (80 bytes); the ledger checks only its length.
SEALED_KEY = bytes(range(80))
#: A stand-in package key and the hash a hand-over commits to it by.
PACKAGE_KEY = bytes(range(100, 132))
KEY_HASH = key_hash(PACKAGE_KEY)
ZERO_ADDRESS = "0x" + "00" * 20
#: Registered sample counts, cycled over the participants.
SAMPLES = (120, 80, 200, 50)


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
        self.aggregator = deploy_stand_in_aggregator(ledger, len(self.accounts))
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
                Member(a.address, keccak(text=f"x25519 {i}"), SAMPLES[i % len(SAMPLES)])
                for i, a in enumerate(self.accounts)
            ),
            aggregator=self.aggregator,
            padding_commitment=commitment_of("padding"),
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
        accepted: Sequence[str] | None = None,
        count: int | None = None,
        excluded: Sequence[Exclusion] = (),
    ) -> BlockProposal:
        """Propose a block whose global model is ``proof``'s (optionally claiming another
        ``count``) through the ledger API, with a stand-in aggregation proof of the
        ``accepted`` set (by default the leader alone); ``parent`` defaults to the current
        head."""
        if parent is None:
            parent = self.ledger.head(self.task_id).block_hash
        if accepted is None:
            accepted = [leader.address]
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
            self.aggregation_proof(round, proof.commitment, accepted),
            excluded,
        )

    def aggregation_proof(
        self, round: int, global_commitment: int, accepted: Sequence[str]
    ) -> list[int]:
        """A stand-in aggregation proof for the statement the ledger gives ``accepted``
        (any valid-looking words where the ledger would refuse the list itself)."""
        try:
            inputs = self.ledger.aggregation_inputs(
                self.task_id, round, global_commitment, accepted
            )
        except ContractError:
            return [0] * 8
        return list(stand_in_aggregate_proof(inputs))

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
