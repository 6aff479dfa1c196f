"""The pieces of the multi-process federation: key files, the participant's SQLite state,
the task manifest and its checks against the chain, and the write-ahead submission that
makes a restart safe (on anvil, with a local content store)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account

from zkpot import proving
from zkpot.exchange import params_to_bytes
from zkpot.learning.model import initial_model
from zkpot.ledger import Ledger
from zkpot.node.keys import (
    KeyFileError,
    generate_key_file,
    public_entry,
    read_key_file,
    read_participants_file,
    write_key_file,
)
from zkpot.node.manifest import (
    ManifestError,
    TaskManifest,
    TaskRef,
    load_task,
    publish_task,
)
from zkpot.node.runner import NodeConfig, ParticipantNode
from zkpot.node.state import ParticipantState, Stage, StateError, exclusive
from zkpot.node.status import round_summary
from zkpot.participant import Identity, Training
from zkpot.participant.machine import Waiting
from zkpot.participant.records import (
    COLUMNS,
    MemoryRecords,
    RoundRecord,
    bytes_to_words,
    words_to_bytes,
)
from zkpot.protocol import Task
from zkpot.store import LocalStore, generate_keypair

# ---------------------------------------------------------------------- key files


def test_key_file_round_trip_private_and_never_overwritten(tmp_path: Path) -> None:
    entry = generate_key_file(tmp_path / "a.key", 120)
    assert os.stat(tmp_path / "a.key").st_mode & 0o777 == 0o600
    identity = read_key_file(tmp_path / "a.key")
    assert {**public_entry(identity), "samples": 120} == entry
    with pytest.raises(KeyFileError, match="never overwritten"):
        write_key_file(tmp_path / "a.key", identity)
    assert read_key_file(tmp_path / "a.key").address == identity.address
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_key_file_refusals(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    generate_key_file(path, 120)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        read_key_file(path)
    os.chmod(path, 0o600)
    doc = json.loads(path.read_text())
    doc["x25519_public_key"] = generate_keypair().public.hex()
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="X25519 public key"):
        read_key_file(path)
    doc["address"] = Account.create().address
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="address"):
        read_key_file(path)


def test_participants_file_as_json_lines_or_array(tmp_path: Path) -> None:
    entries = [generate_key_file(tmp_path / f"{i}.key", 100 + i) for i in range(3)]
    lines = tmp_path / "p.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n\n" for e in entries))
    array = tmp_path / "p.json"
    array.write_text(json.dumps(entries))
    for path in (lines, array):
        registrations = read_participants_file(path)
        assert [r.address for r in registrations] == [e["address"] for e in entries]
        assert [r.x25519_key.hex() for r in registrations] == [e["x25519"] for e in entries]
        assert [r.samples for r in registrations] == [100, 101, 102]
    array.write_text(json.dumps([entries[0], entries[0]]))
    with pytest.raises(KeyFileError, match="twice"):
        read_participants_file(array)
    array.write_text(json.dumps([{"address": entries[0]["address"]}]))
    with pytest.raises(KeyFileError, match="entry 0"):
        read_participants_file(array)
    for samples in (0, -3, 2**32, "many", None):
        array.write_text(json.dumps([{**entries[0], "samples": samples}]))
        with pytest.raises(KeyFileError, match="entry 0"):
            read_participants_file(array)
    with pytest.raises(KeyFileError, match="sample count"):
        generate_key_file(tmp_path / "z.key", 0)
    assert not (tmp_path / "z.key").exists()


# ---------------------------------------------------------------------- state


def _identity() -> Identity:
    return Identity(Account.create(), generate_keypair())


REF = TaskRef(
    31337, "0x" + "11" * 20, 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
)


def test_state_persists_across_reopen_and_stages_only_move_forward(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    me = _identity()
    with ParticipantState(path) as state:
        assert os.stat(path).st_mode & 0o777 == 0o600
        state.bind(me, REF)
        state.advance(0, Stage.TRAINED, params=b"model")
        state.advance(0, Stage.PREPARED, salt=str(2**250), package_key=b"k" * 32, count=40)
    with ParticipantState(path) as state:
        assert state.identity().address == me.address  # type: ignore[union-attr]
        assert state.binding() == REF
        record = state.record(0)
        assert record is not None and record.stage == Stage.PREPARED
        assert (record.params, record.salt, record.count) == (b"model", str(2**250), 40)
        with pytest.raises(StateError, match="cannot go back"):
            state.advance(0, Stage.TRAINED)
        state.advance(0, Stage.SUBMITTED, submit_gas=280_000)
        assert state.record(0).submitted  # type: ignore[union-attr]
        assert state.record(0).package_key == b"k" * 32  # type: ignore[union-attr]
        assert state.record(1) is None
        with pytest.raises(ValueError, match="unknown"):
            state.advance(0, Stage.DONE, updated_at=0.0)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_both_kinds_of_records_move_forward_only(kind: str, tmp_path: Path) -> None:
    """The in-process federation's records and the node's state file keep a round alike."""
    records = MemoryRecords() if kind == "memory" else ParticipantState(tmp_path / "n.sqlite")
    assert records.record(0) is None
    records.advance(0, Stage.TRAINED, params=b"model")
    words = words_to_bytes((1, 2**255, 3))
    records.advance(0, Stage.PREPARED, count=40, claim_proof=words)
    with pytest.raises(StateError, match="cannot go back"):
        records.advance(0, Stage.TRAINED)
    with pytest.raises(ValueError, match="unknown"):
        records.advance(0, Stage.SUBMITTED, gas=1)
    record = records.record(0)
    assert record is not None and (record.stage, record.params, record.count) == (
        Stage.PREPARED,
        b"model",
        40,
    )
    assert bytes_to_words(record.claim_proof or b"") == (1, 2**255, 3)
    records.advance(0, Stage.SKIPPED, note="refused")
    assert records.record(0).note == "refused"  # type: ignore[union-attr]


def test_a_schema_1_state_file_gains_the_claim_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    old_columns = [c for c in COLUMNS if c != "claim_proof"]
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute(f"CREATE TABLE rounds ({', '.join(old_columns)}, PRIMARY KEY (round))")
    db.execute("INSERT INTO rounds (round, stage, count) VALUES (0, 'done', 50)")
    db.commit()
    db.close()
    with ParticipantState(path) as state:
        assert state.record(0) == RoundRecord(0, Stage.DONE, count=50)
        state.advance(1, Stage.PREPARED, claim_proof=b"\x01" * 32)
    with ParticipantState(path) as state:
        assert state.record(1).claim_proof == b"\x01" * 32  # type: ignore[union-attr]


def test_the_publisher_refuses_an_unknown_dataset_before_touching_anything(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from zkpot.cli import app

    key = tmp_path / "publisher.key"
    result = CliRunner().invoke(
        app,
        [
            "publisher", "--ledger", "http://127.0.0.1:9", "--ipfs", "http://127.0.0.1:9",
            "--participants-file", str(tmp_path / "participants.jsonl"), "--key", str(key),
            "--dataset", "cifar10", "--out", str(tmp_path / "task.json"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown dataset 'cifar10'" in result.output
    assert not (tmp_path / "task.json").exists()


def test_a_failed_change_leaves_the_state_as_it_was(tmp_path: Path) -> None:
    with ParticipantState(tmp_path / "node.sqlite") as state:
        state.advance(3, Stage.TRAINED, params=b"before")
        with pytest.raises(sqlite3.Error):
            state.advance(3, Stage.PREPARED, salt=object())  # not storable: rolled back
        record = state.record(3)
        assert record is not None and (record.stage, record.params) == (Stage.TRAINED, b"before")
        assert record.salt is None


def test_state_refuses_another_identity_or_task(tmp_path: Path) -> None:
    me, other = _identity(), _identity()
    with ParticipantState(tmp_path / "node.sqlite") as state:
        state.bind(me, REF)
        assert state.bind(me, REF).address == me.address
        with pytest.raises(StateError, match="belongs to"):
            state.bind(other, REF)
        with pytest.raises(StateError, match="bound to"):
            state.bind(me, TaskRef(REF.chain_id, REF.zkpot, 2, REF.manifest))


def test_one_node_per_state_file(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    with exclusive(path), pytest.raises(StateError, match="another node"), exclusive(path):
        pass
    with exclusive(path):  # released with its holder
        pass


# ---------------------------------------------------------------------- manifest


def test_task_file_and_manifest_round_trip_and_refusals(tmp_path: Path) -> None:
    REF.write(tmp_path / "task.json")
    assert TaskRef.read(tmp_path / "task.json") == REF
    with pytest.raises(ManifestError):
        TaskRef.from_json(json.dumps({"format": "zkpot-task-ref/v1", "chain_id": 1}))
    task = Task.create("digits", hidden=4, test_samples=16, rounds=2, window_s=60)
    manifest = TaskManifest(
        task.name, task.dataset, task.spec, 0.5, 2, 60, 16, 0, "a", "b", "c", "d", "e",
        "0x" + "22" * 20, 100, task.weight_scales, "f", "0x" + "33" * 20,
    )  # fmt: skip
    assert TaskManifest.from_bytes(manifest.to_bytes()) == manifest
    doc = json.loads(manifest.to_bytes())
    for broken in ({**doc, "extra": 1}, {**doc, "rounds": -1}, {**doc, "format": "x"}):
        with pytest.raises(ManifestError):
            TaskManifest.from_bytes(json.dumps(broken).encode())


# ---------------------------------------------------------------------- on a chain

TINY = {"dataset": "digits", "hidden": 4, "test_samples": 16, "threshold": 0.0}


@pytest.fixture(scope="module")
def published(anvil_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A one-participant, one-round task on anvil, its objects in a local store."""
    ledger = Ledger.connect(anvil_url)
    store = LocalStore(tmp_path_factory.mktemp("store"))
    me = _identity()
    ledger.fund(me.address, 10**19)
    task = Task.create(rounds=1, window_s=600, seed=5, **TINY)
    from zkpot.ledger.model import Member

    done = publish_task(
        ledger, store, ledger.new_account(), task, [Member(me.address, me.keys.public, 100)], 5
    )
    return {"ledger": ledger, "store": store, "me": me, "task": task, "published": done}


@pytest.mark.anvil
def test_load_task_checks_the_manifest_against_the_chain(published: dict[str, Any]) -> None:
    ledger, store, done = published["ledger"], published["store"], published["published"]
    loaded = load_task(ledger, store, done.ref)
    assert loaded.task.test_set_hash == published["task"].test_set_hash
    assert loaded.vk.to_evm() == loaded.pk.verifying_key().to_evm()
    assert loaded.manifest.constraints == loaded.pk.num_constraints

    def with_manifest(**changes: Any) -> TaskRef:
        doc = json.loads(done.manifest.to_bytes())
        doc.update(changes)
        cid = store.put(json.dumps(doc).encode())
        return TaskRef(done.ref.chain_id, done.ref.zkpot, done.ref.task_id, cid)

    with pytest.raises(ManifestError, match="window"):
        load_task(ledger, store, with_manifest(window=601))
    with pytest.raises(ManifestError, match="threshold"):
        load_task(ledger, store, with_manifest(threshold=0.5))
    # A proving key of another setup of the same circuit: not the verifier's key.
    other_pk, other_vk = proving.setup(published["task"].circuit)
    with pytest.raises(ManifestError, match="verifier contract"):
        load_task(
            ledger,
            store,
            with_manifest(
                proving_key_cid=store.put(other_pk.to_bytes()),
                verifying_key_cid=store.put(other_vk.to_bytes()),
            ),
        )
    with pytest.raises(ManifestError, match="chain"):
        load_task(ledger, store, TaskRef(1, done.ref.zkpot, done.ref.task_id, done.ref.manifest))


@pytest.mark.anvil
def test_a_submission_sent_just_before_a_crash_is_not_sent_again(
    published: dict[str, Any], tmp_path: Path
) -> None:
    """The write-ahead record: the node recorded its prepared submission, sent it, and
    died before recording that it was mined. Restarted, it finds it on chain and goes on."""
    ledger, store, me = published["ledger"], published["store"], published["me"]
    ref = published["published"].ref
    loaded = load_task(ledger, store, ref)
    events: list[dict[str, Any]] = []
    training = Training(epochs=2, lr=0.05, batch_size=32)

    def node() -> ParticipantNode:
        state = ParticipantState(tmp_path / "node.sqlite")
        state.bind(me, ref)
        return ParticipantNode(
            ledger, store, loaded, state, me, seed=5, training=training,
            config=NodeConfig(poll_s=0.05), emit=events.append,
        )  # fmt: skip

    first = node()
    first.participant.train(0, initial_model(loaded.task.spec.widths, 5).get_params())
    first.state.advance(
        0, Stage.TRAINED, params=params_to_bytes(first.participant.model.get_params())
    )
    record = first.machine._prepare(0)
    assert record.stage == Stage.PREPARED
    ledger.submit(
        me.account,
        ref.task_id,
        0,
        int(record.commitment or 0),
        record.count or 0,
        record.model_cid or "",
        proving.Proof.from_bytes(record.proof or b"").to_evm(),
    )
    first.state.close()  # the "crash": the state still says prepared

    events.clear()
    second = node()
    views = second.run()
    names = [e["event"] for e in events]
    assert names[:2] == ["started", "resumed"] and events[1]["stage"] == "prepared"
    submitted = [e for e in events if e["event"] == "submitted"]
    assert len(submitted) == 1 and submitted[0]["already_on_chain"] is True
    assert "proposed" in names and names[-1] == "finished"
    assert views[0].accepted == [me.address] and views[0].absent == []
    on_chain = ledger.submission(ref.task_id, 0, me.address)
    assert on_chain is not None and on_chain.commitment == int(record.commitment or 0)
    assert np.isfinite(record.local_accuracy or 0.0)
    assert [r.stage for r in second.state.records()] == [Stage.DONE]
    second.state.close()


@pytest.mark.anvil
def test_a_leader_that_never_proposes_loses_its_turn_to_the_next_node(
    anvil_url: str, tmp_path: Path
) -> None:
    """A submits the best model and crashes before leading. B hands its key over to A,
    waits; once A's turn has passed (the chain's clock moved one window past the end of
    turn 0), B is the leader: it waits for A's key (in vain), aggregates its own model,
    proves the global model and proposes the block."""

    ledger = Ledger.connect(anvil_url)
    store = LocalStore(tmp_path / "store")
    a, b = _identity(), _identity()
    for who in (a, b):
        ledger.fund(who.address, 10**19)
    task = Task.create(
        dataset="digits", hidden=16, test_samples=32, threshold=0.0, rounds=1, window_s=600
    )
    from zkpot.ledger.model import Member

    registrations = [Member(x.address, x.keys.public, 100) for x in (a, b)]
    ref = publish_task(ledger, store, ledger.new_account(), task, registrations, 5).ref
    loaded = load_task(ledger, store, ref)
    events: list[dict[str, Any]] = []

    def node(who: Identity, name: str, training: Training, chain: Ledger) -> ParticipantNode:
        state = ParticipantState(tmp_path / f"{name}.sqlite")
        state.bind(who, ref)
        config = NodeConfig(poll_s=0.05, handover_timeout_s=1.0)
        return ParticipantNode(
            chain, store, loaded, state, who, seed=5, training=training, config=config,
            emit=events.append,
        )  # fmt: skip

    # A trains properly, B barely at all: A's count is the best, so A holds turn 0.
    first = node(a, "a", Training(epochs=10, lr=0.05, batch_size=32), ledger)
    other = Ledger.connect(anvil_url, zkpot_address=ledger.address)

    def run_second() -> None:  # SQLite objects stay in the thread that made them
        second = node(b, "b", Training(epochs=1, lr=1e-9, batch_size=16), other)
        second.run()
        second.state.close()

    # A submits and waits for the window, then "crashes": it never hands over or leads.
    assert first.machine.step(0) == Waiting.CLOSED
    assert first.state.record(0).stage == Stage.SUBMITTED
    worker = threading.Thread(target=run_second)
    worker.start()
    try:
        deadline = time.monotonic() + 300
        while not any(e["event"] in ("handed_over", "leading") for e in events):
            assert worker.is_alive() and time.monotonic() < deadline, events
            time.sleep(0.05)
        handed = next(e for e in events if e["event"] in ("handed_over", "leading"))
        assert handed["event"] == "handed_over", "B's count was the best: no turn to pass"

        assert handed["leader"] == a.address
        state = ledger.round_state(ref.task_id, 0)
        assert (state.turn, state.leader) == (0, a.address)
        ledger.advance_time(state.turn_ends - ledger.timestamp() + 1)
        worker.join(timeout=300)
    finally:
        worker.join(timeout=1)
    assert not worker.is_alive()
    names = [e["event"] for e in events]
    assert names.index("handed_over") < names.index("leading") < names.index("proposed")
    proposed = next(e for e in events if e["event"] == "proposed")
    assert proposed["accepted"] == [b.address]
    assert proposed["rejected"] == [{"submitter": a.address, "reason": "no key was handed over"}]
    block = ledger.round_block(ref.task_id, 0)
    assert block is not None and block.leader == b.address
    assert ledger.leader_of(ref.task_id, 0).address == b.address
    view = round_summary(ledger, ref.task_id, 0, [a.address, b.address])
    assert (view.leader, view.global_count, view.skipped) == (b.address, block.global_count, False)
    first.state.close()
    state_b = ParticipantState(tmp_path / "b.sqlite")
    assert [r.stage for r in state_b.records()] == [Stage.DONE]
    state_b.close()
