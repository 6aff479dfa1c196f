"""A leader whose store goes down while it opens the round's packages stops, and leads
again once the store is back: it never proposes a block that rejects the models it could
not fetch meanwhile.

Two participants of a one-round task (digits, hidden 4, 16 public test samples, threshold
0) on the in-process chain, with their packages in a real kubo node. The daemon stops
just after the leader has checked its own package and before it fetches the first one to
open. (Found by the chaos test: the leader rejected every package as unreachable, and
crashed averaging no model at all.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubo import KuboDaemon

from zkpot import proving
from zkpot.ledger import Ledger, Member
from zkpot.participant import Identity, Participant, Training, split_training_data
from zkpot.participant.machine import RoundMachine, Waiting
from zkpot.participant.records import MemoryRecords
from zkpot.protocol import Task
from zkpot.publish import task_params
from zkpot.store import IpfsHttpStore, StoreUnavailable

pytestmark = pytest.mark.ipfs

SEED = 5


class FailingStore(IpfsHttpStore):
    """The kubo node's API; once ``daemon`` is set, the next read stops that daemon first."""

    daemon: KuboDaemon | None = None

    def get(self, cid: str) -> bytes:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        return super().get(cid)


def test_a_store_outage_while_leading_stops_the_leader_and_rejects_nothing(
    kubo_daemon: KuboDaemon, tmp_path: Path
) -> None:
    task = Task.create("digits", hidden=4, test_samples=16, threshold=0.0, rounds=1, seed=SEED)
    pk, vk = proving.setup(task.circuit)
    aggregation_key, aggregation_vk = proving.setup_aggregation(task.aggregation_circuit(2))
    ledger, store = Ledger.in_process(), FailingStore(kubo_daemon.api)
    people = [Identity.generate() for _ in range(2)]
    for person in people:
        ledger.fund(person.address, 10**18)
    publisher = ledger.new_account()
    parts = split_training_data(task.dataset, 2, None, SEED)
    members = [Member(p.address, p.keys.public, len(parts[i][1])) for i, p in enumerate(people)]
    params = task_params(ledger, store, publisher, task, vk, aggregation_vk, members, SEED)
    task_id = ledger.register_task(publisher, params)
    registry = {p.address: p.keys.public for p in people}
    events: list[dict[str, Any]] = []
    machines = {}
    for i, person in enumerate(people):
        x, y = parts[i]
        p = Participant(f"P{i}", i, person, x, y, task, SEED, Training(epochs=1))
        machines[person.address] = RoundMachine(
            p,
            ledger,
            store,
            pk,
            task_id,
            registry,
            aggregation_key,
            MemoryRecords(),
            events.append,
        )
    for m in machines.values():
        m.step(0)  # the second submission closes the window
    leader = ledger.round_state(task_id, 0).leader
    assert leader is not None
    other = next(a for a in machines if a != leader)
    assert machines[other].step(0) == Waiting.TURN
    assert other in ledger.handovers(task_id, 0, leader=leader)

    store.daemon = kubo_daemon
    with pytest.raises(StoreUnavailable):
        machines[leader].step(0)
    assert ledger.round_block(task_id, 0) is None
    assert not any(e["event"] in ("proposed", "no_block") for e in events)

    # Restarted (a new machine on the same records), with the store back, it leads.
    kubo_daemon.restart()
    stopped = machines[leader]
    restarted = RoundMachine(
        stopped.participant,
        ledger,
        store,
        pk,
        task_id,
        registry,
        aggregation_key,
        stopped.records,
        events.append,
    )
    assert restarted.step(0) == Waiting.NOTHING
    proposed = next(e for e in events if e["event"] == "proposed")
    assert set(proposed["accepted"]) == set(machines) and proposed["rejected"] == []
