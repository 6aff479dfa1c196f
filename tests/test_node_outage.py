"""A node whose store fails in the middle of a round stops with a one-paragraph error that
says how to resume (no traceback), and the same command then resumes.

On anvil and kubo: a publisher registers a one-round digits task; the initial global
model is then unpinned and garbage-collected from the (offline) kubo node, so the node
loads the task, and fails when it fetches the model to train from. Put back (the same
bytes, the same CID), the same command goes on to train and prove.
"""

from __future__ import annotations

import subprocess

import pytest
import requests
from nodes import Node, event_is, zkpot_command

from zkpot.ledger import Ledger
from zkpot.node.manifest import TaskRef
from zkpot.store import IpfsHttpStore

pytestmark = [pytest.mark.anvil, pytest.mark.ipfs]


def test_a_store_failure_mid_round_stops_the_node_with_a_way_to_resume(
    anvil_url: str, kubo_api: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("outage")
    zkpot = zkpot_command()
    lines = []
    for name in ("P0", "P1", "publisher"):
        samples = ["--samples", "500"] if name != "publisher" else []
        out = subprocess.run(
            [zkpot, "keygen", str(work / f"{name}.key"), *samples], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        lines.append(out.stdout)
    (work / "participants.jsonl").write_text("".join(lines[:2]))
    published = subprocess.run(
        [
            zkpot, "publisher",
            "--ledger", anvil_url, "--ipfs", kubo_api,
            "--participants-file", str(work / "participants.jsonl"),
            "--key", str(work / "publisher.key"), "--fund", str(10**20),
            "--dataset", "digits", "--hidden", "16", "--test-samples", "64",
            "--threshold", "0.3", "--rounds", "1", "--window", "600", "--seed", "3",
            "--out", str(work / "task.json"),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    ref = TaskRef.read(work / "task.json")
    initial = Ledger.connect(anvil_url, zkpot_address=ref.zkpot).task(ref.task_id).initial_cid
    store = IpfsHttpStore(kubo_api)
    envelope = store.get(initial)
    for command in ("pin/rm", "repo/gc"):
        response = requests.post(f"{kubo_api}/api/v0/{command}", params={"arg": initial})
        assert response.status_code == 200, response.text
    assert not store.has(initial)

    args = [
        "--state", str(work / "P0.sqlite"), "--key", str(work / "P0.key"),
        "--task-file", str(work / "task.json"), "--ledger", anvil_url, "--ipfs", kubo_api,
        "--seed", "3", "--poll", "0.1",
    ]  # fmt: skip
    node = Node("P0", args, work)
    node.start()
    assert node.finish() == 1
    text = node.stderr()
    message = " ".join(text.split())  # as one line, however the console wrapped it
    assert "Traceback" not in message and "\n\n" not in text.strip()
    assert initial in message and "run the same command again" in message
    assert str(work / "P0.sqlite") in message
    assert [e["event"] for e in node.events()] == ["started"]

    assert store.put(envelope) == initial
    node.start()
    try:
        node.wait_for(event_is("proving", 0))
    finally:
        node.stop_all()
