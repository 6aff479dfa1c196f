"""``zkpot explorer``: serve the explorer page of a run's results or of a task on a ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def explorer(
    results: Annotated[
        Path | None, typer.Option(help="A results/<run>/ directory written by `zkpot run`.")
    ] = None,
    ledger: Annotated[str | None, typer.Option(help="JSON-RPC URL of the task's EVM node.")] = None,
    task_file: Annotated[
        Path | None, typer.Option(help="Task file from `zkpot publisher` (with --ledger).")
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8000,
) -> None:
    """Serve a block explorer on 127.0.0.1: blocks, submissions, refusals, gas, CIDs."""
    from zkpot.explorer.server import make_server
    from zkpot.explorer.view import ChainView, ExplorerError, from_ledger, from_results

    if (results is None) == (ledger is None) or (ledger is not None) != (task_file is not None):
        raise typer.BadParameter("give --results DIR, or --ledger URL with --task-file FILE")
    if results is not None:
        run_dir = results

        def source() -> ChainView:
            return from_results(run_dir)

    else:
        from zkpot.ledger import Ledger
        from zkpot.node.manifest import TaskRef

        assert ledger is not None and task_file is not None
        ref = TaskRef.read(task_file)
        chain = Ledger.connect(ledger, zkpot_address=ref.zkpot)

        def source() -> ChainView:
            return from_ledger(chain, ref.task_id)

    try:
        source()
    except (ExplorerError, OSError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    server = make_server(source, port)
    console.print(f"explorer at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("explorer")(explorer)
