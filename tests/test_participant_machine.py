"""The participant's state machine, stepped by hand on the in-process chain.

One participant of a one-round task (digits, hidden 4, 16 public test samples), so that
its submission closes the window and it leads at once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkpot import proving
from zkpot.learning.integer_model import QuantizedModel
from zkpot.ledger import Ledger, Member, RoundStatus
from zkpot.participant import Identity, Participant, Training, split_training_data
from zkpot.participant.machine import Aggregation, BlockNotVerified, RoundMachine, Waiting
from zkpot.participant.records import MemoryRecords, Stage
from zkpot.protocol import Task
from zkpot.publish import task_params
from zkpot.store import LocalStore

SEED = 5
#: The task, its proving key, and its aggregation key and verifying key (one slot).
Keys = tuple[Task, proving.ProvingKey, tuple[proving.AggregationKey, proving.VerifyingKey]]


class UnprovableAggregate(RoundMachine):
    """A leader whose aggregation step yields a global model with no proof: every hidden
    activation of every test sample leaves the circuit's range."""

    def aggregate(self, r: int) -> Aggregation:
        aggregation = super().aggregate(r)
        spec = self.participant.task.spec
        top = 2 ** (spec.weight_bits - 1) - 1
        model = QuantizedModel(
            spec,
            (np.full(spec.widths[:2], top), np.zeros(spec.widths[1:], dtype=np.int64)),
            (
                np.full(spec.widths[1], 2 ** (spec.bias_bits - 1) - 1),
                np.zeros(spec.widths[2], dtype=np.int64),
            ),
            (1.0, 1.0),
        )
        return replace(aggregation, package=replace(aggregation.package, model=model))


@pytest.fixture(scope="module")
def keys() -> Keys:
    task = Task.create("digits", hidden=4, test_samples=16, threshold=0.0, rounds=1, seed=SEED)
    pk, _ = proving.setup(task.circuit)
    return task, pk, proving.setup_aggregation(task.aggregation_circuit(1))


def _machine(
    cls: type[RoundMachine], keys: Keys, tmp: Path
) -> tuple[RoundMachine, list[dict[str, Any]]]:
    task, pk, (aggregation_key, aggregation_vk) = keys
    ledger, store = Ledger.in_process(), LocalStore(tmp)
    me = Identity.generate()
    ledger.fund(me.address, 10**18)
    publisher = ledger.new_account()
    _, vk = pk, pk.verifying_key()
    x, y = split_training_data(task.dataset, 1, None, SEED)[0]
    members = [Member(me.address, me.keys.public, len(y))]
    params = task_params(ledger, store, publisher, task, vk, aggregation_vk, members, SEED)
    task_id = ledger.register_task(publisher, params)
    p = Participant("P0", 0, me, x, y, task, SEED, Training(epochs=1, batch_size=32))
    events: list[dict[str, Any]] = []
    registry = {me.address: me.keys.public}
    machine = cls(
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
    return machine, events


def test_a_round_stage_by_stage(keys: Keys, tmp_path: Path) -> None:
    machine, events = _machine(RoundMachine, keys, tmp_path)
    assert machine.step(0) == Waiting.NOTHING
    names = [e["event"] for e in events]
    assert names == ["training", "proving", "prepared", "submitted", "leading", "proposed"]
    record = machine.records.record(0)
    assert record is not None and record.stage == Stage.DONE
    block = machine.ledger.round_block(machine.task_id, 0)
    assert block is not None and block.leader == machine.address
    assert machine.blocks[0].hash == block.block_hash
    assert machine.blocks[0].accepted == (machine.address,)
    assert machine.step(0) == Waiting.NOTHING and len(events) == len(names)  # done is done


def test_a_global_model_with_no_proof_yields_no_block_and_the_turn_passes(
    keys: Keys, tmp_path: Path
) -> None:
    machine, events = _machine(UnprovableAggregate, keys, tmp_path)
    assert machine.step(0) == Waiting.TURN
    no_block = events[-1]
    assert (no_block["event"], no_block["layer"], no_block["rule"]) == (
        "no_block",
        "client",
        "Unprovable",
    )
    assert "the global model has no proof" in no_block["reason"]
    state = machine.ledger.round_state(machine.task_id, 0)
    assert state.status == RoundStatus.CLOSED and state.leader == machine.address
    assert machine.step(0) == Waiting.TURN  # one attempt per turn
    assert events[-1] is no_block
    # Once its turn has passed, no leader is left: the round is skipped.
    machine.ledger.advance_time(state.turn_ends - machine.ledger.timestamp())
    assert machine.step(0) == Waiting.NOTHING
    assert events[-1]["event"] == "skipped_round"
    block = machine.ledger.round_block(machine.task_id, 0)
    assert block is not None and block.leader is None
    assert machine.blocks[0].hash == block.block_hash


@pytest.fixture(scope="module")
def one_round(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> RoundMachine:
    machine, _ = _machine(RoundMachine, keys, tmp_path_factory.mktemp("one-round"))
    assert machine.step(0) == Waiting.NOTHING
    return machine


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: {"global_proof": (c.global_proof[0] + 1, *c.global_proof[1:])}, "decode"),
        (lambda c: {"global_proof": c.aggregation_proof}, "global model's proof"),
        (lambda c: {"aggregation_proof": c.global_proof}, "aggregation proof"),
        (lambda c: {"global_count": c.global_count + 1}, "global model's proof"),
        (lambda c: {"accepted": ()}, "aggregation circuit"),
        (lambda c: {"global_cid": c.global_cid + "x"}, "hash"),
    ],
)
def test_a_block_that_does_not_verify_here_is_not_trained_on(
    one_round: RoundMachine, monkeypatch: pytest.MonkeyPatch, change, reason: str
) -> None:
    """The participant checks each block's proofs itself, from the call that appended it;
    a call that does not verify (here, as a dishonest node would report it) stops it."""
    machine = one_round
    block = machine.ledger.round_block(machine.task_id, 0)
    call = machine.ledger.block_call(machine.task_id, 0)
    assert call is not None and call.accepted == (machine.address,)
    machine.verify_block(0, block)  # the honest block verifies
    tampered = replace(call, **change(call))
    monkeypatch.setattr(machine.ledger, "block_call", lambda task_id, round: tampered)
    with pytest.raises(BlockNotVerified, match=reason):
        machine.verify_block(0, block)
