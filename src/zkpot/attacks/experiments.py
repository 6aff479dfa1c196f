"""The Byzantine sweep: global accuracy against the fraction of attackers, per behaviour.

For every fraction ``f`` the last ``round(f * n)`` participants are Byzantine (the IID
partition is random, so which slots does not matter; the last ones submit after the honest
ones, so that a replayer always has something to copy). Four federations run on the same
partitions, initial model and seeds:

* ``zkpot``: real proofs and ledger, the attackers playing their behaviour;
* ``fedavg``: plain FedAvg with no proofs (the undefended baseline): the server averages
  whatever model each attacker hands it;
* ``zkpot-honest-only`` and ``fedavg-honest-only``: the same with the attackers' slots
  empty, i.e. what the honest participants achieve on their own.

Fraction 0 is the no-attack run (everyone honest), shared by every behaviour. One Groth16
setup serves the whole sweep.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zkpot import proving
from zkpot.attacks.behaviours import BEHAVIOURS, Absent, make_behaviour
from zkpot.federation import Federation, FederationResult
from zkpot.participant import Behaviour, Training
from zkpot.protocol import Task
from zkpot.store import LocalStore

__all__ = [
    "SETTINGS",
    "SweepConfig",
    "SweepResult",
    "SweepRun",
    "byzantine_indices",
    "fractions_from_text",
    "plot_sweep",
    "run_sweep",
    "sweep_markdown",
    "sweep_table",
    "write_sweep",
]

Progress = Callable[[str, int, int], None]

#: The four federations of each point of the sweep.
SETTINGS = ("zkpot", "fedavg", "zkpot-honest-only", "fedavg-honest-only")
#: The behaviour name of the references (no attacker behaviour).
NO_ATTACK = "none"


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class SweepConfig:
    """The task, the federation and the sweep."""

    dataset: str = "digits"
    hidden: int = 16
    test_samples: int = 64
    threshold: float = 0.3
    rounds: int = 3
    participants: int = 10
    fractions: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    behaviours: tuple[str, ...] = tuple(BEHAVIOURS)
    training: Training = field(default_factory=lambda: Training(epochs=10, lr=0.05, batch_size=32))
    seed: int = 0
    alpha: float | None = None

    def __post_init__(self) -> None:
        if any(not 0.0 <= f <= 0.5 for f in self.fractions):
            raise ValueError("Byzantine fractions lie in [0, 0.5]")
        unknown = set(self.behaviours) - set(BEHAVIOURS)
        if unknown:
            raise ValueError(
                f"unknown behaviours {sorted(unknown)}; choose from {sorted(BEHAVIOURS)}"
            )
        if self.participants < 2:
            raise ValueError("a sweep needs at least two participants")


@dataclass
class SweepRun:
    """One federation of the sweep."""

    behaviour: str
    fraction: float
    setting: str
    attackers: list[str]
    accuracy: list[float]
    #: "layer:rule" -> how many times the protocol refused an attacker (all rounds).
    refusals: dict[str, int] = field(default_factory=dict)
    #: Attacker submissions the round blocks list as accepted (aggregated), all rounds.
    attackers_aggregated: int = 0
    #: "layer:rule" -> how many times the protocol refused an honest participant.
    honest_refusals: dict[str, int] = field(default_factory=dict)
    leaders: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final(self) -> float:
        return self.accuracy[-1]


@dataclass
class SweepResult:
    config: SweepConfig
    runs: list[SweepRun] = field(default_factory=list)

    def get(self, behaviour: str, fraction: float, setting: str) -> SweepRun:
        """The run of a point; fraction 0 and the honest-only settings ignore the behaviour."""
        if fraction == 0.0 or setting.endswith("honest-only"):
            behaviour = NO_ATTACK
        if fraction == 0.0:
            setting = setting.removesuffix("-honest-only")
        for run in self.runs:
            if (run.behaviour, run.fraction, run.setting) == (behaviour, fraction, setting):
                return run
        raise KeyError(f"no run for {behaviour} at {fraction} ({setting})")

    def to_json(self) -> dict[str, Any]:
        config = asdict(self.config)
        return {"config": config, "runs": [asdict(r) | {"final": r.final} for r in self.runs]}


def byzantine_indices(participants: int, fraction: float) -> list[int]:
    """The Byzantine slots at ``fraction``: the last ``round(fraction * participants)``."""
    k = round(fraction * participants)
    return list(range(participants - k, participants))


def _summarise(
    result: FederationResult, behaviour: str, fraction: float, setting: str, attackers: list[str]
) -> SweepRun:
    refusals: Counter[str] = Counter()
    honest: Counter[str] = Counter()
    aggregated = 0
    for r in result.rounds:
        for x in r.refusals:
            (refusals if x.participant in attackers else honest)[f"{x.layer}:{x.rule}"] += 1
        if r.block is not None:
            accepted = set(r.block.accepted)
            aggregated += sum(result.addresses[a] in accepted for a in attackers)
    return SweepRun(
        behaviour,
        fraction,
        setting,
        attackers,
        [r.global_accuracy for r in result.rounds],
        dict(refusals),
        aggregated,
        dict(honest),
        [r.leader for r in result.rounds],
    )


def run_sweep(config: SweepConfig, progress: Progress = _no_progress) -> SweepResult:
    """Every point of the sweep; proofs are real, one setup (of both circuits) serves every
    ZKPoT run."""
    c = config
    task = Task.create(c.dataset, c.hidden, c.test_samples, c.threshold, c.rounds, seed=c.seed)
    progress("setup", 0, 1)
    keys = proving.setup(task.circuit)
    capacity = min(c.participants, proving.MAX_AGGREGATION_CAPACITY)
    aggregation_keys = proving.setup_aggregation(task.aggregation_circuit(capacity))
    progress("setup", 1, 1)
    fractions = sorted(set(c.fractions))
    plan: list[tuple[str, float, str]] = []
    for f in fractions:
        if f == 0.0 or not byzantine_indices(c.participants, f):
            plan += [(NO_ATTACK, f, s) for s in ("zkpot", "fedavg")]
            continue
        plan += [(NO_ATTACK, f, s) for s in ("zkpot-honest-only", "fedavg-honest-only")]
        plan += [(b, f, s) for b in c.behaviours for s in ("zkpot", "fedavg")]
    result = SweepResult(config)
    for done, (behaviour, fraction, setting) in enumerate(plan):
        progress(f"{behaviour} at {fraction:.0%} ({setting})", done, len(plan))
        slots = byzantine_indices(c.participants, fraction)
        chosen: dict[int, Behaviour] = {}
        if setting.endswith("honest-only"):
            chosen = {i: Absent() for i in slots}
        elif behaviour != NO_ATTACK:
            chosen = {i: make_behaviour(behaviour) for i in slots}
        attackers = [f"P{i}" for i in chosen]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="zkpot-sweep-") as tmp:
            fed = Federation(
                task,
                c.participants,
                c.alpha,
                c.seed,
                store=LocalStore(Path(tmp)),
                proofs=setting.startswith("zkpot"),
                training=c.training,
                behaviours=chosen,
                keys=keys,
                aggregation_keys=aggregation_keys,
            )
            run = _summarise(fed.run(), behaviour, fraction, setting, attackers)
        run.seconds = round(time.perf_counter() - t0, 1)
        result.runs.append(run)
    progress("done", len(plan), len(plan))
    return result


# ----------------------------------------------------------------------------- report


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def sweep_table(result: SweepResult) -> Any:
    """A Rich table: one row per behaviour and fraction, accuracies in percent."""
    from rich.table import Table

    c = result.config
    table = Table(
        title=(
            f"Byzantine sweep: {c.dataset}, {c.participants} participants, {c.rounds} rounds, "
            f"threshold {c.threshold:.0%} (global accuracy % per round)"
        ),
        show_header=True,
        header_style="bold",
    )
    for name, justify in (
        ("behaviour", "left"),
        ("byz.", "right"),
        ("ZKPoT", "right"),
        ("ZKPoT honest-only", "right"),
        ("Δ pp", "right"),
        ("FedAvg", "right"),
        ("FedAvg honest-only", "right"),
        ("Δ pp", "right"),
        ("byz. aggregated", "right"),
        ("byz. refused (layer:rule x times)", "left"),
        ("honest refused", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    fractions = sorted(set(c.fractions))
    for behaviour in c.behaviours:
        for f in fractions:
            cells = _row(result, behaviour, f, lambda counts: _refused(counts, ", ", "{} x{}"))
            table.add_row(behaviour if f == fractions[0] else "", *cells[1:])
        table.add_section()
    return table


def _refused(counts: dict[str, int], sep: str, item: str) -> str:
    return sep.join(item.format(k, v) for k, v in sorted(counts.items())) or "-"


def _row(
    result: SweepResult, behaviour: str, f: float, refused: Callable[[dict[str, int]], str]
) -> list[str]:
    """The cells of one sweep point, shared by the Rich and the Markdown table."""
    zk, plain = result.get(behaviour, f, "zkpot"), result.get(behaviour, f, "fedavg")
    zk_ref = result.get(behaviour, f, "zkpot-honest-only")
    plain_ref = result.get(behaviour, f, "fedavg-honest-only")
    return [
        behaviour,
        f"{len(zk.attackers)}/{result.config.participants}",
        " → ".join(_pct(a) for a in zk.accuracy),
        " → ".join(_pct(a) for a in zk_ref.accuracy),
        f"{100 * (zk.final - zk_ref.final):+.1f}",
        " → ".join(_pct(a) for a in plain.accuracy),
        " → ".join(_pct(a) for a in plain_ref.accuracy),
        f"{100 * (plain.final - plain_ref.final):+.1f}",
        str(zk.attackers_aggregated),
        refused(zk.refusals),
        refused(zk.honest_refusals),
    ]


def sweep_markdown(result: SweepResult) -> str:
    """The table of :func:`sweep_table` as Markdown (accuracies in %, round 0 -> last)."""
    lines = [
        "| behaviour | Byzantine | ZKPoT | ZKPoT honest-only | Δ pp | FedAvg | "
        "FedAvg honest-only | Δ pp | Byzantine aggregated | Byzantine refused | "
        "honest refused |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    c = result.config
    for behaviour in c.behaviours:
        for f in sorted(set(c.fractions)):
            cells = _row(result, behaviour, f, lambda counts: _refused(counts, "<br>", "`{}` x{}"))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_sweep(result: SweepResult, out: Path) -> list[Path]:
    """One PNG per behaviour: final accuracy against the fraction, and per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result.config
    fractions = sorted(set(c.fractions))
    paths = []
    styles = {
        "zkpot": ("o-", "ZKPoT"),
        "fedavg": ("s--", "plain FedAvg (no proofs)"),
        "zkpot-honest-only": ("^:", "ZKPoT, honest only"),
        "fedavg-honest-only": ("v:", "FedAvg, honest only"),
    }
    for behaviour in c.behaviours:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for setting, (style, label) in styles.items():
            finals = [result.get(behaviour, f, setting).final for f in fractions]
            left.plot([100 * f for f in fractions], finals, style, label=label)
        left.set_xlabel("Byzantine participants (%)")
        left.set_ylabel(f"global accuracy after round {c.rounds - 1}")
        left.set_title(f"{behaviour}: final accuracy")
        left.grid(alpha=0.3)
        left.legend(fontsize="small")
        rounds = list(range(c.rounds))
        for k, f in enumerate(fractions):
            colour = f"C{k}"
            zk, plain = result.get(behaviour, f, "zkpot"), result.get(behaviour, f, "fedavg")
            right.plot(rounds, zk.accuracy, "o-", color=colour, label=f"{f:.0%} Byzantine")
            right.plot(rounds, plain.accuracy, "s--", color=colour, alpha=0.6)
            if f > 0:
                ref = result.get(behaviour, f, "zkpot-honest-only")
                right.plot(rounds, ref.accuracy, "^:", color=colour, alpha=0.6)
        right.set_xlabel("round (solid: ZKPoT, dashed: plain FedAvg, dotted: honest only)")
        right.set_ylabel("global accuracy")
        right.set_xticks(rounds)
        right.set_title(f"{behaviour}: per round")
        right.grid(alpha=0.3)
        right.legend(fontsize="small")
        fig.tight_layout()
        path = out / f"byzantine-{behaviour}.png"
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def write_sweep(result: SweepResult, out: Path) -> list[Path]:
    """``summary.json``, ``table.md`` and the plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "summary.json"
    summary.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True))
    table = out / "table.md"
    table.write_text(sweep_markdown(result))
    return [summary, table, *plot_sweep(result, out)]


def fractions_from_text(text: str) -> tuple[float, ...]:
    """``"0,0.1,0.3"`` -> ``(0.0, 0.1, 0.3)``."""
    return tuple(float(x) for x in text.split(",") if x.strip())
