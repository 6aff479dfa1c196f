"""The report of a federation run: tables on the terminal, files under ``results/<run>/``.

``summary.json`` holds every figure; ``blocks/round-<r>.json`` the round blocks;
``index.html`` the explorer's page of the run (:mod:`zkpot.explorer`);
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

from zkpot.federation import FederationResult, RoundResult


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def summary(
    result: FederationResult,
    baseline: FederationResult | None,
    initial_accuracy: float | None = None,
) -> dict[str, Any]:
    data = result.summary()
    if initial_accuracy is not None:
        data["initial_accuracy"] = initial_accuracy
        data["learning_warning"] = learning_warning(result, initial_accuracy)
    if baseline is not None:
        data["baseline_fedavg_accuracy"] = [r.global_accuracy for r in baseline.rounds]
        final, plain = result.rounds[-1].global_accuracy, baseline.rounds[-1].global_accuracy
        data["final_accuracy_gap_pp"] = round(100 * (final - plain), 3)
    return data


def write(
    result: FederationResult,
    baseline: FederationResult | None,
    out: Path,
    initial_accuracy: float | None = None,
) -> Path:
    """Writes summary, blocks and plots into ``out``; returns it."""
    data = summary(result, baseline, initial_accuracy)
    _atomic_write(out / "summary.json", json.dumps(data, indent=2, sort_keys=True).encode())
    for r in result.rounds:
        if r.block is not None:
            block = json.dumps(r.block.to_json(), indent=2, sort_keys=True).encode()
            _atomic_write(out / "blocks" / f"round-{r.round}.json", block)
    if result.proofs:
        _write_explorer_page(data, result, out / "index.html")
    _plot_accuracy(result, baseline, out / "accuracy.png")
    if result.proofs:
        _plot_proving(result, out / "proving_time.png")
    return out


def _write_explorer_page(data: dict[str, Any], result: FederationResult, path: Path) -> None:
    """The explorer's page of this run, static (see :mod:`zkpot.explorer`)."""
    from zkpot.explorer.page import render
    from zkpot.explorer.view import from_summary

    blocks = {r.round: r.block.to_json() for r in result.rounds if r.block is not None}
    _atomic_write(path, render(from_summary(data, blocks)).encode())


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


def learning_warning(result: FederationResult, initial_accuracy: float) -> str | None:
    """Why a run learned nothing, with a hint; ``None`` when its global model improved.

    A run learns nothing when every round was skipped (no participant proved the
    threshold, so the initial model carried over) or when its final global model is no
    better than the initial one.
    """
    if not result.rounds:
        return None
    skipped = [r for r in result.rounds if r.block is not None and r.block.skipped]
    hint = (
        "give the participants more local training (--local-epochs, --lr) "
        f"or lower the threshold (--threshold, now {result.task.threshold:g})"
    )
    if result.proofs and len(skipped) == len(result.rounds):
        best = _best_attempt(result)
        return (
            f"every round was skipped: no participant proved {result.task.min_count} of "
            f"{result.task.num_samples} test samples{best}, so the global model is still the "
            f"initial one ({initial_accuracy:.4f}); {hint}."
        )
    final = result.rounds[-1].global_accuracy
    if final <= initial_accuracy:
        return (
            f"the global model did not learn: {final:.4f} after {len(result.rounds)} rounds "
            f"against {initial_accuracy:.4f} for the initial model; {hint}."
        )
    return None


def _best_attempt(result: FederationResult) -> str:
    reasons = [why for r in result.rounds for why in r.not_submitted.values()]
    return f" (for example: {reasons[0]})" if reasons else ""


def _status(r: RoundResult, name: str) -> str:
    """What a participant's round came to: submitted, or why not."""
    if name in r.absent:
        return "absent"
    if name in r.not_submitted:
        return f"not submitted: {r.not_submitted[name]}"
    if name not in r.counts:
        return "-"
    refused = [x.rule for x in r.refused(name)]
    return "submitted" + (f" (refused: {', '.join(refused)})" if refused else "")


def print_tables(
    console: Console,
    result: FederationResult,
    baseline: FederationResult | None,
    initial_accuracy: float | None = None,
) -> None:
    """One table per round, then the accuracy per round against the baseline, then a
    warning if the run learned nothing (when ``initial_accuracy`` is given)."""
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
            "status",
        ):
            table.add_column(col, justify="left" if col in ("participant", "status") else "right")
        for name in result.participants:
            mark = " (leader)" if name == r.leader else ""
            submitted = name in r.counts
            count = r.counts.get(name, 0)
            table.add_row(
                name + mark,
                f"{count / n:.3f} ({count}/{n})" if submitted else "-",
                f"{r.prove_s[name]:.2f}" if name in r.prove_s else "-",
                f"{r.verify_ms[name]:.2f}" if name in r.verify_ms else "-",
                f"{r.submit_gas[name]:,}" if name in r.submit_gas else "-",
                f"{r.handover_gas[name]:,}" if name in r.handover_gas else "-",
                _status(r, name),
            )
        console.print(table)
        rejected = (
            ", ".join(f"{x.submitter}: {x.reason}" for x in r.block.rejected) if r.block else ""
        )
        proven = ""
        if r.block is not None:
            g = r.block.global_count
            proven = (
                f" (proven {g / n:.3f}, {g}/{n})"
                if not r.block.skipped
                else " (round skipped: the previous global model carries over)"
            )
        passed = f", passed over: {', '.join(r.passed_over)}" if r.passed_over else ""
        aggregation = ""
        if r.aggregation_proof is not None:
            a = r.aggregation_proof
            gas = f", {a['gas']:,} gas to verify" if a.get("gas") is not None else ""
            verdict = "verified" if a["verified"] else "NOT verified"
            aggregation = (
                f"\n  aggregation proof: {a['contributions']} models averaged, "
                f"proved in {a['prove_s']:.2f} s, {verdict}{gas}"
            )
        excluded = ""
        if r.excluded:
            shown = ", ".join(
                f"{name} ({'key shown' if key else 'contested, not re-opened'})"
                for name, key in r.excluded.items()
            )
            excluded = f"\n  excluded on chain: {shown}"
        console.print(
            f"  global accuracy {r.global_accuracy:.4f}{proven}, "
            f"block proposal {r.propose_gas:,} gas"
            + passed
            + (f", rejected: {rejected}" if rejected else "")
            + aggregation
            + excluded
        )
    table = Table(
        title=f"global model accuracy ({result.task.dataset} test split)", title_justify="left"
    )
    table.add_column("round")
    table.add_column("ZKPoT", justify="right")
    if baseline is not None:
        table.add_column("plain FedAvg", justify="right")
    if initial_accuracy is not None:
        row = ["initial", f"{initial_accuracy:.4f}"]
        table.add_row(*row, *([row[1]] if baseline is not None else []))
    for k, r in enumerate(result.rounds):
        row = [str(r.round), f"{r.global_accuracy:.4f}"]
        if baseline is not None:
            row.append(f"{baseline.rounds[k].global_accuracy:.4f}")
        table.add_row(*row)
    console.print(table)
    if initial_accuracy is not None:
        warning = learning_warning(result, initial_accuracy)
        if warning is not None:
            console.print(f"[bold yellow]warning:[/] {warning}")
