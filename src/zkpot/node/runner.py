"""One participant of one task in its own process: the round, resumable after a crash.

The node drives the participant's state machine (:mod:`zkpot.participant.machine`, the
same one the in-process :class:`~zkpot.federation.Federation` drives) against a JSON-RPC
node, with its round records in a SQLite file (:mod:`zkpot.node.state`). It calls
:meth:`RoundMachine.step` every ``poll_s`` seconds until the round is done; a leader waits
for the other submitters' package keys at most ``handover_timeout_s``. The machine learns
everything from the chain by polling the ZKPoT views (``task``, ``round_state``,
``submission``, ``round_block``) and reads events only for what exists nowhere else (the
hand-overs, and the model CIDs the leader fetches).

**Resuming.** The machine records each stage before it acts on the next, and the
secrets of a submission (salt, package key, proof, claim) *before* the transaction is
sent. A restarted node (same state file) skips the rounds it finished, and in the current
round continues from its stage, checking the chain first: ``trained`` reuses the stored
local model; ``prepared`` looks up its submission on chain — present (with the recorded
commitment) means the earlier transaction went through, so it is never sent again, absent
means it is sent now if the window is still open; ``submitted`` goes straight to phase two
with the stored package key. A hand-over or proposal already on chain is not repeated. A
round that closed (or whose block appeared) while the node was down is recorded as
``skipped``/``done`` and the node joins the next round.

A node may run an adversarial :class:`~zkpot.participant.Behaviour` (``zkpot participant
--behaviour``), as a federation's participant can: the ledger and the other nodes refuse
it by the same rules. Progress is emitted as one JSON object per event (``emit``; the CLI
prints JSON lines).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from zkpot.defaults import default_training
from zkpot.ledger import Ledger
from zkpot.node.manifest import LoadedTask
from zkpot.node.state import ParticipantState, Stage
from zkpot.node.status import RoundSummary, round_summary
from zkpot.participant import (
    Behaviour,
    Identity,
    Participant,
    ProofRejected,
    Training,
    split_training_data,
)
from zkpot.participant.machine import BlockNotVerified, Emit, RoundMachine, Waiting
from zkpot.store import ContentStore


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
    (:func:`~zkpot.participant.split_training_data` with ``alpha`` and ``seed``), the
    split :class:`~zkpot.federation.Federation` makes. By default ``parts`` is the number
    of registered participants and ``part`` this node's registration index, so the node
    trains exactly as participant ``part`` of a ``Federation`` with that seed.
    ``training`` defaults to the task dataset's (:mod:`zkpot.defaults`).
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
        training: Training | None = None,
        alpha: float | None = None,
        parts: int | None = None,
        part: int | None = None,
        behaviour: Behaviour | None = None,
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
        registry = {m.address: m.x25519_key for m in ledger.participants(self.task_id)}
        order = list(registry)
        if identity.address not in registry:
            raise NodeError(f"{identity.address} is not registered in task {self.task_id}")
        parts = len(order) if parts is None else parts
        part = order.index(identity.address) if part is None else part
        if not 0 <= part < parts:
            raise NodeError(f"data part {part} is not one of {parts}")
        task = loaded.task
        x, y = split_training_data(task.dataset, parts, alpha, seed)[part]
        training = training if training is not None else default_training(task.dataset)
        self.participant = Participant(
            f"P{part}", part, identity, x, y, task, seed, training, behaviour
        )
        self.machine = RoundMachine(
            self.participant,
            ledger,
            store,
            loaded.pk,
            self.task_id,
            registry,
            loaded.aggregation_key,
            state,
            self._emit,
        )

    @property
    def address(self) -> str:
        return self.participant.address

    def _emit(self, event: dict[str, Any]) -> None:
        self.emit({**event, "t": time.time()})

    def _event(self, event: str, round: int | None = None, **fields: Any) -> None:
        payload: dict[str, Any] = {"event": event, "address": self.address}
        if round is not None:
            payload["round"] = round
        self._emit({**payload, **fields})

    # ------------------------------------------------------------------ the loop

    def run(self) -> list[RoundSummary]:
        """Take part in every remaining round; returns the summary of each round finished now."""
        rounds = self.loaded.chain.rounds
        self._event(
            "started",
            participant=self.participant.name,
            samples=self.participant.num_samples,
            rounds=rounds,
            task_id=self.task_id,
            behaviour=self.participant.behaviour.name,
        )
        summaries = []
        announced = False
        for r in range(rounds):
            record = self.state.record(r)
            if record is not None and record.stage == Stage.DONE:
                continue
            if self.config.last_round is not None and r > self.config.last_round:
                self._event("left", r)
                return summaries
            if record is not None and not announced:
                self._event("resumed", r, stage=str(record.stage))
            announced = True
            self._round(r)
            summaries.append(self._summary(r))
        self._event("finished")
        return summaries

    def _round(self, r: int) -> None:
        """Step the machine through round ``r``, polling the chain in between."""
        announced: set[Waiting] = set()
        give_up: float | None = None
        while True:
            stop = give_up is not None and time.monotonic() >= give_up
            try:
                waiting = self.machine.step(r, stop_waiting_for_keys=stop)
            except ProofRejected as exc:
                raise NodeError(str(exc)) from exc
            except BlockNotVerified as exc:
                raise NodeError(f"{exc}: this node does not train on its global model") from exc
            if waiting == Waiting.NOTHING:
                return
            if waiting != Waiting.KEYS:
                give_up = None
            elif give_up is None:
                give_up = time.monotonic() + self.config.handover_timeout_s
            if waiting in (Waiting.OPEN, Waiting.CLOSED) and waiting not in announced:
                announced.add(waiting)
                self._event("waiting", r, until=str(waiting))
            time.sleep(self.config.poll_s)

    def _summary(self, r: int) -> RoundSummary:
        """The round as the chain shows it, also emitted as a ``round`` event."""
        summary = round_summary(self.ledger, self.task_id, r, list(self.machine.registry))
        fields = summary.to_dict()
        del fields["round"]
        self._event("round", r, **fields)
        return summary
