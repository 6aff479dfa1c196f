"""A seeded schedule of faults, and the supervisor that injects them into a running federation.

:func:`make_schedule` draws the faults from ``random.Random(seed)``, so a schedule is
replayed exactly by its seed (it is printed, and written beside the logs). A fault fires
on the first event of its round that its node (or, for ``kill-leader`` and
``kubo-restart``, any node) emits among the events it names:

- ``kill``: SIGKILL the node, restart it at once from its state file alone;
- ``kill-leader``: SIGKILL the round's leader after its ``leading`` event, while it
  aggregates, proves and proposes, and restart it;
- ``hold``: SIGKILL the node before it submits and keep it down until the round's window
  has closed without it (the supervisor moves anvil's clock past the deadline once all the
  others have submitted), then restart it: it misses that round;
- ``kubo-restart``: stop the IPFS daemon and start it again on the same repository and
  API port; a node that needed the store meanwhile stops with an error, and is restarted
  the way a supervisor (systemd's ``Restart=on-failure``) would;
- ``corrupt``: SIGKILL the node, damage its state file (overwrite its pages past the
  first, or truncate it), restart it: it must refuse to run, with a one-paragraph error
  naming the file and the recovery; then recover as that error says (move the file
  aside, start again with ``--key`` and ``--task-file``).

:class:`Supervisor` runs the nodes and the schedule until every node has finished, and
keeps a log of everything it did (:attr:`Supervisor.log`).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubo import KuboDaemon
from nodes import HANG_GUARD_S, Node

from zkpot.ledger import Ledger, RoundStatus

#: Where a ``kill`` may strike, as the events it follows (the first one seen fires it): while
#: training, while proving, between the recorded claim and its transaction, after the
#: submission, while waiting for the window, and after the hand-over (or, for the round's
#: leader, after its proposal).
KILL_POINTS: tuple[tuple[str, ...], ...] = (
    ("training",),
    ("proving",),
    ("prepared",),
    ("submitted",),
    ("handed_over", "proposed"),
)
#: Where the IPFS daemon may be restarted (any node's event of the round).
KUBO_POINTS: tuple[tuple[str, ...], ...] = (
    ("training",),
    ("proving",),
    ("submitted",),
    ("handed_over",),
    ("leading",),
)
#: Where a state file may be damaged: before the node submits (it then submits afresh
#: from the new state), after its submission (the package key is lost with the file: the
#: recovered node must not submit again, and the round goes on without its model), after
#: its hand-over or proposal (the round is on chain already), or once its round is over.
CORRUPT_POINTS: tuple[tuple[str, ...], ...] = (
    ("training",),
    ("submitted",),
    ("handed_over", "proposed"),
    ("round",),
)
#: Events before the node's submission, where ``hold`` strikes.
HOLD_POINTS: tuple[tuple[str, ...], ...] = (("training",), ("proving",))
#: Unplanned exits (store outages) a node may have before the supervisor gives up.
MAX_UNPLANNED = 6


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` in ``round`` on ``node`` (None: the round's leader, or any node
    for the store), fired by the first of the events ``at``; ``detail``: the damage
    (``overwrite``/``truncate``) or the store's downtime in seconds."""

    kind: str
    round: int
    node: str | None
    at: tuple[str, ...]
    detail: str = ""

    def __str__(self) -> str:
        who = self.node or ("the leader" if self.kind == "kill-leader" else "any node")
        extra = f" [{self.detail}]" if self.detail else ""
        return f"round {self.round}: {self.kind} on {who} at {'/'.join(self.at)}{extra}"


def make_schedule(seed: int, rounds: int, names: list[str], kills: int) -> list[Fault]:
    """The faults of one chaos run, drawn from ``random.Random(seed)``.

    Always one ``kill-leader``, one ``kubo-restart``, one ``corrupt`` and one ``hold``
    (in the last round, so that the rounds before it stay comparable with an undisturbed
    run), and ``kills`` plain kills; at most one node-specific fault per node and round.
    """
    rng = random.Random(seed)
    faults = [
        Fault("kill-leader", rng.randrange(rounds), None, ("leading",)),
        Fault(
            "kubo-restart",
            rng.randrange(rounds),
            None,
            rng.choice(KUBO_POINTS),
            f"{rng.uniform(0.5, 3.0):.1f}",
        ),
    ]
    taken: set[tuple[str, int]] = set()

    def free(round: int) -> str:
        for _ in range(100):
            name = rng.choice(names)
            if (name, round) not in taken:
                taken.add((name, round))
                return name
        raise ValueError(f"no node is free in round {round}")

    last = rounds - 1
    faults.append(Fault("hold", last, free(last), rng.choice(HOLD_POINTS)))
    # Damage after the submission loses that round's model: only in the held round, whose
    # window stays open until every other node has done its part (so the recovered node
    # finds its submission on chain while it could still submit), and whose accepted
    # models differ from an undisturbed run's anyway.
    at = rng.choice(CORRUPT_POINTS)
    r = last if at == ("submitted",) else rng.randrange(rounds)
    faults.append(Fault("corrupt", r, free(r), at, rng.choice(["overwrite", "truncate"])))
    for _ in range(kills):
        r = rng.randrange(rounds)
        if all((name, r) in taken for name in names):
            rounds_left = [q for q in range(rounds) if any((n, q) not in taken for n in names)]
            if not rounds_left:
                break  # every node has a fault in every round
            r = rng.choice(rounds_left)
        faults.append(Fault("kill", r, free(r), rng.choice(KILL_POINTS)))
    return sorted(faults, key=lambda f: (f.round, f.kind, f.node or ""))


def damage(path: Path, how: str, rng: random.Random) -> None:
    """Damage a (stopped) node's SQLite state file: fold its WAL in first, as a clean
    shutdown would, then overwrite every page past the first with noise, or cut the file."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    if how == "overwrite":
        data[page:] = rng.randbytes(len(data) - page)
    elif how == "truncate":
        data = data[: page + rng.randrange(len(data) - page) // 2]
    else:
        raise ValueError(how)
    path.write_bytes(bytes(data))


@dataclass
class Supervisor:
    """Runs the participant nodes and injects the faults of ``schedule``.

    ``restart(name)`` and ``recover(name)`` give the arguments of a node's restart (state
    file only) and of its recovery after damage (fresh state, key and task file).
    """

    nodes: dict[str, Node]
    schedule: list[Fault]
    ledger: Ledger
    task_id: int
    kubo: KuboDaemon
    states: dict[str, Path]
    restart: Callable[[str], list[str]]
    recover: Callable[[str], list[str]]
    addresses: dict[str, str]
    seed: int
    #: What happened, in order: one dict per action.
    log: list[dict[str, Any]] = field(default_factory=list)
    #: The faults that fired, with what they hit.
    fired: list[tuple[Fault, dict[str, Any]]] = field(default_factory=list)
    #: Each node's exits the schedule did not cause: (name, run, code, stderr tail).
    unplanned: list[tuple[str, int, int, str]] = field(default_factory=list)
    #: The damaged node's refused start: (name, run, code, stderr, stdout events).
    refused: list[tuple[str, int, int, str, list[dict[str, Any]]]] = field(default_factory=list)
    _pending: list[Fault] = field(default_factory=list)
    _seen: dict[tuple[str, int], int] = field(default_factory=dict)
    _held: dict[str, Fault] = field(default_factory=dict)
    _expect_refusal: dict[str, bytes] = field(default_factory=dict)
    #: Nodes whose state was lost after their submission, by round: their model is out.
    keyless: dict[str, int] = field(default_factory=dict)
    #: The same, while the round is not finalized: they cannot lead it.
    _keyless: dict[str, int] = field(default_factory=dict)
    _finished: set[str] = field(default_factory=set)
    _t0: float = 0.0

    def note(self, action: str, **fields: Any) -> None:
        entry = {"t": round(time.monotonic() - self._t0, 2), "action": action, **fields}
        self.log.append(entry)
        print("chaos:", json.dumps(entry, sort_keys=True), flush=True)

    def run(self) -> None:
        """Start every node, fire the schedule, supervise until every node finished."""
        self._t0 = time.monotonic()
        self._pending = list(self.schedule)
        rng = random.Random(f"{self.seed}/damage")
        for node in self.nodes.values():
            node.start()
        give_up = time.monotonic() + HANG_GUARD_S
        while len(self._finished) < len(self.nodes):
            if time.monotonic() > give_up:
                pytest.fail(f"the federation hung; still pending: {self._pending}")
            for name, node in self.nodes.items():
                for event in self._new_events(name, node):
                    self._trigger(name, event, rng)
            self._supervise()
            self._release_held()
            self._pass_turns()
            time.sleep(0.05)
        self.note("all finished", pending=[str(f) for f in self._pending])

    # ------------------------------------------------------------------ triggers

    def _new_events(self, name: str, node: Node) -> list[dict[str, Any]]:
        if not node.runs:
            return []
        key = (name, len(node.runs) - 1)
        events = node.events()
        start = self._seen.get(key, 0)
        self._seen[key] = len(events)
        return events[start:]

    def _trigger(self, name: str, event: dict[str, Any], rng: random.Random) -> None:
        for fault in list(self._pending):
            if fault.round != event.get("round") or event.get("event") not in fault.at:
                continue
            if fault.node is not None and fault.node != name:
                continue
            if fault.kind == "kill-leader" and event["event"] != "leading":
                continue
            self._pending.remove(fault)
            self._fire(fault, name, event, rng)
            return

    def _fire(self, fault: Fault, name: str, event: dict[str, Any], rng: random.Random) -> None:
        node = self.nodes[name]
        hit: dict[str, Any] = {"node": name, "event": event["event"], "run": len(node.runs) - 1}
        if fault.kind == "kubo-restart":
            down = float(fault.detail)
            self.note("kubo stop", fault=str(fault), by=name, down_s=down)
            self.kubo.restart(down)
            self.note("kubo start", api=self.kubo.api)
            self.fired.append((fault, hit))
            return
        if not node.running:  # it finished (or stopped) before the fault reached it
            if fault.kind != "corrupt":
                self.note("missed", fault=str(fault), node=name)
                return
        else:
            node.kill()
        # What the killed run had done in the round when it died.
        hit["round_events"] = [e["event"] for e in node.events() if e.get("round") == fault.round]
        self.note("kill", fault=str(fault), node=name, run=hit["run"])
        self._finished.discard(name)
        if fault.kind == "hold":
            self._held[name] = fault
        elif fault.kind == "corrupt":
            done = {"handed_over", "proposed"}
            if "submitted" in hit["round_events"] and not done & set(hit["round_events"]):
                self._keyless[name] = self.keyless[name] = fault.round
            damage(self.states[name], fault.detail, rng)
            self._expect_refusal[name] = self.states[name].read_bytes()
            self.note("damaged", node=name, how=fault.detail, state=str(self.states[name]))
            node.start(self.restart(name))
        else:
            node.start(self.restart(name))
            self.note("restart", node=name, run=len(node.runs) - 1)
        self.fired.append((fault, hit))

    # ------------------------------------------------------------------ supervision

    def _supervise(self) -> None:
        for name, node in self.nodes.items():
            if name in self._finished or name in self._held or node.running:
                continue
            run, code = len(node.runs) - 1, node.process.returncode
            if name in self._expect_refusal:
                before = self._expect_refusal.pop(name)
                stderr = node.stderr()
                self.refused.append((name, run, code, stderr, node.events()))
                unchanged = self.states[name].read_bytes() == before
                self.note("refused to start", node=name, code=code, unchanged=unchanged)
                assert unchanged, f"{name}'s failed start wrote to its damaged state file"
                aside = self.states[name].with_name(self.states[name].name + ".damaged")
                for suffix in ("", "-wal", "-shm"):
                    path = Path(f"{self.states[name]}{suffix}")
                    if path.exists():
                        path.rename(f"{aside}{suffix}")
                node.start(self.recover(name))
                self.note("recover", node=name, run=run + 1, aside=str(aside))
            elif code == 0:
                self._finished.add(name)
                self.note("finished", node=name, run=run)
            else:
                tail = node.stderr()[-2000:]
                self.unplanned.append((name, run, code, tail))
                self.note("exited", node=name, run=run, code=code, stderr=tail[-300:])
                if sum(u[0] == name for u in self.unplanned) > MAX_UNPLANNED:
                    pytest.fail(f"{name} keeps failing:\n{tail}")
                node.start(self.restart(name))
                self.note("restart", node=name, run=run + 1)

    def _release_held(self) -> None:
        """Close a held node's round without it once every other node has done its part
        of the round (it waits for the window, or sat the round out), then bring it back."""
        for name, fault in list(self._held.items()):
            r = fault.round
            state = self.ledger.round_state(self.task_id, r)
            if state.status == RoundStatus.OPEN:
                if all(self._done_submitting(other, r) for other in self.nodes if other != name):
                    now = self.ledger.timestamp()
                    if state.deadline > now:
                        self.ledger.advance_time(state.deadline - now)
                        self.note("window closed", round=r, without=name)
                continue
            del self._held[name]
            self.nodes[name].start(self.restart(name))
            self.note("restart", node=name, run=len(self.nodes[name].runs) - 1, held=True)

    def _done_submitting(self, name: str, r: int) -> bool:
        node = self.nodes[name]
        if not node.running or name in self._held or name in self._expect_refusal:
            return False
        return any(
            e.get("round") == r
            and (e["event"] == "skipped" or (e["event"], e.get("until")) == ("waiting", "closed"))
            for e in node.events()
        )

    def _pass_turns(self) -> None:
        """A node that lost its round's package key with its state cannot lead that round:
        if it holds the turn, move anvil's clock to the turn's end (on a live chain, the
        turn simply runs out), so that the next-best submitter leads."""
        for name, r in list(self._keyless.items()):
            state = self.ledger.round_state(self.task_id, r)
            if state.status != RoundStatus.CLOSED:
                if state.status == RoundStatus.FINALIZED:
                    del self._keyless[name]
                continue
            if state.leader == self.addresses[name]:
                now = self.ledger.timestamp()
                self.ledger.advance_time(max(state.turn_ends + 1 - now, 1))
                self.note("turn passed", round=r, turn=state.turn, leader=name)


def describe(schedule: list[Fault]) -> str:
    return "\n".join(f"  {f}" for f in schedule)


def schedule_json(schedule: list[Fault]) -> str:
    return json.dumps([asdict(f) for f in schedule], indent=1)
