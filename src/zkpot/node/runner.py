"""One participant of one task in its own process: the round loop, resumable after a crash.

The node learns everything from the chain by polling the ZKPoT views (``task``,
``round_state``, ``submission``, ``leader_of``, ``round_block``); it reads events only for
what exists nowhere else (the hand-overs, and the model CIDs the leader fetches). Each
round:

1. **Phase one.** Once round r is open: read the global model (round r-1's block, or the
   task's initial model), train (:meth:`Participant.train`), then *prepare*: quantise,
   commit with a fresh salt, prove, check the proof with the task's verifier contract
   (a static call, no gas) and store the sealed package. The salt, package key, proof,
   commitment and CID go to the state file **before** the ZKPoT transaction is sent, and
   the stage becomes ``submitted`` once it is mined.
2. **Phase two.** Once the window has closed (early when every registered participant
   has submitted): a submitter that is not the leader hands over its package key
   (:meth:`Participant.hand_over`); the leader waits for the other submitters' hand-overs
   (at most ``handover_timeout_s``), then opens, checks, aggregates, proves the global
   model, publishes and proposes (:meth:`Participant.lead`). If the leader's turn passes
   without a block, the ledger names the next-best submitter and the others hand over
   again; once no leader is left, any node skips the round.
3. When the round's block is on chain, the node reads and checks the global model
   (:meth:`Participant.read_global`) and records the round as ``done``.

**Why phase one is not** :meth:`Participant.prove_and_submit`. That method makes the salt
and package key and sends the transaction in one call, so the key exists only in memory
until the transaction is mined — on a public chain, for several blocks. A crash in that
span leaves a submission on chain that its owner can no longer open for the leader. The
node therefore runs the same steps (the same primitives, the same threshold rule) with a
write-ahead record in between.

**Resuming.** A restarted node (same state file) skips the rounds it finished, and in the
current round continues from its stage, checking the chain first: ``trained`` reuses the
stored local model; ``prepared`` looks up its submission on chain — present (with the
recorded commitment) means the earlier transaction went through, so it is never sent
again, absent means it is sent now if the window is still open; ``submitted`` goes
straight to phase two with the stored package key. A hand-over or proposal already on
chain is not repeated. A round that closed (or whose block appeared) while the node was
down is recorded as ``skipped``/``done`` and the node joins the next round.

Progress is emitted as one JSON object per event (``emit``; the CLI prints JSON lines).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkpot import proving
from zkpot.exchange import ModelPackage, params_from_bytes, params_to_bytes, seal_package
from zkpot.learning.datasets import load_dataset
from zkpot.learning.partition import dirichlet, iid
from zkpot.learning.quantize import quantize
from zkpot.ledger import Ledger, LedgerError, RoundStatus
from zkpot.ledger.model import RoundBlock as LedgerRoundBlock
from zkpot.node.manifest import LoadedTask
from zkpot.node.state import ParticipantState, RoundRecord, Stage
from zkpot.node.status import RoundView, round_view
from zkpot.participant import DEFAULT_TRAINING, Identity, Participant, Submitted, Training
from zkpot.protocol import (
    BelowThreshold,
    BlockAlreadyProposed,
    DuplicateSubmission,
    LateSubmission,
    NoLeaderLeft,
    NotLeader,
    RoundHasLeader,
    RoundNotOpen,
)
from zkpot.store import ContentStore

#: emit(event): receives each progress event (a JSON-serialisable dict).
Emit = Callable[[dict[str, Any]], None]


def print_json(event: dict[str, Any]) -> None:
    """Print one event as a JSON line on stdout."""
    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


class NodeError(RuntimeError):
    """The node cannot go on: it is not registered, or the chain contradicts its state."""


@dataclass(frozen=True)
class NodeConfig:
    """How a node waits.

    ``poll_s``: seconds between two polls of the chain. ``handover_timeout_s``: how long a
    leader waits for the other submitters' package keys before aggregating without the
    missing ones (wall-clock seconds from the moment it sees the window closed; restarts
    begin a new wait). ``last_round``: leave the federation after this round (None: take
    part until the task finishes).
    """

    poll_s: float = 0.5
    handover_timeout_s: float = 120.0
    last_round: int | None = None


class ParticipantNode:
    """A participant of ``loaded`` acting as ``identity``, with its state in ``state``.

    Its private data is part ``part`` of ``parts`` of the task data set's training split
    (IID, or Dirichlet(``alpha``) label skew), drawn with ``seed`` — the split
    ``zkpot run`` and :class:`~zkpot.federation.Federation` make. By default ``parts`` is
    the number of registered participants and ``part`` this node's registration index, so
    the node trains exactly as participant ``part`` of a ``Federation`` with that seed.
    """

    def __init__(
        self,
        ledger: Ledger,
        store: ContentStore,
        loaded: LoadedTask,
        state: ParticipantState,
        identity: Identity,
        *,
        seed: int,
        training: Training = DEFAULT_TRAINING,
        alpha: float | None = None,
        parts: int | None = None,
        part: int | None = None,
        config: NodeConfig | None = None,
        emit: Emit = print_json,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.loaded = loaded
        self.state = state
        self.config = config or NodeConfig()
        self.emit = emit
        self.task_id = loaded.ref.task_id
        self.registry = {p.address: p.x25519_key for p in ledger.participants(self.task_id)}
        self.order = list(self.registry)
        if identity.address not in self.registry:
            raise NodeError(f"{identity.address} is not registered in task {self.task_id}")
        parts = len(self.order) if parts is None else parts
        part = self.order.index(identity.address) if part is None else part
        if not 0 <= part < parts:
            raise NodeError(f"data part {part} is not one of {parts}")
        data = load_dataset(loaded.task.dataset)
        split = (
            iid(data.y_train, parts, seed)
            if alpha is None
            else dirichlet(data.y_train, parts, alpha, seed)
        )
        idx = split[part]
        self.participant = Participant(
            f"P{part}",
            part,
            identity,
            data.x_train[idx].astype(np.float64),
            data.y_train[idx],
            loaded.task,
            seed,
            training,
        )

    @property
    def address(self) -> str:
        return self.participant.address

    def _event(self, event: str, round: int | None = None, **fields: Any) -> None:
        payload: dict[str, Any] = {"event": event, "address": self.address, "t": time.time()}
        if round is not None:
            payload["round"] = round
        self.emit({**payload, **fields})

    # ------------------------------------------------------------------ the loop

    def run(self) -> list[RoundView]:
        """Take part in every remaining round; returns the view of each round finished now."""
        rounds = self.loaded.chain.rounds
        self._event(
            "started",
            participant=self.participant.name,
            samples=self.participant.num_samples,
            rounds=rounds,
            task_id=self.task_id,
        )
        views = []
        announced = False
        for r in range(rounds):
            record = self.state.record(r)
            if record is not None and record.stage == Stage.DONE:
                continue
            if self.config.last_round is not None and r > self.config.last_round:
                self._event("left", r)
                return views
            if record is not None and not announced:
                self._event("resumed", r, stage=str(record.stage))
            announced = True
            self._wait_open(r)
            self._phase_one(r)
            self._phase_two(r)
            views.append(self._finish(r))
        self._event("finished")
        return views

    def _poll(self, probe: Callable[[], Any]) -> Any:
        """Call ``probe`` every ``poll_s`` until it returns something truthy; return that."""
        while True:
            value = probe()
            if value:
                return value
            time.sleep(self.config.poll_s)

    def _wait_open(self, r: int) -> None:
        if self.ledger.task(self.task_id).current_round >= r:
            return
        self._event("waiting", r, until="open")
        self._poll(lambda: self.ledger.task(self.task_id).current_round >= r)

    def _status(self, r: int) -> RoundStatus:
        return self.ledger.round_state(self.task_id, r).status

    def _skip(self, r: int, note: str) -> RoundRecord:
        self._event("skipped", r, reason=note)
        return self.state.advance(r, Stage.SKIPPED, note=note)

    # ------------------------------------------------------------------ phase one

    def _phase_one(self, r: int) -> None:
        record = self.state.record(r)
        if record is None:
            if self._status(r) != RoundStatus.OPEN:
                self._skip(r, "the window closed before this node started the round")
                return
            if self.ledger.submission(self.task_id, r, self.address) is not None:
                # Submitted by this account from a state file that is gone: its package
                # key went with it, so the leader cannot open that model.
                self._skip(r, "this account submitted the round from another state file")
                return
            cid, commitment = self._global_reference(r)
            params = self.participant.read_global(self.store, cid, commitment)
            self._event("training", r)
            self.participant.train(r, params)
            record = self.state.advance(
                r, Stage.TRAINED, params=params_to_bytes(self.participant.model.get_params())
            )
        if record.stage == Stage.TRAINED:
            if self._status(r) != RoundStatus.OPEN:
                self._skip(r, "the window closed before this node had a proof")
                return
            assert record.params is not None
            self.participant.model.set_params(params_from_bytes(record.params))
            record = self._prepare(r)
        if record.stage == Stage.PREPARED:
            record = self._submit(r, record, retry=True)
        if record.submitted:
            self._restore(record)

    def _global_reference(self, r: int) -> tuple[str, int]:
        """CID and commitment of the global model round ``r`` trains from."""
        if r == 0:
            return self.loaded.chain.initial_cid, self.loaded.chain.initial_commitment
        block = self.ledger.round_block(self.task_id, r - 1)
        if block is None:
            raise NodeError(f"round {r} is open but round {r - 1} has no block")
        return block.global_cid, block.global_commitment

    def _prepare(self, r: int) -> RoundRecord:
        """Quantise, commit with a fresh salt, prove, check, seal and store; record it all."""
        p, task, chain = self.participant, self.loaded.task, self.loaded.chain
        self._event("proving", r)
        qmodel = quantize(p.model, task.spec, task.test_x)
        salt = proving.new_salt()
        tag = self.ledger.binding_tag(self.task_id, r, self.address)
        t = time.perf_counter()
        try:
            proven = proving.prove(self.loaded.pk, qmodel, salt, tag)
        except proving.ActivationOverflowError as exc:
            return self._skip(r, f"the model has no proof: {exc}")
        prove_s = time.perf_counter() - t
        if proven.count < chain.min_count:
            # An honest node does not pay for a transaction the ledger would reject.
            return self._skip(
                r, f"proven count {proven.count} is below the threshold {chain.min_count}"
            )
        inputs = [proven.commitment, proven.count, tag]
        if not self.ledger.verify_proof(chain.verifier, proven.proof.to_evm(), inputs):
            raise NodeError("the task's verifier contract rejects this node's proof")
        key, ciphertext = seal_package(ModelPackage(qmodel, salt, p.num_samples))
        cid = self.store.put(ciphertext)
        local = p.model.accuracy(task.test_x / 255.0, task.test_y)
        record = self.state.advance(
            r,
            Stage.PREPARED,
            salt=str(salt),
            package_key=key,
            ciphertext=ciphertext,
            model_cid=cid,
            commitment=str(proven.commitment),
            count=proven.count,
            tag=str(tag),
            proof=proven.proof.to_bytes(),
            prove_s=prove_s,
            local_accuracy=local,
        )
        self._event("prepared", r, count=proven.count, prove_s=round(prove_s, 3), model_cid=cid)
        return record

    def _submit(self, r: int, record: RoundRecord, *, retry: bool) -> RoundRecord:
        """Send the prepared ZKPoT transaction, unless the chain already has it."""
        assert record.commitment is not None and record.model_cid is not None
        assert record.count is not None and record.proof is not None
        assert record.ciphertext is not None
        on_chain = self.ledger.submission(self.task_id, r, self.address)
        if on_chain is not None:
            if on_chain.commitment != int(record.commitment):
                # Another node uses this account: never share a key or a state file.
                return self._skip(
                    r, f"the chain holds a submission by {self.address} this state file never made"
                )
            self._event("submitted", r, count=record.count, already_on_chain=True)
            return self.state.advance(r, Stage.SUBMITTED)
        if self._status(r) != RoundStatus.OPEN:
            return self._skip(r, "the window closed before the submission was sent")
        self._ensure_stored(record)
        try:
            tx = self.ledger.submit(
                self.participant.identity.account,
                self.task_id,
                r,
                int(record.commitment),
                record.count,
                record.model_cid,
                proving.Proof.from_bytes(record.proof).to_evm(),
            )
        except DuplicateSubmission:
            # An earlier run's transaction was mined in the meantime.
            if not retry:
                raise
            return self._submit(r, record, retry=False)
        except (LateSubmission, RoundNotOpen) as exc:
            return self._skip(r, f"the ledger refused the submission: {exc!r}")
        self._event("submitted", r, count=record.count, gas=tx.gas_used)
        return self.state.advance(r, Stage.SUBMITTED, submit_gas=tx.gas_used)

    def _ensure_stored(self, record: RoundRecord) -> None:
        """Put the package back if the store lost it (same bytes, same CID): the leader
        fetches it by the CID on chain."""
        cid, ciphertext = record.model_cid, record.ciphertext
        if cid is not None and ciphertext is not None and not self.store.has(cid):
            self.store.put(ciphertext)

    def _restore(self, record: RoundRecord) -> None:
        """Give the Participant its submission of the round back (after a restart)."""
        assert record.package_key is not None and record.commitment is not None
        self.participant.submitted[record.round] = Submitted(
            count=record.count or 0,
            commitment=int(record.commitment),
            tag=int(record.tag or 0),
            proof=record.proof or b"",
            model_cid=record.model_cid or "",
            prove_s=record.prove_s or 0.0,
            gas=record.submit_gas or 0,
            local_accuracy=record.local_accuracy or 0.0,
            key=record.package_key,
        )

    # ------------------------------------------------------------------ phase two

    def _phase_two(self, r: int) -> None:
        """Hand over to (or be) the leader of each turn until the round has its block."""
        self._event("waiting", r, until="closed")
        status = self._poll(lambda: self._closed_status(r))
        record = self.state.record(r)
        if record is None or not record.submitted or status == RoundStatus.FINALIZED:
            return
        self._ensure_stored(record)
        while True:
            state = self.ledger.round_state(self.task_id, r)
            if state.status == RoundStatus.FINALIZED or state.leader is None:
                return  # no leader left: _finish skips the round
            if state.leader == self.address:
                if self._lead(r):
                    return
            else:
                self._hand_over(r, state.leader)
            # Until the block appears or the turn passes to the next leader.
            self._poll(lambda s=state: self._turn_over(r, s.turn))

    def _block_or_skip(self, r: int) -> LedgerRoundBlock | None:
        """The round's block; appends the skip block if the round has no leader left."""
        block = self.ledger.round_block(self.task_id, r)
        if block is not None:
            return block
        state = self.ledger.round_state(self.task_id, r)
        if state.status == RoundStatus.CLOSED and state.leader is None:
            try:
                self.ledger.skip_round(self.participant.identity.account, self.task_id, r)
                self._event("skipped_round", r)
            except (BlockAlreadyProposed, RoundHasLeader):
                pass  # another node was first
            return self.ledger.round_block(self.task_id, r)
        return None

    def _turn_over(self, r: int, turn: int) -> bool:
        state = self.ledger.round_state(self.task_id, r)
        return state.status == RoundStatus.FINALIZED or state.turn != turn

    def _closed_status(self, r: int) -> RoundStatus | None:
        """The round's status once its window has closed, None while it is open."""
        status = self._status(r)
        return status if status in (RoundStatus.CLOSED, RoundStatus.FINALIZED) else None

    def _hand_over(self, r: int, leader: str) -> None:
        if self.address in self.ledger.handovers(self.task_id, r, leader=leader):
            self.state.advance(r, Stage.HANDED_OVER, leader=leader)
            return
        try:
            gas = self.participant.hand_over(
                self.ledger, self.task_id, r, leader, self.registry[leader]
            )
        except (RoundNotOpen, NotLeader, NoLeaderLeft):
            # The leader proposed without this node's model (its wait ran out), or its turn
            # passed meanwhile: the loop hands over to the next one.
            self._event("hand_over_too_late", r, leader=leader)
            return
        self.state.advance(r, Stage.HANDED_OVER, leader=leader, handover_gas=gas)
        self._event("handed_over", r, leader=leader, gas=gas)

    def _lead(self, r: int) -> bool:
        """Aggregate, prove the global model and propose; False if this turn yields no
        block (the aggregate cannot pass the threshold, or the ledger refuses it)."""
        if self.ledger.block_hash(self.task_id, r) is not None:
            self.state.advance(r, Stage.PROPOSED, leader=self.address)
            return True
        self._wait_for_handovers(r)
        self._event("leading", r)
        try:
            block, _, gas = self.participant.lead(
                self.ledger,
                self.store,
                self.loaded.pk,
                self.task_id,
                r,
                self.registry,
                self.order,
            )
        except BlockAlreadyProposed:
            # An earlier run's proposal was mined in the meantime.
            self.state.advance(r, Stage.PROPOSED, leader=self.address)
            return True
        except (BelowThreshold, LedgerError) as exc:
            self._event("no_block", r, reason=str(exc))
            return False
        self.state.advance(
            r,
            Stage.PROPOSED,
            leader=self.address,
            propose_gas=gas,
            block_hash="0x" + block.hash.hex(),
            global_cid=block.global_cid,
        )
        self._event(
            "proposed",
            r,
            block_hash="0x" + block.hash.hex(),
            accepted=list(block.accepted),
            rejected=[vars(x) for x in block.rejected],
            gas=gas,
        )
        return True

    def _wait_for_handovers(self, r: int) -> None:
        """Until every other submitter has handed over its key, or the timeout."""
        others = [
            a
            for a in self.order
            if a != self.address and self.ledger.submission(self.task_id, r, a) is not None
        ]
        give_up = time.monotonic() + self.config.handover_timeout_s
        while True:
            handed = self.ledger.handovers(self.task_id, r, leader=self.address)
            missing = [a for a in others if a not in handed]
            if not missing:
                return
            if time.monotonic() >= give_up:
                self._event("hand_over_timeout", r, missing=missing)
                return
            time.sleep(self.config.poll_s)

    # ------------------------------------------------------------------ the block

    def _finish(self, r: int) -> RoundView:
        """Wait for the round's block (skipping the round once no leader is left), check
        the global model, record the round done."""
        block = self._poll(lambda: self._block_or_skip(r))
        self.participant.read_global(self.store, block.global_cid, block.global_commitment)
        view = round_view(self.ledger, self.task_id, r, self.order)
        self.state.advance(
            r,
            Stage.DONE,
            leader=view.leader,
            block_hash="0x" + block.block_hash.hex(),
            global_cid=block.global_cid,
        )
        fields = view.to_dict()
        del fields["round"]
        self._event("round", r, **fields)
        return view
