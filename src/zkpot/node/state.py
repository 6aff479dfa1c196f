"""A participant node's durable state: one SQLite file, changed only in transactions.

The chain is the authority on what happened; the state file keeps what the chain cannot
give back after a crash — above all the secrets of the current submission (its salt and
package key), without which a submitted model can neither be handed to the leader nor
aggregated, and the identity the node acts as.

Tables:

- ``meta(key, value)``: the identity (Ethereum and X25519 private keys, as in a key file),
  and the task the file is bound to (its task file: chain id, ZKPoT address, task id,
  manifest CID). A state file serves one identity in one task; binding it to another is
  refused, and a restarted node needs neither its key file nor its task file.
- ``rounds``: one row per round this node worked on: a
  :class:`~zkpot.participant.records.RoundRecord`, whose ``stage`` says how far the node
  got (the stages of :mod:`zkpot.participant.records`). Schema 2 added ``claim_proof``; a
  schema-1 file gains the column when opened.

Every change is one ``BEGIN IMMEDIATE … COMMIT`` transaction in WAL mode with
``synchronous=FULL``: after a crash a row is in its old stage or its new one, never in
between. Stages only move forward (``skipped`` and ``done`` included); a change that
would move one back raises :class:`StateError`. The file is created with mode 0600 since
it holds private keys.

A state file that is not a SQLite database, fails SQLite's integrity check, or holds a
value this module never writes (an unknown stage, a field of the wrong type, a malformed
identity or task binding) raises :class:`StateError` naming the file and the way to
recover (:data:`RECOVERY`), when it is opened or whenever it is read; nothing is written
to it then.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from zkpot import safejson
from zkpot.node.keys import KeyFileError, identity_from_json, identity_to_json
from zkpot.node.manifest import ManifestError, TaskRef
from zkpot.participant import Identity
from zkpot.participant.records import COLUMNS, RoundRecord, Stage, StateError, check_advance

__all__ = ["ParticipantState", "RoundRecord", "Stage", "StateError", "exclusive"]

P = ParamSpec("P")
T = TypeVar("T")

#: How to recover from a damaged state file, in every error that reports one.
RECOVERY = (
    "stop every node on it, restore the file from a backup, or move it aside and start "
    "the node again with --key and --task-file: it then rejoins from the chain and skips "
    "any round this account has already submitted (the contract accepts one submission "
    "per account and round, so nothing is submitted twice)"
)


class CorruptStateError(StateError):
    """The state file is damaged: not SQLite, failing its integrity check, or holding a
    value this module never writes."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the state file {path} is damaged ({problem}); to recover, {RECOVERY}")


def _guard_db(method: Callable[P, T]) -> Callable[P, T]:
    """Turn an SQLite error raised by ``method`` into :class:`CorruptStateError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except sqlite3.ProgrammingError:
            raise  # a value this module cannot store: a bug, not damage
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            path = args[0].path  # type: ignore[attr-defined]
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StateError(f"the state file {path} is busy: {exc}") from None
            raise CorruptStateError(path, str(exc)) from None

    return wrapper


SCHEMA_VERSION = 2

_SQL_TYPES = {
    "round": "INTEGER PRIMARY KEY",
    "stage": "TEXT NOT NULL",
    "params": "BLOB",
    "salt": "TEXT",
    "package_key": "BLOB",
    "ciphertext": "BLOB",
    "model_cid": "TEXT",
    "commitment": "TEXT",
    "count": "INTEGER",
    "tag": "TEXT",
    "proof": "BLOB",
    "prove_s": "REAL",
    "local_accuracy": "REAL",
    "submit_gas": "INTEGER",
    "handover_gas": "INTEGER",
    "propose_gas": "INTEGER",
    "leader": "TEXT",
    "block_hash": "TEXT",
    "global_cid": "TEXT",
    "note": "TEXT",
    "updated_at": "REAL",
    "claim_proof": "BLOB",
}


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a state file for as long as a node runs on it.

    A second node on the same state file is refused at once (:class:`StateError`). The
    lock (``flock`` on ``<path>.lock``) dies with the process, even on SIGKILL, so a
    restarted node never finds a stale one.
    """
    lock_path = Path(f"{path}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(f"another node is running on {path}") from None
        yield
    finally:
        os.close(fd)


class ParticipantState:
    """The SQLite state file of one participant node."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            if not self.path.exists():
                # Create it private before SQLite opens it (the WAL files inherit the mode).
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise StateError(f"cannot create the state file {self.path}: {exc}") from None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state file {self.path}: {exc}") from None
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    @_guard_db
    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        problems = [str(row[0]) for row in self._db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise CorruptStateError(self.path, "; ".join(problems[:3]))
        with self._transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            columns = ", ".join(f"{name} {_SQL_TYPES[name]}" for name in COLUMNS)
            db.execute(f"CREATE TABLE IF NOT EXISTS rounds ({columns})")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            if self._meta("schema") == "1":  # version 2 adds the claimed proof words
                db.execute("ALTER TABLE rounds ADD COLUMN claim_proof BLOB")
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        if self._meta("schema") != str(SCHEMA_VERSION):
            raise StateError(f"{self.path}: unknown state schema {self._meta('schema')}")
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(rounds)")]
        if columns != list(COLUMNS):
            raise CorruptStateError(self.path, "the rounds table has other columns")
        # Every stored value is read once now, so that damage stops the node at start.
        self.identity()
        self.binding()
        self.records()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ParticipantState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @_guard_db
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # ------------------------------------------------------------------ identity, task

    def identity(self) -> Identity | None:
        """The identity stored in the file, if any."""
        doc = self._meta("identity")
        if doc is None:
            return None
        try:
            return identity_from_json(safejson.loads(doc), str(self.path))
        except (ValueError, RecursionError, KeyFileError) as exc:
            raise CorruptStateError(self.path, f"its identity is unreadable: {exc}") from None

    def binding(self) -> TaskRef | None:
        """The task the file is bound to, if any."""
        doc = self._meta("binding")
        if doc is None:
            return None
        try:
            return TaskRef.from_json(doc, str(self.path))
        except ManifestError as exc:
            raise CorruptStateError(self.path, f"its task binding is unreadable: {exc}") from None

    @_guard_db
    def bind(self, identity: Identity, binding: TaskRef) -> Identity:
        """Bind the file to ``identity`` and a task on first use; afterwards check both.

        Returns the stored identity. In one transaction, so a crash leaves the file
        either unbound or fully bound.
        """
        with self._transaction() as db:
            stored = self.identity()
            if stored is not None and stored.address != identity.address:
                raise StateError(
                    f"{self.path} belongs to {stored.address}, not to {identity.address}"
                )
            bound = self.binding()
            if bound is not None and bound != binding:
                raise StateError(f"{self.path} is bound to {bound}, not to {binding}")
            if stored is None:
                db.execute(
                    "INSERT INTO meta VALUES ('identity', ?)",
                    (json.dumps(identity_to_json(identity)),),
                )
            if bound is None:
                db.execute("INSERT INTO meta VALUES ('binding', ?)", (binding.to_json(),))
        return stored or identity

    # ------------------------------------------------------------------ rounds

    @_guard_db
    def record(self, round: int) -> RoundRecord | None:
        """The row of a round, or None if this node never started it."""
        cursor = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM rounds WHERE round = ?", (round,)
        )
        row = cursor.fetchone()
        if row is None:
            return None
        values = dict(zip(COLUMNS, row, strict=True))
        problem = _check_row(values)
        if problem is not None:
            raise CorruptStateError(self.path, f"round {values['round']}: {problem}")
        values["stage"] = Stage(values["stage"])
        return RoundRecord(**values)

    @_guard_db
    def records(self) -> list[RoundRecord]:
        rounds = [r for (r,) in self._db.execute("SELECT round FROM rounds ORDER BY round")]
        return [rec for r in rounds if (rec := self.record(r)) is not None]

    @_guard_db
    def advance(self, round: int, stage: Stage, **values: Any) -> RoundRecord:
        """Move a round to ``stage`` and set ``values``, atomically; returns the new row.

        Columns not named keep their values. Moving to an earlier stage raises
        :class:`StateError` and changes nothing.
        """
        with self._transaction() as db:
            check_advance(self.record(round), round, stage, values)
            row = {"stage": str(stage), **values, "updated_at": time.time()}
            names = ["round", *row]
            placeholders = ", ".join("?" for _ in names)
            updates = ", ".join(f"{name} = excluded.{name}" for name in row)
            db.execute(
                f"INSERT INTO rounds ({', '.join(names)}) VALUES ({placeholders}) "
                f"ON CONFLICT(round) DO UPDATE SET {updates}",
                (round, *row.values()),
            )
        result = self.record(round)
        if result is None:  # pragma: no cover - the row was just written
            raise StateError(f"round {round} vanished from {self.path}")
        return result


#: Python types of each column's values as this module writes them (None aside).
_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "INTEGER PRIMARY KEY": int,
    "TEXT NOT NULL": str,
    "TEXT": str,
    "BLOB": bytes,
    "INTEGER": int,
    "REAL": (float, int),
}
#: Field elements, kept as decimal strings.
_DECIMAL = ("salt", "commitment", "tag")


def _check_row(values: dict[str, Any]) -> str | None:
    """What is wrong with a row read back from the file, or None."""
    for name, value in values.items():
        if value is None:
            if name in ("round", "stage"):
                return f"{name} is missing"
            continue
        if isinstance(value, bool) or not isinstance(value, _PY_TYPES[_SQL_TYPES[name]]):
            return f"{name} holds a {type(value).__name__}"
    if values["round"] < 0:
        return "a negative round"
    if values["stage"] not in Stage.__members__.values():
        return f"unknown stage {values['stage']!r}"
    for name in _DECIMAL:
        text = values[name]
        if text is not None and not (text.isascii() and text.isdigit() and len(text) <= 80):
            return f"{name} is not a decimal number"
    return None
