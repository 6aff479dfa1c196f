"""A whole ZKPoT federation in one process: the main job.

A thin driver of the participants' state machine (:mod:`zkpot.participant.machine`): it
publishes the task (:func:`zkpot.publish.task_params`), then each round steps every
participant against the ledger (the in-process EVM by default, any JSON-RPC node
otherwise) and a real content store, and moves the chain's clock on when they all wait
(past the deadline, or to the end of a leader's turn). The process node
(:mod:`zkpot.node.runner`) drives the same machine across processes. With
``proofs=False`` the same training and aggregation run as plain FedAvg, with no ledger:
the undefended baseline.

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
from numpy.typing import NDArray

from zkpot import proving
from zkpot.defaults import default_training
from zkpot.learning.datasets import Dataset, load_dataset
from zkpot.learning.fedavg import fedavg
from zkpot.learning.model import MLP, initial_model
from zkpot.ledger import Ledger, LedgerError, Member, RoundStatus
from zkpot.participant import (
    Behaviour,
    Identity,
    Participant,
    Submitted,
    Training,
    split_training_data,
)
from zkpot.participant.machine import RoundMachine, Waiting
from zkpot.participant.records import MemoryRecords
from zkpot.protocol import RoundBlock, Task
from zkpot.publish import task_params
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
    #: The block's aggregation proof: ``{"contributions", "prove_s", "verified", "gas"}``
    #: (``gas``: what the task's aggregation verifier costs for it alone); None for a
    #: skipped round.
    aggregation_proof: dict[str, Any] | None = None
    #: The hand-overs the block excludes, as the chain shows them: participant -> whether
    #: the exclusion shows the handed key (False: a contest left unanswered).
    excluded: dict[str, bool] = field(default_factory=dict)

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
    #: The aggregation circuit's constraints and setup time.
    aggregation_constraints: int = 0
    aggregation_setup_s: float = 0.0
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
            "aggregation_setup_s": round(self.aggregation_setup_s, 3),
            "aggregation_constraints": self.aggregation_constraints,
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
                    "aggregation_proof": r.aggregation_proof,
                    "excluded": r.excluded,
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
        aggregation_keys: tuple[proving.AggregationKey, proving.VerifyingKey] | None = None,
    ) -> None:
        """``training`` defaults to the task dataset's (see :mod:`zkpot.defaults`);
        ``behaviours`` maps participant indices to non-honest behaviours; ``keys`` reuses
        a proving and verifying key already set up for ``task``'s circuit, and
        ``aggregation_keys`` those of its aggregation circuit with one slot per
        participant (at most 64)."""
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
        self.participants = [
            Participant(
                f"P{i}", i, Identity.generate(), x, y, task, seed, training, behaviours.get(i)
            )
            for i, (x, y) in enumerate(split_training_data(task.dataset, participants, alpha, seed))
        ]
        self._ledger = ledger
        self._store = store
        self._keys = keys
        self._aggregation_keys = aggregation_keys

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
        return initial_model(self.task.spec.widths, self.seed).get_params()

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

    def _publish(self) -> tuple[proving.ProvingKey, proving.VerifyingKey, int, FederationResult]:
        """Set up both circuits (unless keys were given), fund the participants, publish."""
        self.progress("setup", 0, 2)
        t = time.perf_counter()
        pk, vk = self._keys if self._keys is not None else proving.setup(self.task.circuit)
        setup_s = time.perf_counter() - t
        self.progress("setup", 1, 2)
        t = time.perf_counter()
        capacity = min(len(self.participants), proving.MAX_AGGREGATION_CAPACITY)
        if self._aggregation_keys is None:
            self._aggregation_keys = proving.setup_aggregation(
                self.task.aggregation_circuit(capacity)
            )
        aggregation_setup_s = time.perf_counter() - t
        key, aggregation_vk = self._aggregation_keys
        if key.capacity != capacity:
            raise ValueError(f"the aggregation key has {key.capacity} slots, not {capacity}")
        ledger = self.ledger
        publisher = ledger.new_account()
        for p in self.participants:
            ledger.fund(p.address, 10**18)
        members = [
            Member(p.address, p.identity.keys.public, p.num_samples) for p in self.participants
        ]
        params = task_params(
            ledger, self.store, publisher, self.task, vk, aggregation_vk, members, self.seed
        )
        task_id = ledger.register_task(publisher, params)
        self.progress("setup", 2, 2)
        result = FederationResult(
            self.task,
            [p.name for p in self.participants],
            {p.name: p.address for p in self.participants},
            True,
            self.seed,
            setup_s,
            pk.num_constraints,
            task_id=task_id,
            aggregation_constraints=key.num_constraints,
            aggregation_setup_s=aggregation_setup_s,
        )
        return pk, vk, task_id, result

    def _run_zkpot(self) -> FederationResult:
        pk, vk, task_id, result = self._publish()
        assert self._aggregation_keys is not None
        registry = {p.address: p.identity.keys.public for p in self.participants}
        events: list[dict[str, Any]] = []
        machines = [
            RoundMachine(
                p,
                self.ledger,
                self.store,
                pk,
                task_id,
                registry,
                self._aggregation_keys[0],
                MemoryRecords(),
                events.append,
            )
            for p in self.participants
        ]
        for r in range(self.task.rounds):
            t0 = time.perf_counter()
            events.clear()
            self._run_round(machines, task_id, r, events)
            rr = self._round_result(machines, vk, r, events)
            params = self.participants[0].read_global(
                self.store, rr.block.global_cid, rr.block.global_commitment
            )
            rr.global_accuracy = self.evaluate(params)
            rr.seconds = time.perf_counter() - t0
            result.rounds.append(rr)
            result.global_params = params
        return result

    def _run_round(
        self, machines: Sequence[RoundMachine], task_id: int, r: int, events: list[Any]
    ) -> None:
        """Step every participant, in registration order, until round ``r`` is done.

        When a pass changes nothing, a leader waiting for package keys goes on without
        the missing ones; otherwise the chain's clock moves to the next thing everyone
        waits for: the deadline, the end of a contested submitter's response time, or the
        end of the current leader's turn."""
        n = len(machines)
        for i, machine in enumerate(machines):  # phase one, one participant after another
            self.progress(f"round {r}: train, prove, submit", i, n)
            machine.step(r)
        self.progress(f"round {r}: train, prove, submit", n, n)
        self.progress(f"round {r}: hand over, aggregate", 0, 1)
        while True:
            seen = len(events)
            waiting = [m.step(r) for m in machines]
            if all(w == Waiting.NOTHING for w in waiting):
                break
            if len(events) > seen:
                continue
            if Waiting.KEYS in waiting:
                for machine, w in zip(machines, waiting, strict=True):
                    if w == Waiting.KEYS:
                        machine.step(r, stop_waiting_for_keys=True)
                continue
            state = self.ledger.round_state(task_id, r)
            responses = [m.respond_by for m in machines if m.respond_by is not None]
            if state.status == RoundStatus.OPEN:
                self._wait_until(state.deadline + 1)
            elif Waiting.RESPONSE in waiting and responses:
                self._wait_until(min(responses))
            else:
                self._wait_until(state.turn_ends)
        self.progress(f"round {r}: hand over, aggregate", 1, 1)

    def _round_result(
        self,
        machines: Sequence[RoundMachine],
        vk: proving.VerifyingKey,
        r: int,
        events: Sequence[dict[str, Any]],
    ) -> RoundResult:
        """What round ``r`` produced, from the participants' events and records."""
        rr = RoundResult(r, None, "", {}, {}, {}, {}, {}, {}, 0, 0.0, 0.0)
        name_of = {p.address: p.name for p in self.participants}
        refusals: list[Refusal] = []
        for e in events:
            name = name_of[e["address"]]
            kind = e["event"]
            if kind == "skipped":
                if e.get("absent"):
                    rr.absent.append(name)
                else:
                    rr.not_submitted[name] = e["reason"]
            elif kind == "handed_over":
                rr.handover_gas[name] = rr.handover_gas.get(name, 0) + e["gas"]
            elif kind == "no_block":
                rr.passed_over.append(name)
            elif kind in ("proposed", "skipped_round"):
                rr.propose_gas = e["gas"]
            if "rule" in e:
                refusals.append(Refusal(name, e["layer"], e["rule"], e["detail"]))
        for machine in machines:
            p, record = machine.participant, machine.records.record(r)
            if record is not None and record.submit_gas is not None:
                done = p.submitted[r]
                rr.counts[p.name] = done.count
                rr.local_accuracy[p.name] = done.local_accuracy
                rr.prove_s[p.name] = round(done.prove_s, 3)
                rr.submit_gas[p.name] = done.gas
                rr.commitments[p.name] = done.commitment
                rr.model_cids[p.name] = done.model_cid
                rr.verify_ms[p.name] = round(self._verify_ms(vk, p, done), 3)
            if r in machine.blocks:
                rr.block = machine.blocks[r]
                if r in machine.aggregation_s and not rr.block.skipped:
                    rr.aggregation_proof = {
                        "contributions": len(rr.block.accepted),
                        "prove_s": round(machine.aggregation_s[r], 3),
                        "verified": machine.aggregation_verified.get(r, False),
                        "gas": self._aggregation_gas(machine, r),
                    }
        if rr.block is None:
            raise RuntimeError(f"round {r} ended without a block from any participant")
        rr.leader = name_of.get(rr.block.leader, "")
        task_id = machines[0].task_id
        rr.excluded = {
            name_of.get(e.submitter, e.submitter): e.key is not None
            for e in self.ledger.exclusions(task_id, r)
        }
        rr.refusals = refusals + [
            Refusal(name_of.get(x.submitter, x.submitter), "leader", x.reason)
            for x in rr.block.rejected
        ]
        return rr

    def _aggregation_gas(self, machine: RoundMachine, r: int) -> int | None:
        """Gas of the block's aggregation proof alone, as the task's verifier charges it
        (a separate transaction; None on a chain with no development account)."""
        proof = machine.aggregation_proofs.get(r)
        if proof is None:
            return None
        words, inputs = proof
        try:
            return self.ledger.verify_aggregation_gas(machine.aggregator, words, inputs)
        except LedgerError:
            return None

    def _wait_until(self, timestamp: int) -> None:
        """Let the chain reach ``timestamp``: a local chain is moved there, others slept on."""
        wait = timestamp - self.ledger.timestamp()
        if wait <= 0:
            return
        try:
            self.ledger.advance_time(wait)
        except LedgerError:
            time.sleep(wait)

    @staticmethod
    def _verify_ms(vk: proving.VerifyingKey, p: Participant, done: Submitted) -> float:
        """Every node checks every proof natively too; this is the time one check takes."""
        proof = proving.Proof.from_bytes(done.proof)
        t = time.perf_counter()
        ok = proving.verify(vk, done.commitment, done.count, done.tag, proof)
        if not ok:
            raise RuntimeError(f"{p.name}'s proof did not verify")
        return (time.perf_counter() - t) * 1e3
