"""Participant processes for the multi-process tests (test_multiprocess.py, test_chaos.py).

:class:`Node` runs ``zkpot participant`` as a restartable subprocess whose every run logs
its JSON-line events and its stderr to files of their own; :func:`event_is` matches one
event of one round. Loaded like the other helpers of tests/ (the directory is on
``sys.path`` while pytest runs).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Guard against a hung federation: give up waiting for an event after this long. Only a
#: hang trips it; nothing asserts how long anything took.
HANG_GUARD_S = 900.0


def zkpot_command() -> str:
    """The ``zkpot`` executable beside this Python (or on PATH); skips the test without."""
    beside = Path(sys.executable).with_name("zkpot")
    found = str(beside) if beside.is_file() else shutil.which("zkpot")
    if found is None:
        pytest.skip("the zkpot command is not installed (pip install -e .)")
    return found


@dataclass
class Node:
    """One participant process, restartable; each run logs to its own files."""

    name: str
    args: list[str]
    logs: Path
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str] | None = None) -> None:
        run = len(self.runs)
        with (
            open(self.logs / f"{self.name}.{run}.jsonl", "wb") as out,
            open(self.logs / f"{self.name}.{run}.err", "wb") as err,
        ):
            self.runs.append(
                subprocess.Popen(
                    [zkpot_command(), "participant", *(args or self.args)],
                    stdout=out,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                )
            )

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.runs[-1]

    @property
    def running(self) -> bool:
        return bool(self.runs) and self.process.poll() is None

    def events(self, run: int = -1) -> list[dict[str, Any]]:
        """The complete JSON lines a run has written so far."""
        index = run % len(self.runs)
        text = (self.logs / f"{self.name}.{index}.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def all_events(self) -> list[dict[str, Any]]:
        """The events of every run, in order, each with the index of its run (``run``)."""
        return [{**e, "run": i} for i in range(len(self.runs)) for e in self.events(i)]

    def stderr(self, run: int = -1) -> str:
        return (self.logs / f"{self.name}.{run % len(self.runs)}.err").read_text()

    def wait_for(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event of the current run that ``match`` accepts (polls the log)."""
        give_up = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < give_up:
            for event in self.events():
                if match(event):
                    return event
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} before the event:\n"
                    + self.stderr()[-4000:]
                )
            time.sleep(0.05)
        pytest.fail(f"{self.name}: no matching event (hung?)")

    def kill(self) -> None:
        """SIGKILL the current run and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def finish(self) -> int:
        """Wait for the current run to exit; its return code."""
        try:
            return self.process.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not finish (hung?)")

    def stop_all(self) -> None:
        for process in self.runs:
            if process.poll() is None:
                process.kill()
                process.wait()


def event_is(event: str, round: int, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """A matcher of the ``event`` of round ``round`` whose other fields equal ``fields``."""

    def match(e: dict[str, Any]) -> bool:
        return (
            e.get("event") == event
            and e.get("round") == round
            and all(e.get(k) == v for k, v in fields.items())
        )

    return match
