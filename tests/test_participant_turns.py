"""A hand-over that arrives just after the leader's turn has passed goes to the next leader.

Three participants of a one-round task on the in-process chain (digits, hidden 4, 16
public test samples, threshold 0). Once the window has closed, the turn-0 leader does not
lead; the chain's clock passes the end of its turn while the third-ranked participant's
hand-over to it is on its way, so the contract refuses that hand-over (too late). The participant
must then hand its key to the turn-1 leader, whose block aggregates all three models.
(Found by the chaos test: a node whose hand-over lost that race marked the new turn as
handled, never handed over again, and its model was left out of the round.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkpot import proving
from zkpot.ledger import Ledger, Member, RoundStatus, TxResult
from zkpot.participant import Identity, Participant, Training, split_training_data
from zkpot.participant.machine import RoundMachine, Waiting
from zkpot.participant.records import MemoryRecords
from zkpot.protocol import Task
from zkpot.protocol.hashes import tie_break_rank
from zkpot.publish import task_params
from zkpot.store import LocalStore

SEED = 5
#: The task, its proving key, and its aggregation key and verifying key (four slots).
Keys = tuple[Task, proving.ProvingKey, tuple[proving.AggregationKey, proving.VerifyingKey]]


class LateLedger(Ledger):
    """The same chain; once ``late`` is set, the next hand-over sent through it reaches
    the chain only after the current leader's turn has run out."""

    late = False

    def hand_over(self, *args: Any, **kwargs: Any) -> TxResult:
        if self.late:
            self.late = False
            task_id, round = args[1], args[2]
            state = self.round_state(task_id, round)
            self.advance_time(state.turn_ends + 1 - self.timestamp())
        return super().hand_over(*args, **kwargs)


@pytest.fixture(scope="module")
def keys() -> Keys:
    task = Task.create("digits", hidden=4, test_samples=16, threshold=0.0, rounds=1, seed=SEED)
    pk, _ = proving.setup(task.circuit)
    return task, pk, proving.setup_aggregation(task.aggregation_circuit(4))


def test_a_hand_over_too_late_for_one_leader_goes_to_the_next(keys: Keys, tmp_path: Path) -> None:
    task, pk, (aggregation_key, aggregation_vk) = keys
    ledger, store = Ledger.in_process(), LocalStore(tmp_path)
    # A fourth member never submits, so that the window closes at its deadline, after
    # all three submissions, and nobody starts phase two early.
    people = [Identity.generate() for _ in range(4)]
    for person in people:
        ledger.fund(person.address, 10**18)
    publisher = ledger.new_account()
    parts = split_training_data(task.dataset, 3, None, SEED)
    samples = {p.address: len(parts[min(i, 2)][1]) for i, p in enumerate(people)}
    members = [Member(p.address, p.keys.public, samples[p.address]) for p in people]
    vk = pk.verifying_key()
    params = task_params(ledger, store, publisher, task, vk, aggregation_vk, members, SEED)
    task_id = ledger.register_task(publisher, params)
    registry = {p.address: p.keys.public for p in people}
    chain = LateLedger(ledger.w3, ledger.address)
    events: list[dict[str, Any]] = []
    machines = {}
    for i, person in enumerate(people[:3]):
        x, y = parts[i]
        p = Participant(f"P{i}", i, person, x, y, task, SEED, Training(epochs=1))
        machines[person.address] = RoundMachine(
            p,
            chain,
            store,
            pk,
            task_id,
            registry,
            aggregation_key,
            MemoryRecords(),
            events.append,
        )
    for m in machines.values():
        assert m.step(0) == Waiting.CLOSED
    state = ledger.round_state(task_id, 0)
    ledger.advance_time(state.deadline - ledger.timestamp())
    counts = {}
    for address in machines:
        submission = ledger.submission(task_id, 0, address)
        assert submission is not None
        counts[address] = submission.count
    first, second, third = sorted(machines, key=lambda a: (-counts[a], tie_break_rank(0, a)))
    state = ledger.round_state(task_id, 0)
    assert state.status == RoundStatus.CLOSED and state.leader == first

    # The third's hand-over to the first leader reaches the chain after the turn ended.
    chain.late = True
    assert machines[third].step(0) == Waiting.TURN
    assert events[-1]["event"] == "hand_over_too_late" and events[-1]["leader"] == first
    state = ledger.round_state(task_id, 0)
    assert (state.turn, state.leader) == (1, second)
    # Its next step hands the key to the second leader, as the first leader's does.
    assert machines[third].step(0) == Waiting.TURN
    assert machines[first].step(0) == Waiting.TURN
    assert set(ledger.handovers(task_id, 0, leader=second)) == {first, third}
    assert machines[second].step(0) == Waiting.NOTHING
    block = ledger.round_block(task_id, 0)
    assert block is not None and block.leader == second
    proposed = next(e for e in events if e["event"] == "proposed")
    assert set(proposed["accepted"]) == set(machines) and proposed["rejected"] == []
