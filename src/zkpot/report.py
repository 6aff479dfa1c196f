"""The report of a federation run: tables on the terminal, files under ``results/<run>/``.

``summary.json`` holds every figure; ``blocks/round-<r>.json`` the round blocks;
``accuracy.png`` the global accuracy per round (with the plain-FedAvg baseline) and each
participant's proven accuracy; ``proving_time.png`` the proving time per participant.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from zkpot.federation import FederationResult


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def summary(result: FederationResult, baseline: FederationResult | None) -> dict[str, Any]:
    data = result.summary()
    if baseline is not None:
        data["baseline_fedavg_accuracy"] = [r.global_accuracy for r in baseline.rounds]
        final, plain = result.rounds[-1].global_accuracy, baseline.rounds[-1].global_accuracy
        data["final_accuracy_gap_pp"] = round(100 * (final - plain), 3)
    return data


def write(result: FederationResult, baseline: FederationResult | None, out: Path) -> Path:
    """Writes summary, blocks and plots into ``out``; returns it."""
    data = summary(result, baseline)
    _atomic_write(out / "summary.json", json.dumps(data, indent=2, sort_keys=True).encode())
    for r in result.rounds:
        if r.block is not None:
            block = json.dumps(r.block.to_json(), indent=2, sort_keys=True).encode()
            _atomic_write(out / "blocks" / f"round-{r.round}.json", block)
    _plot_accuracy(result, baseline, out / "accuracy.png")
    if result.proofs:
        _plot_proving(result, out / "proving_time.png")
    return out


def _plot_accuracy(result: FederationResult, baseline: FederationResult | None, path: Path) -> None:
    rounds = [r.round for r in result.rounds]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    label = "ZKPoT global model" if result.proofs else "global model"
    ax.plot(rounds, [r.global_accuracy for r in result.rounds], "o-", label=label, linewidth=2)
    if baseline is not None:
        ax.plot(
            rounds,
            [r.global_accuracy for r in baseline.rounds],
            "s--",
            label="plain FedAvg (no proofs)",
        )
    n = result.task.num_samples
    for name in result.participants:
        proven = [r.counts.get(name, 0) / n for r in result.rounds]
        if result.proofs:
            ax.plot(rounds, proven, ".", alpha=0.6, label=f"{name} proven")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_xticks(rounds)
    ax.set_title(f"{result.task.name}: accuracy per round")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_proving(result: FederationResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    names = result.participants
    width = 0.8 / max(1, len(result.rounds))
    for k, r in enumerate(result.rounds):
        xs = [i + k * width for i in range(len(names))]
        ax.bar(xs, [r.prove_s.get(name, 0.0) for name in names], width, label=f"round {r.round}")
    ax.set_xticks([i + width * (len(result.rounds) - 1) / 2 for i in range(len(names))], names)
    ax.set_ylabel("proving time (s)")
    ax.set_title(f"proving time per participant ({result.constraints:,} constraints)")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_tables(
    console: Console, result: FederationResult, baseline: FederationResult | None
) -> None:
    """One table per round, then the accuracy per round against the baseline."""
    n = result.task.num_samples
    for r in result.rounds:
        title = f"round {r.round}: leader {r.leader or '- (skipped)'}"
        table = Table(title=title, title_justify="left")
        for col in (
            "participant",
            "proven accuracy",
            "prove s",
            "verify ms",
            "submit gas",
            "hand-over gas",
        ):
            table.add_column(col, justify="right" if col != "participant" else "left")
        for name in result.participants:
            mark = " (leader)" if name == r.leader else ""
            table.add_row(
                name + mark,
                f"{r.counts.get(name, 0) / n:.3f} ({r.counts.get(name, 0)}/{n})",
                f"{r.prove_s.get(name, 0.0):.2f}",
                f"{r.verify_ms.get(name, 0.0):.2f}",
                f"{r.submit_gas.get(name, 0):,}",
                f"{r.handover_gas.get(name, 0):,}" if name in r.handover_gas else "-",
            )
        console.print(table)
        rejected = (
            ", ".join(f"{x.submitter}: {x.reason}" for x in r.block.rejected) if r.block else ""
        )
        proven = ""
        if r.block is not None:
            g = r.block.global_count
            proven = f" (proven {g / n:.3f}, {g}/{n})" if not r.block.skipped else " (skipped)"
        passed = f", passed over: {', '.join(r.passed_over)}" if r.passed_over else ""
        console.print(
            f"  global accuracy {r.global_accuracy:.4f}{proven}, "
            f"block proposal {r.propose_gas:,} gas"
            + passed
            + (f", rejected: {rejected}" if rejected else "")
        )
    table = Table(title="global model accuracy (MNIST/digits test split)", title_justify="left")
    table.add_column("round")
    table.add_column("ZKPoT", justify="right")
    if baseline is not None:
        table.add_column("plain FedAvg", justify="right")
    for k, r in enumerate(result.rounds):
        row = [str(r.round), f"{r.global_accuracy:.4f}"]
        if baseline is not None:
            row.append(f"{baseline.rounds[k].global_accuracy:.4f}")
        table.add_row(*row)
    console.print(table)
