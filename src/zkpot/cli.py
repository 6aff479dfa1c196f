"""The ``zkpot`` command line: run a federation, benchmark the prover and the ledger."""

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

from zkpot import options
from zkpot.attacks.cli import experiment_app
from zkpot.explorer.cli import register as register_explorer_command
from zkpot.learning.integer_model import QuantizationError
from zkpot.node.cli import register as register_node_commands
from zkpot.onramp.cli import register as register_onramp_commands

app = typer.Typer(
    help="Blockchain-secured federated learning with Zero-Knowledge Proof of Training.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
bench_app = typer.Typer(help="Measure the prover and the ledger.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(experiment_app, name="experiment")

console = Console(stderr=True)


@app.command()
def run(
    participants: Annotated[int, typer.Option(min=1, max=64, help="Participants.")] = 5,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Rounds.")] = 3,
    dataset: options.Dataset = "mnist",
    hidden: options.Hidden = 32,
    test_samples: options.TestSamples = None,
    alpha: options.Alpha = None,
    threshold: options.Threshold = None,
    local_epochs: options.LocalEpochs = None,
    lr: options.LearningRate = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of data split, training, init.")] = 0,
    ledger: Annotated[
        str | None, typer.Option(help="JSON-RPC URL of an EVM node; in-process EVM if unset.")
    ] = None,
    ipfs: Annotated[
        str | None, typer.Option(help="IPFS HTTP API URL; a local store directory if unset.")
    ] = None,
    baseline: Annotated[
        bool, typer.Option(help="Also run plain FedAvg (no proofs) on the same partitions.")
    ] = True,
    out: Annotated[Path, typer.Option(help="Directory for results/<run>/.")] = Path("results"),
) -> None:
    """Run a federation with ZKPoT consensus: real proofs, a real ledger, a content store.

    Local epochs, learning rate and threshold default per dataset (zkpot.defaults)."""
    from dataclasses import replace

    from zkpot import report
    from zkpot.defaults import dataset_defaults
    from zkpot.federation import Federation
    from zkpot.learning.datasets import DatasetError
    from zkpot.ledger import Ledger
    from zkpot.protocol import Task
    from zkpot.store import open_store

    defaults = dataset_defaults(options.check_dataset(dataset))
    threshold = defaults.threshold if threshold is None else threshold
    test_samples = defaults.test_samples if test_samples is None else test_samples
    training = replace(
        defaults.training,
        epochs=local_epochs or defaults.training.epochs,
        lr=lr or defaults.training.lr,
    )
    name = f"{dataset}-{hidden}-p{participants}-r{rounds}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = out / name
    try:
        task = Task.create(dataset, hidden, test_samples, threshold, rounds, seed=seed, name=name)
    except (DatasetError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    engines = {
        "ledger": Ledger.connect(ledger) if ledger else None,
        "store": open_store(ipfs) if ipfs else open_store(run_dir / "store"),
    }
    with _progress() as progress:
        fed = Federation(
            task,
            participants,
            alpha,
            seed,
            proofs=True,
            training=training,
            progress=progress,
            **engines,
        )
        result = fed.run()
        plain = None
        if baseline:
            plain = Federation(
                task,
                participants,
                alpha,
                seed,
                proofs=False,
                training=training,
                progress=progress,
            ).run()
    initial = fed.evaluate(fed.initial_params())
    report.print_tables(Console(), result, plain, initial)
    report.write(result, plain, run_dir, initial)
    console.print(f"results written to {run_dir}/")


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """Rich progress bars, one per phase, driven by the federation's progress callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bars: dict[str, TaskID] = {}
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def update(phase: str, done: int, total: int) -> None:
            if phase not in bars:
                bars[phase] = progress.add_task(phase, total=total)
            progress.update(bars[phase], completed=done, total=total)

        yield update


@bench_app.command("prover")
def bench_prover_cmd(
    dataset: options.Dataset = "mnist",
    hidden: Annotated[int, typer.Option(min=1, max=1024, help="Hidden layer width.")] = 32,
    samples: Annotated[int, typer.Option(min=1, max=10000, help="Public test samples.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Training and test-set seed.")] = 0,
    vs: Annotated[str | None, typer.Option(help="Also prove with a peer system: ezkl.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Setup, prove and verify one trained model's accuracy; report sizes and times."""
    from zkpot.bench.prover import bench_prover

    if vs not in (None, "ezkl"):
        raise typer.BadParameter(f"unknown peer {vs!r}; the only peer is ezkl")
    with console.status(f"proving {dataset} accuracy over {samples} samples"):
        result = bench_prover(
            options.check_dataset(dataset), hidden, samples, seed, vs_ezkl=vs == "ezkl"
        )
    _emit(result, as_json)


@bench_app.command("aggregation")
def bench_aggregation_cmd(
    dataset: options.Dataset = "digits",
    hidden: Annotated[int, typer.Option(min=1, max=1024, help="Hidden layer width.")] = 32,
    contributions: Annotated[
        list[int] | None,
        typer.Option(min=1, max=64, help="Contributions per aggregate (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Training seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Setup, prove and verify the aggregation proof for 5 and 10 contributions."""
    from zkpot.bench.aggregation import bench_aggregation

    sizes = tuple(contributions) if contributions else (5, 10)
    with console.status(f"proving {dataset} aggregates of {', '.join(map(str, sizes))} models"):
        result = bench_aggregation(options.check_dataset(dataset), hidden, sizes, seed)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    from rich.table import Table

    columns = ["contributions", "constraints", "domain_size", "setup_s", "prove_s"]
    columns += ["floor_s", "floor_ratio", "verify_ms", "verify_gas", "peak_rss_mb"]
    table = Table(title=f"aggregation proof, {dataset} {result['widths']}", header_style="bold")
    for c in columns:
        table.add_column(c, justify="right")
    for run in result["runs"]:
        table.add_row(*(str(run[c]) for c in columns))
    Console().print(table)


@bench_app.command("training")
def bench_training_cmd(
    dataset: options.Dataset = "digits",
    hidden: Annotated[int, typer.Option(min=1, max=1024, help="Hidden layer width.")] = 32,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the model and the batch.")] = 0,
    max_domain_log2: Annotated[
        int, typer.Option(min=10, max=26, help="Prove only if the domain is at most 2^this.")
    ] = 21,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Constraints per SGD step and sample; setup, prove and verify one training segment."""
    from zkpot.bench.training import bench_training

    with console.status(f"measuring the training circuit of {dataset}"):
        result = bench_training(
            options.check_dataset(dataset), hidden, seed, max_domain=1 << max_domain_log2
        )
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    from rich.table import Table

    table = Table(title=f"training proof, {dataset} {result['widths']}", header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in result.items():
        if k not in ("proof", "widths", "dataset"):
            table.add_row(k, str(v))
    for k, v in (
        result["proof"] or {"proof": "not attempted: domain above --max-domain-log2"}
    ).items():
        table.add_row(k, str(v))
    Console().print(table)


@bench_app.command("format")
def bench_format_cmd(
    dataset: options.Dataset = "mnist",
    scales: Annotated[
        str | None, typer.Option(help="Weight scale per layer, comma-separated.")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Rounds.")] = 3,
    participants: Annotated[int, typer.Option(min=1, max=64, help="Participants.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Partition and training seed.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy of averaging in the task's fixed-point format, against per-model scales."""
    from zkpot.bench.format import bench_format

    fmt = None
    if scales is not None:
        try:
            fmt = tuple(float(s) for s in scales.split(","))
        except ValueError:
            raise typer.BadParameter(f"scales must be numbers, got {scales!r}") from None
    with console.status(f"training {rounds} rounds of {dataset} three ways"):
        try:
            result = bench_format(
                options.check_dataset(dataset), fmt, participants, rounds, seed=seed
            )
        except QuantizationError as exc:
            raise typer.BadParameter(str(exc)) from None
    _emit(result, as_json)


@bench_app.command("sgd")
def bench_sgd_cmd(
    dataset: options.Dataset = "mnist",
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Rounds.")] = 3,
    participants: Annotated[int, typer.Option(min=1, max=64, help="Participants.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Partition and initial-model seed.")] = 7,
    loss: Annotated[str | None, typer.Option(help="softmax or squared.")] = None,
    lr_shift: Annotated[int | None, typer.Option(min=0, max=24, help="Learning rate 2^-s.")] = None,
    batch_shift: Annotated[int | None, typer.Option(min=0, max=12, help="Batch 2^s.")] = None,
    momentum_shift: Annotated[
        int | None, typer.Option(min=0, max=16, help="Momentum 1 - 2^-s; 0: none.")
    ] = None,
    frac_bits: Annotated[int | None, typer.Option(min=8, max=24, help="Fraction bits.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy of the integer training rule against float FedAvg, round by round."""
    import dataclasses

    from zkpot.bench.sgd import bench_sgd
    from zkpot.learning.integer_training import DEFAULT_RULES

    name = options.check_dataset(dataset)
    changes: dict[str, object] = {
        k: v
        for k, v in (
            ("loss", loss),
            ("lr_shift", lr_shift),
            ("batch_shift", batch_shift),
            ("frac_bits", frac_bits),
        )
        if v is not None
    }
    if momentum_shift is not None:
        changes["momentum_shift"] = momentum_shift or None
    try:
        rule = dataclasses.replace(DEFAULT_RULES[name], **changes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with console.status(f"training {rounds} rounds of {dataset} in float and in integers"):
        result = bench_sgd(name, rounds, participants, seed=seed, rule=rule)
    _emit(result, as_json)


@bench_app.command("ledger")
def bench_ledger_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    load: Annotated[
        bool,
        typer.Option(
            "--load",
            help="The load run: gas at its worst case and submissions per second, per "
            "federation size (every leader turn of a round fails, so later turns re-rank).",
        ),
    ] = False,
    sizes: Annotated[
        str, typer.Option(help="Federation sizes of the load run, ascending, comma-separated.")
    ] = "4,8,16,32,64",
    ledger_url: Annotated[
        str | None,
        typer.Option(
            "--ledger", help="JSON-RPC URL of a local node (anvil); default: the in-process EVM."
        ),
    ] = None,
) -> None:
    """Gas per ZKPoT transaction, bytecode sizes and calldata per submission; with --load,
    the load run."""
    from zkpot.bench.ledger import ledger_bench, ledger_load
    from zkpot.ledger import Ledger

    chain = Ledger.connect(ledger_url) if ledger_url else None
    where = ledger_url or "the in-process EVM"
    if not load:
        with console.status(f"measuring gas on {where}"):
            result = ledger_bench(chain)
        _emit(result, as_json)
        return
    try:
        counts = tuple(int(n) for n in sizes.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"not a list of integers: {sizes!r}", param_hint="--sizes"
        ) from None
    if not counts or list(counts) != sorted(set(counts)) or counts[0] < 2:
        raise typer.BadParameter("ascending, distinct, at least 2", param_hint="--sizes")
    with console.status(f"load run on {where}: {sizes} participants"):
        result = ledger_load(chain, counts)
    _emit(result, as_json)


def _emit(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


register_node_commands(app)
register_onramp_commands(app)
register_explorer_command(app)
