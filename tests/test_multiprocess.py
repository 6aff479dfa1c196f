"""The federation across processes, on a real EVM node (anvil) and a real IPFS node (kubo).

A publisher process registers a small digits task (hidden 16, 64 public test samples,
threshold 0.3, 3 rounds, a 600 s window); four participant processes (``zkpot
participant``) run its rounds, sharing nothing but anvil's JSON-RPC and kubo's HTTP API,
both on 127.0.0.1 and started by the fixtures. P0, P1 and P2 are honest and hold the three
parts of the training set; P3 is Byzantine (``--behaviour inflated-claim``: it proves its
model honestly, then claims more correct samples with that proof). Along the way:

- every round: the ledger refuses P3's submission with ``InvalidProof``, the rule its
  behaviour names, so no round can close early (the contract closes a round early only
  when every registered participant has submitted): each closes when its window ends,
  which the test brings about by moving anvil's clock past the deadline
  (``evm_setNextBlockTimestamp``) once the others have submitted;
- round 1: P0 is killed with SIGKILL while it proves, and restarted from its state file
  alone (no key file, no task file);
- P2 leaves after round 1 and never comes back;
- round 2: once P0 and P1 have submitted and wait for the window, the one that will lead
  the round is killed with SIGKILL and restarted: it must not submit again, and must lead
  with the package key and X25519 key its state file kept.

Then the chain and the store must hold every round block and every accepted model, the
status command must report P3 absent from every round and P2 from round 2, and the
leaders must be those of the in-process ``Federation`` run with the same seed and the same
honest participants' keys.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nodes import Node, event_is, zkpot_command

from zkpot import Federation, Task
from zkpot.exchange import global_commitment, open_global
from zkpot.federation import FederationResult
from zkpot.learning.inference import correct_count
from zkpot.ledger import Ledger
from zkpot.node.keys import read_key_file
from zkpot.node.manifest import TaskManifest, TaskRef
from zkpot.node.state import ParticipantState, Stage
from zkpot.participant import Training, split_training_data
from zkpot.protocol.hashes import block_hash, tie_break_rank
from zkpot.store import IpfsHttpStore, LocalStore

pytestmark = [pytest.mark.anvil, pytest.mark.ipfs]

SEED = 3
ROUNDS = 3
WINDOW = 600
TRAINING = Training(epochs=10, lr=0.05, batch_size=32)
TASK_OPTIONS = {"dataset": "digits", "hidden": 16, "test_samples": 64, "threshold": 0.3}


@dataclass
class Run:
    """Everything the scenario produced, for the tests to inspect."""

    ledger: Ledger
    store: IpfsHttpStore
    ref: TaskRef
    keys: dict[str, Path]
    addresses: dict[str, str]
    nodes: dict[str, Node]
    states: dict[str, Path]
    status: dict[str, Any]
    status_text: str
    reference: FederationResult
    leader_killed: str
    reference_store: LocalStore


#: The Byzantine node, its behaviour, and the rule of the ledger that refuses it.
BYZANTINE = "P3"
BEHAVIOUR, REFUSED_BY = "inflated-claim", "InvalidProof"


@pytest.fixture(scope="module")
def run(anvil_url: str, kubo_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("multiprocess")
    zkpot = zkpot_command()
    honest = ["P0", "P1", "P2"]
    names = [*honest, BYZANTINE]
    keys = {name: work / f"{name}.key" for name in [*names, "publisher"]}
    # Each party makes its own keys; only the public line goes to the publisher.
    # Each participant registers the size of its part of the training set (P3 uses P0's).
    parts = split_training_data(TASK_OPTIONS["dataset"], len(honest), None, SEED)
    samples = {name: len(parts[i][1]) for i, name in enumerate(honest)}
    samples[BYZANTINE] = samples["P0"]
    keygens = {
        name: subprocess.Popen(
            [zkpot, "keygen", str(path)]
            + (["--samples", str(samples[name])] if name in samples else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, path in keys.items()
    }
    entries = {name: json.loads(process.communicate()[0]) for name, process in keygens.items()}
    assert all(process.returncode == 0 for process in keygens.values())
    (work / "participants.jsonl").write_text(
        "".join(json.dumps(entries[name]) + "\n" for name in names)
    )
    addresses = {name: entries[name]["address"] for name in names}

    published = subprocess.run(
        [
            zkpot,
            "publisher",
            "--ledger", anvil_url,
            "--ipfs", kubo_api,
            "--participants-file", str(work / "participants.jsonl"),
            "--key", str(keys["publisher"]),
            "--fund", str(10**20),
            "--dataset", TASK_OPTIONS["dataset"],
            "--hidden", str(TASK_OPTIONS["hidden"]),
            "--test-samples", str(TASK_OPTIONS["test_samples"]),
            "--threshold", str(TASK_OPTIONS["threshold"]),
            "--rounds", str(ROUNDS),
            "--window", str(WINDOW),
            "--seed", str(SEED),
            "--out", str(work / "task.json"),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    ref = TaskRef.read(work / "task.json")
    assert TaskRef.from_json(published.stdout) == ref

    common = [
        "--ledger", anvil_url,
        "--ipfs", kubo_api,
        "--seed", str(SEED),
        "--local-epochs", str(TRAINING.epochs),
        "--lr", str(TRAINING.lr),
        "--batch-size", str(TRAINING.batch_size),
        "--poll", "0.1",
        "--handover-timeout", "600",
        "--parts", str(len(honest)),
    ]  # fmt: skip
    states = {name: work / f"{name}.sqlite" for name in names}
    nodes = {}
    for name in names:
        first = [
            "--state", str(states[name]),
            "--key", str(keys[name]),
            "--task-file", str(work / "task.json"),
            *common,
        ]  # fmt: skip
        if name == "P2":
            first += ["--last-round", "1"]
        if name == BYZANTINE:
            first += ["--behaviour", BEHAVIOUR, "--part", "0"]
        nodes[name] = Node(name, first, work)
    ledger = Ledger.connect(anvil_url, zkpot_address=ref.zkpot)
    # A restarted node needs only its state file (it holds the keys and the task).
    restart = {name: ["--state", str(states[name]), *common] for name in names}

    def close_window(r: int, submitters: list[str]) -> None:
        """Once the submitters wait for round r's window and the ledger has refused the
        Byzantine node, move anvil's clock past the deadline (anvil has no block time
        here)."""
        for name in submitters:
            nodes[name].wait_for(event_is("waiting", r, until="closed"))
        nodes[BYZANTINE].wait_for(event_is("skipped", r))
        state = ledger.round_state(ref.task_id, r)
        assert state.submitted == len(submitters)
        now = ledger.timestamp()
        if state.deadline > now:
            ledger.advance_time(state.deadline - now)

    try:
        for node in nodes.values():
            node.start()
        close_window(0, honest)

        # Round 1: P0 is killed while proving, and restarted.
        nodes["P0"].wait_for(event_is("proving", 1))
        nodes["P0"].kill()
        nodes["P0"].start(restart["P0"])
        close_window(1, honest)

        # P2 leaves after round 1.
        nodes["P2"].wait_for(event_is("left", 2))
        assert nodes["P2"].finish() == 0

        # Round 2: once both live honest nodes have submitted and wait for the window, the
        # one that will lead is killed and restarted: it must lead with what its state
        # file kept.
        for name in ("P0", "P1"):
            nodes[name].wait_for(event_is("waiting", 2, until="closed"))
        state = ledger.round_state(ref.task_id, 2)
        assert state.submitted == 2 and state.leader is not None
        leader = next(name for name, a in addresses.items() if a == state.leader)
        nodes[leader].kill()
        nodes[leader].start(restart[leader])
        close_window(2, ["P0", "P1"])

        for name in ("P0", "P1", BYZANTINE):
            code = nodes[name].finish()
            assert code == 0, nodes[name].stderr()
    finally:
        for node in nodes.values():
            node.stop_all()

    status_json = subprocess.Popen(
        [zkpot, "status", "--ledger", anvil_url, "--task-file", str(work / "task.json"), "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    status_table = subprocess.Popen(
        [zkpot, "status", "--ledger", anvil_url, "--zkpot", ref.zkpot, "--task", str(ref.task_id)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "240"},  # one table row per line
    )
    shown, table = status_json.communicate()[0], status_table.communicate()[0]
    assert status_json.returncode == 0 and status_table.returncode == 0

    # The same federation in one process: same seed, same participant keys.
    federation = Federation(
        Task.create(rounds=ROUNDS, seed=SEED, **TASK_OPTIONS),
        participants=3,
        seed=SEED,
        ledger=Ledger.connect(anvil_url),
        store=LocalStore(work / "federation-store"),
        training=TRAINING,
    )
    for participant, name in zip(federation.participants, honest, strict=True):
        participant.identity = read_key_file(keys[name])
    yield Run(
        ledger,
        IpfsHttpStore(kubo_api),
        ref,
        keys,
        addresses,
        nodes,
        states,
        json.loads(shown),
        table,
        federation.run(),
        leader,
        federation.store,
    )


def test_every_round_block_and_accepted_model_is_on_chain_and_in_the_store(run: Run) -> None:
    ledger, store, task_id = run.ledger, run.store, run.ref.task_id
    task = ledger.task(task_id)
    assert task.finished
    everyone = [run.addresses[n] for n in ("P0", "P1", "P2")]
    parent = ledger.genesis_hash(task_id)
    p0 = read_key_file(run.keys["P0"])
    public = Task.create(rounds=ROUNDS, seed=SEED, **TASK_OPTIONS)
    for r in range(ROUNDS):
        block = ledger.round_block(task_id, r)
        assert block is not None
        leader = ledger.leader_of(task_id, r)
        accepted = [a for a in everyone if (s := ledger.submission(task_id, r, a)) and s.accepted]
        assert accepted == (everyone if r < 2 else everyone[:2])
        accepted.sort(key=lambda a: int(a, 16))  # blocks list them in ascending order
        # The block hash chains to its parent, as the protocol computes it.
        assert block.block_hash == block_hash(
            task_id,
            r,
            parent,
            leader.address,
            leader.count,
            block.global_commitment,
            block.global_count,
            block.global_cid,
            accepted,
        )
        assert block.leader == leader.address
        parent = block.block_hash
        # The global model is in the store, opens to its on-chain commitment, and scores
        # the count its proof claims.
        package = open_global(store.get(block.global_cid), p0.address, p0.keys.private)
        assert global_commitment(package) == block.global_commitment
        assert correct_count(package.model, public.test_x, public.test_y) == block.global_count
        # So is every accepted (encrypted) model package.
        for address in accepted:
            assert store.has(ledger.model_cid(task_id, r, address))
    assert ledger.head(task_id).block_hash == parent
    # The task's own objects too: manifest, proving key, verifying key, test set.
    manifest = TaskManifest.from_bytes(store.get(run.ref.manifest))
    for cid in (manifest.proving_key_cid, manifest.verifying_key_cid, task.test_set_cid):
        assert store.has(cid)


def test_a_participant_killed_mid_round_resumes_from_its_state(run: Run) -> None:
    p0 = run.nodes["P0"]
    # P0 was killed while proving round 1 and picked the round up where it stood.
    assert p0.runs[0].returncode == -signal.SIGKILL
    resumed = p0.events(1)[1]
    assert resumed["event"] == "resumed" and resumed["round"] == 1
    assert resumed["stage"] in ("trained", "prepared", "submitted")
    assert not any(e["event"] == "training" and e["round"] == 1 for e in p0.events(1))

    # The leader of round 2 was killed after its submission, while the window was open.
    # Restarted, it submitted nothing again and led with the package key and X25519 key
    # its state file kept: every submitted model, its own included, is in the block.
    victim = run.nodes[run.leader_killed]
    assert victim.runs[-2].returncode == -signal.SIGKILL
    events = victim.events()
    resumed = events[1]
    assert (resumed["event"], resumed["round"], resumed["stage"]) == ("resumed", 2, "submitted")
    assert not any(e["event"] in ("training", "proving", "prepared", "submitted") for e in events)
    proposed = next(e for e in events if e["event"] == "proposed")
    address = run.addresses[run.leader_killed]
    assert proposed["round"] == 2 and address in proposed["accepted"]
    assert len(proposed["accepted"]) == 2 and proposed["rejected"] == []
    other = next(n for n in ("P0", "P1") if n != run.leader_killed)
    assert any(e["event"] == "handed_over" and e["round"] == 2 for e in run.nodes[other].events())
    on_chain = run.ledger.submission(run.ref.task_id, 2, address)
    assert on_chain is not None and on_chain.accepted
    with ParticipantState(run.states[run.leader_killed]) as state:
        record = state.record(2)
        assert record is not None and record.stage == Stage.DONE
        assert int(record.commitment or 0) == on_chain.commitment
        assert record.model_cid == run.ledger.model_cid(run.ref.task_id, 2, address)
        assert [r.stage for r in state.records()] == [Stage.DONE] * ROUNDS


def test_an_absent_participant_is_reported_and_the_round_closes_at_its_deadline(
    run: Run,
) -> None:
    p2, p3 = run.addresses["P2"], run.addresses[BYZANTINE]
    views = run.status["round_summaries"]
    assert run.status["finished"] and len(views) == ROUNDS
    assert [v["absent"] for v in views] == [[p3], [p3], [p2, p3]]
    assert [len(v["submitted"]) for v in views] == [3, 3, 2]
    assert all(v["status"] == "finalized" and v["block_hash"] for v in views)
    # The table of `zkpot status`: round | status | submitted | absent | leader | ...
    rows = [line.split("│")[1:-1] for line in run.status_text.splitlines() if "│" in line]
    absent = {cells[0].strip(): cells[3].strip() for cells in rows}
    assert absent == {"0": "P3", "1": "P3", "2": "P2, P3"}
    # The round result each node emits says the same.
    for name in ("P0", "P1", BYZANTINE):
        last = [e for e in run.nodes[name].events() if e["event"] == "round"][-1]
        assert last["round"] == 2 and last["absent"] == [p2, p3]
    assert run.nodes["P2"].events()[-1]["event"] == "left"


def test_same_seed_same_leaders_as_the_in_process_federation(run: Run) -> None:
    reference = run.reference
    by_name = dict(run.addresses)
    views = run.status["round_summaries"]
    for r in (0, 1):
        ours, theirs = views[r], reference.rounds[r]
        assert ours["counts"] == {by_name[n]: c for n, c in theirs.counts.items()}
        assert ours["leader"] == by_name[theirs.leader]
        # The same models, aggregated in the same order: a bit-identical global model
        # (under a fresh salt, so the commitments differ).
        block = run.ledger.round_block(run.ref.task_id, r)
        assert block is not None and block.global_count == theirs.block.global_count
        p0 = read_key_file(run.keys["P0"])
        mine = open_global(run.store.get(block.global_cid), p0.address, p0.keys.private)
        envelope = run.reference_store.get(theirs.block.global_cid)
        assert mine.model == open_global(envelope, p0.address, p0.keys.private).model
        assert int(ours["global_commitment"]) != theirs.block.global_commitment
    # Round 2 without P2: P0 and P1 prove what they proved in-process, and the better
    # of the two leads (ties go to the lowest keccak(round, address), as on chain).
    theirs = reference.rounds[2]
    counts = {by_name[n]: theirs.counts[n] for n in ("P0", "P1")}
    assert views[2]["counts"] == counts
    best = min(counts, key=lambda a: (-counts[a], tie_break_rank(2, a)))
    assert views[2]["leader"] == best


def test_a_byzantine_node_is_refused_by_the_rule_its_behaviour_names(run: Run) -> None:
    node, address = run.nodes[BYZANTINE], run.addresses[BYZANTINE]
    assert node.events(0)[0]["behaviour"] == BEHAVIOUR
    assert node.process.returncode == 0, node.stderr()
    for r in range(ROUNDS):
        # It proved its model, claimed a count the proof is not about, and the ledger
        # refused the claim: nothing of it is on chain, and no block aggregates it.
        prepared = next(e for e in node.events() if e["event"] == "prepared" and e["round"] == r)
        skipped = next(e for e in node.events() if e["event"] == "skipped" and e["round"] == r)
        assert (skipped["layer"], skipped["rule"]) == ("ledger", REFUSED_BY), skipped
        assert run.ledger.submission(run.ref.task_id, r, address) is None
        honest = run.ledger.submission(run.ref.task_id, r, run.addresses["P0"])
        assert honest is not None and prepared["count"] > 0
    assert not any(e["event"] in ("submitted", "handed_over", "leading") for e in node.events())
