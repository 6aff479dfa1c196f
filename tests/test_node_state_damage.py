"""A damaged participant state file stops the node with a clear error that says how to
recover; it is never a raw traceback, and reading it changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from zkpot.cli import app
from zkpot.node.manifest import TaskRef
from zkpot.node.state import CorruptStateError, ParticipantState, Stage, StateError
from zkpot.participant import Identity
from zkpot.store import generate_keypair

REF = TaskRef(
    31337, "0x" + "11" * 20, 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
)


def _good_state(path: Path) -> None:
    with ParticipantState(path) as state:
        state.bind(Identity(Account.create(), generate_keypair()), REF)
        state.advance(0, Stage.TRAINED, params=b"model")
        state.advance(0, Stage.PREPARED, salt=str(2**250), package_key=b"k" * 32, count=40)
        state.advance(0, Stage.SUBMITTED, submit_gas=1)


def _checkpointed(path: Path) -> bytes:
    """The file's bytes with the WAL folded in (what a clean shutdown leaves)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path.read_bytes()


def _refused(path: Path) -> str:
    before = path.read_bytes()
    with pytest.raises(CorruptStateError) as info:
        ParticipantState(path)
    assert path.read_bytes() == before
    message = str(info.value)
    assert str(path) in message and "to recover" in message and "--key" in message
    return message


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    path.write_bytes(b"this is not a database, it is a sentence" * 100)
    assert "not a database" in _refused(path)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_truncated_file_is_refused(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "node.sqlite"
    _good_state(path)
    data = _checkpointed(path)
    path.write_bytes(data[: int(len(data) * keep)])
    _refused(path)


def test_overwritten_pages_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    _good_state(path)
    data = bytearray(_checkpointed(path))
    page = int.from_bytes(data[16:18], "big")
    data[page + 8 : 2 * page] = b"\xa5" * (page - 8)  # the second page, past its header
    path.write_bytes(bytes(data))
    _refused(path)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("stage", "launched", "unknown stage"),
        ("salt", "12ab", "not a decimal"),
        ("count", "forty", "count holds a str"),
        ("params", "text", "params holds a str"),
    ],
)
def test_a_value_never_written_is_refused(
    tmp_path: Path, column: str, value: object, problem: str
) -> None:
    path = tmp_path / "node.sqlite"
    _good_state(path)
    db = sqlite3.connect(path)
    db.execute(f"UPDATE rounds SET {column} = ? WHERE round = 0", (value,))
    db.commit()
    db.close()
    _checkpointed(path)
    assert problem in _refused(path)


def test_a_damaged_identity_or_binding_is_refused(tmp_path: Path) -> None:
    for key, value in [("identity", "{not json"), ("binding", '{"format": 3}')]:
        path = tmp_path / f"{key}.sqlite"
        _good_state(path)
        db = sqlite3.connect(path)
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
        db.commit()
        db.close()
        _checkpointed(path)
        assert key.replace("binding", "task binding") in _refused(path)


def test_damage_while_running_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    _good_state(path)
    state = ParticipantState(path)
    try:
        state._db.execute("UPDATE rounds SET stage = 'x' WHERE round = 0")
        with pytest.raises(CorruptStateError, match="unknown stage"):
            state.record(0)
        state._db.execute("DROP TABLE rounds")
        with pytest.raises(StateError, match="to recover"):
            state.advance(1, Stage.TRAINED)
    finally:
        state.close()


def test_the_participant_command_reports_a_damaged_state_file(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    path.write_bytes(b"\x00garbage" * 500)
    result = CliRunner().invoke(
        app,
        [
            "participant",
            "--state",
            str(path),
            "--ledger",
            "http://127.0.0.1:9",
            "--ipfs",
            "http://127.0.0.1:9",
        ],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "damaged" in result.output and "to recover" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("task", ["-1", str(2**256), "x"])
@pytest.mark.parametrize("command", ["status", "participant"])
def test_an_out_of_range_task_id_is_a_usage_error(tmp_path: Path, task: str, command: str) -> None:
    args = [command, "--ledger", "http://127.0.0.1:9", "--task", task, "--zkpot", "0x" + "11" * 20]
    if command == "participant":
        args += ["--ipfs", "http://127.0.0.1:9", "--state", str(tmp_path / "s.sqlite")]
        args += ["--manifest", REF.manifest]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert "--task" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.sqlite").exists()
