"""What the explorer shows, read from a run's results or from a ledger.

A :class:`ChainView` is plain data: task facts, the blocks in round order, per round the
submissions and refusals, and the accuracy series. :func:`from_results` reads the files
``zkpot run`` writes (``summary.json`` and ``blocks/round-<r>.json``); :func:`from_ledger`
reads a task through the public :class:`~zkpot.ledger.Ledger` views and events, which know
no participant names, timings or gas (those cells stay empty).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BlockView",
    "ChainView",
    "ExplorerError",
    "SubmissionRow",
    "from_ledger",
    "from_results",
    "from_summary",
]


class ExplorerError(ValueError):
    """The results directory or the task cannot be read."""


@dataclass(frozen=True)
class SubmissionRow:
    """One participant in one round."""

    participant: str
    status: str
    count: int | None = None
    commitment: str | None = None
    cid: str | None = None
    prove_s: float | None = None
    submit_gas: int | None = None
    handover_gas: int | None = None


@dataclass(frozen=True)
class BlockView:
    """A round block and what the round came to."""

    round: int
    hash: str
    parent: str
    leader: str
    leader_count: int
    global_count: int
    num_samples: int
    global_commitment: str
    global_cid: str
    skipped: bool
    accepted: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    passed_over: tuple[str, ...] = ()
    propose_gas: int | None = None
    global_accuracy: float | None = None


@dataclass
class ChainView:
    """A task's chain as the explorer shows it."""

    title: str
    facts: dict[str, str]
    genesis: str
    blocks: list[BlockView] = field(default_factory=list)
    submissions: dict[int, list[SubmissionRow]] = field(default_factory=dict)
    #: (participant, layer, rule, detail) per round.
    refusals: dict[int, list[tuple[str, str, str, str]]] = field(default_factory=dict)
    #: Series name -> accuracy per round (None where unknown).
    accuracy: dict[str, list[float | None]] = field(default_factory=dict)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExplorerError(f"cannot read {path}: {exc}") from exc


def from_results(run_dir: Path) -> ChainView:
    """The view of a finished ``zkpot run`` from its ``summary.json`` and block files."""
    summary = _read_json(run_dir / "summary.json")
    if not isinstance(summary, dict) or "rounds" not in summary or not summary.get("proofs"):
        raise ExplorerError(f"{run_dir}: not the results of a ZKPoT run")
    blocks = {}
    for r in summary["rounds"]:
        path = run_dir / "blocks" / f"round-{r['round']}.json"
        if path.exists():
            blocks[r["round"]] = _read_json(path)
    return from_summary(summary, blocks)


def from_summary(summary: dict[str, Any], blocks: dict[int, dict[str, Any]]) -> ChainView:
    """The view of a run from its summary and its blocks' JSON, keyed by round."""
    task = summary["task"]
    names = {address.lower(): name for name, address in summary["participants"].items()}
    view = ChainView(
        title=f"{task['name']} (task {task['task_id']})",
        facts={
            "dataset": task["dataset"],
            "widths": "-".join(map(str, task["widths"])),
            "public test samples": str(task["test_samples"]),
            "threshold": f"{task['min_count']} of {task['test_samples']}",
            "rounds": str(task["rounds"]),
            "test-set hash": task["test_set_hash"],
            "participants": ", ".join(summary["participants"]),
            "constraints": f"{summary['constraints']:,}",
            "setup": f"{summary['setup_s']:.1f} s",
        },
        genesis=blocks[0]["parent_hash"] if 0 in blocks else "",
    )
    for r in summary["rounds"]:
        k = r["round"]
        b = blocks.get(k)
        if b is not None:
            view.blocks.append(
                BlockView(
                    round=k,
                    hash=b["hash"],
                    parent=b["parent_hash"],
                    leader=r["leader"] or "-",
                    leader_count=b["leader_count"],
                    global_count=b["global_count"],
                    num_samples=b["num_samples"],
                    global_commitment=hex(b["global_commitment"]),
                    global_cid=b["global_cid"],
                    skipped=b["skipped"],
                    accepted=tuple(names.get(a.lower(), a) for a in b["accepted"]),
                    rejected=tuple(
                        (names.get(x["submitter"].lower(), x["submitter"]), x["reason"])
                        for x in b["rejected"]
                    ),
                    passed_over=tuple(r["passed_over"]),
                    propose_gas=r["propose_gas"],
                    global_accuracy=r["global_accuracy"],
                )
            )
        view.submissions[k] = [_submission(r, name) for name in summary["participants"]]
        view.refusals[k] = [
            (x["participant"], x["layer"], x["rule"], x["detail"]) for x in r["refusals"]
        ]
    view.accuracy["ZKPoT global model"] = [r["global_accuracy"] for r in summary["rounds"]]
    view.accuracy["proven global (public test set)"] = [
        r["global_proven_accuracy"] for r in summary["rounds"]
    ]
    if "baseline_fedavg_accuracy" in summary:
        view.accuracy["plain FedAvg (no proofs)"] = list(summary["baseline_fedavg_accuracy"])
    return view


def _submission(r: dict[str, Any], name: str) -> SubmissionRow:
    if name in r["absent"]:
        status = "absent"
    elif name in r["not_submitted"]:
        status = f"not submitted: {r['not_submitted'][name]}"
    elif name in r["counts"]:
        status = "submitted"
    else:
        status = "-"
    return SubmissionRow(
        participant=name,
        status=status,
        count=r["counts"].get(name),
        commitment=r.get("commitments", {}).get(name),
        cid=r.get("model_cids", {}).get(name),
        prove_s=r["prove_s"].get(name),
        submit_gas=r["submit_gas"].get(name),
        handover_gas=r["handover_gas"].get(name),
    )


def from_ledger(ledger: Any, task_id: int) -> ChainView:
    """The view of task ``task_id`` read from a :class:`~zkpot.ledger.Ledger`."""
    task = ledger.task(task_id)
    participants = [p.address for p in ledger.participants(task_id)]
    genesis = "0x" + ledger.genesis_hash(task_id).hex()
    view = ChainView(
        title=f"task {task_id} at {ledger.address}",
        facts={
            "publisher": task.publisher,
            "verifier": task.verifier,
            "public test samples": str(task.num_samples),
            "threshold": f"{task.min_count} of {task.num_samples}",
            "rounds": str(task.rounds),
            "test-set hash": "0x" + task.test_set_hash.hex(),
            "test set CID": task.test_set_cid,
            "initial model CID": task.initial_cid,
            "participants": str(len(participants)),
        },
        genesis=genesis,
    )
    parent = genesis
    proven: list[float | None] = []
    for k in range(task.rounds):
        block = ledger.round_block(task_id, k)
        view.submissions[k] = [_on_chain(ledger, task_id, k, a) for a in participants]
        view.refusals[k] = []
        if block is None:
            proven.append(None)
            continue
        hash_ = "0x" + block.block_hash.hex()
        view.blocks.append(
            BlockView(
                round=k,
                hash=hash_,
                parent=parent,
                leader=block.leader or "-",
                leader_count=block.leader_count,
                global_count=block.global_count,
                num_samples=task.num_samples,
                global_commitment=hex(block.global_commitment),
                global_cid=block.global_cid,
                skipped=block.leader is None,
                accepted=tuple(
                    s.participant
                    for s in view.submissions[k]
                    if s.status == "submitted, aggregated"
                ),
            )
        )
        parent = hash_
        proven.append(block.global_count / task.num_samples)
    view.accuracy["proven global (public test set)"] = proven
    return view


def _on_chain(ledger: Any, task_id: int, k: int, address: str) -> SubmissionRow:
    submission = ledger.submission(task_id, k, address)
    if submission is None:
        return SubmissionRow(address, "no valid submission")
    return SubmissionRow(
        participant=address,
        status="submitted, aggregated" if submission.accepted else "submitted",
        count=submission.count,
        commitment=hex(submission.commitment),
        cid=ledger.model_cid(task_id, k, address),
    )
