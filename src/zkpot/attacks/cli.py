"""``zkpot experiment``: the security experiments (Byzantine sweep, membership inference).

Registered in :mod:`zkpot.cli` as ``app.add_typer(experiment_app, name="experiment")``.
Each command prints a Rich table and writes ``summary.json`` and PNG plots under
``<out>/experiments/<name>-<timestamp>/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID

experiment_app = typer.Typer(
    help="Security experiments: Byzantine participants and membership inference.",
    no_args_is_help=True,
)

console = Console(stderr=True)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar whose description follows the experiment's current step."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar: list[TaskID] = []

        def update(phase: str, done: int, total: int) -> None:
            if not bar:
                bar.append(progress.add_task(phase, total=total))
            progress.update(bar[0], description=phase, completed=done, total=total)

        yield update


def _out_dir(out: Path, name: str) -> Path:
    return out / "experiments" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


@experiment_app.command("byzantine")
def byzantine(
    behaviour: Annotated[
        list[str] | None,
        typer.Option(help="Behaviour to sweep (repeatable); every behaviour if unset."),
    ] = None,
    fractions: Annotated[
        str, typer.Option(help="Comma-separated Byzantine fractions in [0, 0.5].")
    ] = "0,0.1,0.2,0.3,0.4,0.5",
    participants: Annotated[int, typer.Option(min=2, max=64, help="Participants.")] = 10,
    rounds: Annotated[int, typer.Option(min=1, max=50, help="Rounds.")] = 3,
    dataset: Annotated[str, typer.Option(help="digits, mnist or fashion-mnist.")] = "digits",
    hidden: Annotated[int, typer.Option(min=1, max=256, help="Hidden layer width.")] = 16,
    test_samples: Annotated[
        int, typer.Option(min=10, max=10000, help="Public test samples in the proof.")
    ] = 64,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Accuracy threshold.")] = 0.3,
    local_epochs: Annotated[int, typer.Option(min=1, max=100, help="Local epochs.")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seed of split, training, init.")] = 0,
    out: Annotated[Path, typer.Option(help="Results root.")] = Path("results"),
) -> None:
    """Sweep the fraction of Byzantine participants per behaviour, with and without proofs.

    Every point runs four federations (ZKPoT and plain FedAvg, with the attackers and with
    their slots empty) with real Groth16 proofs on the in-process EVM.
    """
    from zkpot.attacks.behaviours import BEHAVIOURS
    from zkpot.attacks.experiments import (
        SweepConfig,
        fractions_from_text,
        run_sweep,
        sweep_table,
        write_sweep,
    )
    from zkpot.participant import Training

    chosen = tuple(behaviour) if behaviour else tuple(BEHAVIOURS)
    try:
        config = SweepConfig(
            dataset=dataset,
            hidden=hidden,
            test_samples=test_samples,
            threshold=threshold,
            rounds=rounds,
            participants=participants,
            fractions=fractions_from_text(fractions),
            behaviours=chosen,
            training=Training(epochs=local_epochs, lr=0.05, batch_size=32),
            seed=seed,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with _progress() as progress:
        result = run_sweep(config, progress)
    Console().print(sweep_table(result))
    target = _out_dir(out, "byzantine")
    write_sweep(result, target)
    console.print(f"results written to {target}/")


@experiment_app.command("privacy")
def privacy(
    epsilon: Annotated[
        list[float] | None,
        typer.Option(min=0.01, help="DP-SGD target epsilon (repeatable); 1, 8, 64 if unset."),
    ] = None,
    participants: Annotated[int, typer.Option(min=1, max=32, help="Participants.")] = 4,
    shard: Annotated[
        int, typer.Option(min=2, max=1000, help="Training samples per participant.")
    ] = 32,
    rounds: Annotated[int, typer.Option(min=1, max=50, help="Rounds.")] = 2,
    local_epochs: Annotated[int, typer.Option(min=1, max=500, help="Local epochs.")] = 30,
    hidden: Annotated[int, typer.Option(min=1, max=256, help="Hidden layer width.")] = 32,
    shadows: Annotated[int, typer.Option(min=4, max=256, help="Shadow models per target.")] = 16,
    delta: Annotated[float, typer.Option(min=1e-12, max=0.1, help="DP delta.")] = 1e-5,
    clip_norm: Annotated[float, typer.Option(min=1e-6, help="DP-SGD clipping norm.")] = 1.0,
    prove: Annotated[
        bool, typer.Option(help="Prove the ZKPoT models with Groth16 (count, commitment).")
    ] = True,
    seed: Annotated[int, typer.Option(min=0, help="Seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Results root.")] = Path("results"),
) -> None:
    """Membership inference (AUC, TPR at 1% and 0.1% FPR, log-log ROC) on plain FL, DP-SGD FL
    and ZKPoT's public artefacts, and model inversion by every observer (digits)."""
    from zkpot.attacks.inversion import (
        inversion_markdown,
        inversion_table,
        plot_inversion,
        run_inversion,
    )
    from zkpot.attacks.privacy import (
        PrivacyConfig,
        plot_privacy,
        plot_roc,
        privacy_markdown,
        privacy_table,
        run_privacy,
    )
    from zkpot.participant import Training

    try:
        config = PrivacyConfig(
            hidden=hidden,
            participants=participants,
            shard=shard,
            rounds=rounds,
            training=Training(epochs=local_epochs, lr=0.05, batch_size=16),
            shadows=shadows,
            epsilons=tuple(epsilon) if epsilon else (1.0, 8.0, 64.0),
            delta=delta,
            clip_norm=clip_norm,
            seed=seed,
            prove=prove,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with _progress() as progress:
        result = run_privacy(config, progress)
    Console().print(privacy_table(result))
    target = _out_dir(out, "privacy")
    target.mkdir(parents=True, exist_ok=True)
    (target / "summary.json").write_text(json.dumps(result.to_json(), indent=2, sort_keys=True))
    (target / "table.md").write_text(privacy_markdown(result))
    plot_privacy(result, target / "privacy.png")
    plot_roc(result, target / "roc.png")
    inversion = run_inversion(config)
    Console().print(inversion_table(inversion))
    (target / "inversion.json").write_text(json.dumps(inversion.to_json(), indent=2))
    (target / "inversion.md").write_text(inversion_markdown(inversion))
    plot_inversion(inversion, target / "inversion.png")
    console.print(f"results written to {target}/")
