"""A whole ZKPoT federation in one process: the main job.

The publisher sets up the task's circuit, deploys its verifier and registers the task with
every participant's address and X25519 key. Each round then runs the participants' two
phases (see :mod:`zkpot.participant`) against a real ledger (the in-process EVM by
default, any JSON-RPC node otherwise) and a real content store. With ``proofs=False`` the
same training and aggregation run as plain FedAvg, with no ledger: the undefended baseline.

``behaviours`` gives chosen participants an adversarial :class:`~zkpot.participant.Behaviour`
(see :mod:`zkpot.attacks.behaviours`); everything the protocol refuses them is recorded in
the round result as a :class:`Refusal` naming the layer and the rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray

from zkpot import proving
from zkpot.defaults import default_training
from zkpot.exchange import global_commitment, initial_global, seal_global
from zkpot.learning.datasets import Dataset, load_dataset
from zkpot.learning.fedavg import fedavg
from zkpot.learning.model import MLP
from zkpot.learning.partition import dirichlet, iid
from zkpot.ledger import Ledger
from zkpot.ledger.errors import LedgerError
from zkpot.ledger.ledger import ZERO_ADDRESS
from zkpot.ledger.model import Participant as Registration
from zkpot.ledger.model import RoundStatus, TaskParams
from zkpot.participant import (
    Abstained,
    Behaviour,
    Identity,
    Participant,
    Submitted,
    Training,
    Unprovable,
)
from zkpot.protocol import BelowThreshold, InvalidSubmission, InvalidTransaction, RoundBlock, Task
from zkpot.store import ContentStore, LocalStore

#: progress(phase, done, total): called as work advances, for progress bars.
Progress = Callable[[str, int, int], None]


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class Refusal:
    """Something a participant did in a round that the protocol refused.

    ``layer`` is who refused it: ``"ledger"`` (a reverted transaction; ``rule`` is the
    contract's custom error, e.g. ``InvalidProof``, or ``GlobalBelowThreshold`` for a
    leader's block), ``"client"`` (the participant's own software; ``rule`` is the
    protocol rule it would break) or ``"leader"`` (the leader left the submission out of
    the aggregate; ``rule`` is its reason).
    """

    participant: str
    layer: str
    rule: str
    detail: str = ""


@dataclass
class RoundResult:
    """What one round produced, as the report shows it."""

    round: int
    block: RoundBlock | None
    leader: str
    counts: dict[str, int]
    local_accuracy: dict[str, float]
    prove_s: dict[str, float]
    verify_ms: dict[str, float]
    submit_gas: dict[str, int]
    handover_gas: dict[str, int]
    propose_gas: int
    global_accuracy: float
    seconds: float
    not_submitted: dict[str, str] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    #: Leaders whose turn passed without a block, in turn order.
    passed_over: list[str] = field(default_factory=list)
    #: Each submission's model commitment and the CID of its sealed package in the store.
    commitments: dict[str, int] = field(default_factory=dict)
    model_cids: dict[str, str] = field(default_factory=dict)

    def refused(self, participant: str) -> list[Refusal]:
        """The refusals of one participant in this round."""
        return [x for x in self.refusals if x.participant == participant]


@dataclass
class FederationResult:
    """A finished federation: setup figures, one entry per round, the final model."""

    task: Task
    participants: list[str]
    addresses: dict[str, str]
    proofs: bool
    seed: int
    setup_s: float
    constraints: int
    rounds: list[RoundResult] = field(default_factory=list)
    global_params: list[NDArray[np.float64]] = field(default_factory=list)
    task_id: int = 0
    behaviours: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "task": {
                "name": self.task.name,
                "dataset": self.task.dataset,
                "widths": list(self.task.spec.widths),
                "test_samples": self.task.num_samples,
                "min_count": self.task.min_count,
                "rounds": self.task.rounds,
                "test_set_hash": self.task.test_set_hash.hex(),
                "task_id": self.task_id,
            },
            "proofs": self.proofs,
            "seed": self.seed,
            "behaviours": self.behaviours,
            "participants": {name: self.addresses.get(name, "") for name in self.participants},
            "setup_s": round(self.setup_s, 3),
            "constraints": self.constraints,
            "rounds": [
                {
                    "round": r.round,
                    "leader": r.leader,
                    "leader_accuracy": r.block.leader_accuracy if r.block else None,
                    "global_proven_accuracy": (r.block.global_proven_accuracy if r.block else None),
                    "passed_over": r.passed_over,
                    "skipped": bool(r.block and r.block.skipped),
                    "block_hash": "0x" + r.block.hash.hex() if r.block else None,
                    "counts": r.counts,
                    "local_accuracy": r.local_accuracy,
                    "prove_s": r.prove_s,
                    "verify_ms": r.verify_ms,
                    "submit_gas": r.submit_gas,
                    "commitments": {name: hex(c) for name, c in r.commitments.items()},
                    "model_cids": r.model_cids,
                    "handover_gas": r.handover_gas,
                    "propose_gas": r.propose_gas,
                    "global_accuracy": r.global_accuracy,
                    "seconds": round(r.seconds, 3),
                    "rejected": [vars(x) for x in r.block.rejected] if r.block else [],
                    "not_submitted": r.not_submitted,
                    "refusals": [vars(x) for x in r.refusals],
                    "absent": r.absent,
                }
                for r in self.rounds
            ],
        }


class Federation:
    """A task, its participants and the engines they share."""

    def __init__(
        self,
        task: Task,
        participants: int = 5,
        alpha: float | None = None,
        seed: int = 0,
        ledger: Ledger | None = None,
        store: ContentStore | None = None,
        proofs: bool = True,
        training: Training | None = None,
        progress: Progress = _no_progress,
        behaviours: Mapping[int, Behaviour] | None = None,
        keys: tuple[proving.ProvingKey, proving.VerifyingKey] | None = None,
    ) -> None:
        """``training`` defaults to the task dataset's (see :mod:`zkpot.defaults`);
        ``behaviours`` maps participant indices to non-honest behaviours; ``keys`` reuses
        a proving and verifying key already set up for ``task``'s circuit."""
        if participants < 1:
            raise ValueError("a federation needs at least one participant")
        behaviours = dict(behaviours or {})
        if any(not 0 <= i < participants for i in behaviours):
            raise ValueError(f"behaviour indices must lie in [0, {participants})")
        self.task = task
        self.seed = seed
        self.proofs = proofs
        self.progress = progress
        self.data: Dataset = load_dataset(task.dataset)
        training = training if training is not None else default_training(task.dataset)
        labels = self.data.y_train
        parts = (
            iid(labels, participants, seed)
            if alpha is None
            else dirichlet(labels, participants, alpha, seed)
        )
        self.participants = [
            Participant(
                f"P{i}",
                i,
                Identity.generate(),
                self.data.x_train[idx].astype(np.float64),
                self.data.y_train[idx],
                task,
                seed,
                training,
                behaviours.get(i),
            )
            for i, idx in enumerate(parts)
        ]
        self._ledger = ledger
        self._store = store
        self._keys = keys

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.in_process()
        return self._ledger

    @property
    def store(self) -> ContentStore:
        if self._store is None:
            import tempfile
            from pathlib import Path

            self._store = LocalStore(Path(tempfile.mkdtemp(prefix="zkpot-store-")))
        return self._store

    def initial_params(self) -> list[NDArray[np.float64]]:
        return MLP(self.task.spec.widths, np.random.default_rng([self.seed, 0])).get_params()

    def evaluate(self, params: Sequence[NDArray[np.float64]]) -> float:
        model = MLP.from_params([np.array(p) for p in params])
        return float(model.accuracy(self.data.x_test.astype(np.float64), self.data.y_test))

    # ------------------------------------------------------------------ the run

    def run(self) -> FederationResult:
        result = self._run_zkpot() if self.proofs else self._run_plain()
        result.behaviours = {
            p.name: p.behaviour.name for p in self.participants if p.behaviour.name != "honest"
        }
        return result

    def _run_plain(self) -> FederationResult:
        """Plain FedAvg over the same partitions and training: no proofs, no ledger.

        The server averages whatever model each participant hands it (for an adversary,
        the one its behaviour hands the leader)."""
        result = FederationResult(
            self.task, [p.name for p in self.participants], {}, False, self.seed, 0.0, 0
        )
        params = self.initial_params()
        n = len(self.participants)
        for r in range(self.task.rounds):
            t0 = time.perf_counter()
            models, weights, absent = [], [], []
            for i, p in enumerate(self.participants):
                self.progress(f"round {r}: train", i, n)
                if not p.behaviour.takes_part(p, r):
                    absent.append(p.name)
                    continue
                p.train(r, params)
                models.append(p.behaviour.handed_model(p, r).get_params())
                weights.append(p.num_samples)
            self.progress(f"round {r}: train", n, n)
            params = fedavg(models, weights)
            rr = RoundResult(r, None, "", {}, {}, {}, {}, {}, {}, 0, 0.0, 0.0, absent=absent)
            rr.global_accuracy = self.evaluate(params)
            rr.seconds = time.perf_counter() - t0
            result.rounds.append(rr)
        result.global_params = params
        return result

    def _setup(self) -> tuple[proving.ProvingKey, proving.VerifyingKey, int, LocalAccount, float]:
        self.progress("setup", 0, 1)
        t = time.perf_counter()
        pk, vk = self._keys if self._keys is not None else proving.setup(self.task.circuit)
        setup_s = time.perf_counter() - t
        ledger, store = self.ledger, self.store
        publisher = ledger.new_account()
        for p in self.participants:
            ledger.fund(p.address, 10**18)
        verifier = ledger.deploy_verifier(vk.to_evm(), publisher)
        initial = initial_global(self.task.spec, self.task.test_x, self.seed, proving.new_salt())
        registry = {p.address: p.identity.keys.public for p in self.participants}
        params = TaskParams(
            verifier=verifier,
            test_set_hash=self.task.test_set_hash,
            test_set_cid=store.put(self.task.test_set_bytes()),
            model_spec_hash=self.task.model_spec_hash,
            min_count=self.task.min_count,
            num_samples=self.task.num_samples,
            rounds=self.task.rounds,
            window=self.task.window_s,
            initial_commitment=global_commitment(initial),
            initial_cid=store.put(seal_global(initial, registry)),
            participants=tuple(Registration(a, k) for a, k in registry.items()),
        )
        task_id = ledger.register_task(publisher, params)
        self.progress("setup", 1, 1)
        return pk, vk, task_id, publisher, setup_s

    def _run_zkpot(self) -> FederationResult:
        pk, vk, task_id, _, setup_s = self._setup()
        ledger, store = self.ledger, self.store
        result = FederationResult(
            self.task,
            [p.name for p in self.participants],
            {p.name: p.address for p in self.participants},
            True,
            self.seed,
            setup_s,
            pk.num_constraints,
            task_id=task_id,
        )
        registry = {p.address: p.identity.keys.public for p in self.participants}
        order = [p.address for p in self.participants]
        on_chain = ledger.task(task_id)
        cid, commitment = on_chain.initial_cid, on_chain.initial_commitment
        n = len(self.participants)
        for r in range(self.task.rounds):
            t0 = time.perf_counter()
            rr = RoundResult(r, None, "", {}, {}, {}, {}, {}, {}, 0, 0.0, 0.0)
            for i, p in enumerate(self.participants):
                self.progress(f"round {r}: train, prove, submit", i, n)
                if not p.behaviour.takes_part(p, r):
                    rr.absent.append(p.name)
                    continue
                p.train(r, p.read_global(store, cid, commitment))
                try:
                    done = p.prove_and_submit(ledger, store, pk, task_id, r)
                except (InvalidSubmission, LedgerError, Abstained, Unprovable) as exc:
                    rr.not_submitted[p.name] = (
                        exc.explain() if isinstance(exc, InvalidTransaction) else str(exc)
                    )
                    if not isinstance(exc, Abstained | Unprovable):
                        layer = "ledger" if isinstance(exc, LedgerError) else "client"
                        rr.refusals.append(Refusal(p.name, layer, type(exc).__name__, str(exc)))
                    continue
                rr.counts[p.name] = done.count
                rr.local_accuracy[p.name] = done.local_accuracy
                rr.prove_s[p.name] = round(done.prove_s, 3)
                rr.submit_gas[p.name] = done.gas
                rr.commitments[p.name] = done.commitment
                rr.model_cids[p.name] = done.model_cid
                rr.verify_ms[p.name] = round(self._verify_ms(vk, p, done), 3)
            self.progress(f"round {r}: train, prove, submit", n, n)
            self._close_window(task_id, r)
            block = self._decide(pk, task_id, r, rr, registry, order)
            rr.block = block
            cid, commitment = block.global_cid, block.global_commitment
            params = self.participants[0].read_global(store, cid, commitment)
            rr.global_accuracy = self.evaluate(params)
            rr.seconds = time.perf_counter() - t0
            result.rounds.append(rr)
            result.global_params = params
        return result

    def _decide(
        self,
        pk: proving.ProvingKey,
        task_id: int,
        r: int,
        rr: RoundResult,
        registry: Mapping[str, bytes],
        order: Sequence[str],
    ) -> RoundBlock:
        """Phase two of round ``r``, turn by turn: the submitters hand their keys to the
        current leader, which aggregates, proves the global model and proposes. A leader
        that fails (the ledger refuses its block, or an honest aggregate cannot pass the
        threshold) loses its turn to the next-best submitter; with no leader left, the
        round is skipped and the previous global model carries over."""
        ledger, store = self.ledger, self.store
        by_address = {p.address: p for p in self.participants}
        self.progress(f"round {r}: hand over, aggregate", 0, 1)
        while True:
            state = ledger.round_state(task_id, r)
            if state.leader is None:
                proposal = ledger.skip_round(None, task_id, r)
                block = self._skipped_block(task_id, r)
                if block.hash != proposal.block_hash:
                    raise RuntimeError("the ledger's block hash differs from the protocol's")
                rr.propose_gas = proposal.tx.gas_used
                rr.leader = ""
                break
            leader = by_address[state.leader]
            rr.leader = leader.name
            for p in self.participants:
                if p is not leader and r in p.submitted:
                    gas = p.hand_over(
                        ledger, task_id, r, leader.address, leader.identity.keys.public
                    )
                    rr.handover_gas[p.name] = rr.handover_gas.get(p.name, 0) + gas
            for p in self.participants:
                if p is not leader and p.name not in rr.absent:
                    try:
                        p.behaviour.not_leading(p, ledger, task_id, r)
                    except LedgerError as exc:
                        rr.refusals.append(Refusal(p.name, "ledger", type(exc).__name__, str(exc)))
            try:
                block, _, gas = leader.lead(ledger, store, pk, task_id, r, registry, order)
                rr.propose_gas = gas
                break
            except (LedgerError, BelowThreshold) as exc:
                layer = "ledger" if isinstance(exc, LedgerError) else "client"
                rr.refusals.append(Refusal(leader.name, layer, type(exc).__name__, str(exc)))
                rr.passed_over.append(leader.name)
                self._wait_until(state.turn_ends)
        name_of = {p.address: p.name for p in self.participants}
        rr.refusals.extend(
            Refusal(name_of.get(x.submitter, x.submitter), "leader", x.reason)
            for x in block.rejected
        )
        self.progress(f"round {r}: hand over, aggregate", 1, 1)
        return block

    def _skipped_block(self, task_id: int, r: int) -> RoundBlock:
        """The block ``skipRound`` appends: the previous global model, no leader."""
        on_chain = self.ledger.round_block(task_id, r)
        assert on_chain is not None
        parent = (
            self.ledger.genesis_hash(task_id) if r == 0 else self.ledger.block_hash(task_id, r - 1)
        )
        assert parent is not None
        return RoundBlock(
            task_id=task_id,
            round=r,
            parent_hash=parent,
            leader=ZERO_ADDRESS,
            leader_count=0,
            num_samples=self.task.num_samples,
            global_commitment=on_chain.global_commitment,
            global_count=on_chain.global_count,
            global_cid=on_chain.global_cid,
            accepted=(),
        )

    def _wait_until(self, timestamp: int) -> None:
        """Let the chain reach ``timestamp``: a local chain is moved there, others slept on."""
        wait = timestamp - self.ledger.timestamp()
        if wait <= 0:
            return
        try:
            self.ledger.advance_time(wait)
        except LedgerError:
            time.sleep(wait)

    def _close_window(self, task_id: int, r: int) -> None:
        """Wait for the submission window to close (at once when everyone submitted).

        A local chain is moved past the deadline; on any other chain this sleeps."""
        state = self.ledger.round_state(task_id, r)
        if state.status == RoundStatus.OPEN:
            self._wait_until(state.deadline + 1)

    @staticmethod
    def _verify_ms(vk: proving.VerifyingKey, p: Participant, done: Submitted) -> float:
        """Every node checks every proof natively too; this is the time one check takes."""
        proof = proving.Proof.from_bytes(done.proof)
        t = time.perf_counter()
        ok = proving.verify(vk, done.commitment, done.count, done.tag, proof)
        if not ok:
            raise RuntimeError(f"{p.name}'s proof did not verify")
        return (time.perf_counter() - t) * 1e3
