"""``zkpot keygen | publisher | participant | status``: the federation across processes.

Each command is one party in its own process, talking to a JSON-RPC EVM node (``--ledger``)
and an IPFS node's HTTP API (``--ipfs``) and to nothing else. ``register(app)`` adds them
to the ``zkpot`` command line. See ``docs/deploy.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from zkpot import options

if TYPE_CHECKING:
    from zkpot.ledger import Ledger
    from zkpot.node.manifest import TaskRef
    from zkpot.node.status import TaskStatus

console = Console(stderr=True)

#: Task ids are uint256 on chain; anything else is refused before it reaches web3.
MAX_TASK_ID = 2**256 - 1

LedgerUrl = Annotated[str, typer.Option("--ledger", help="JSON-RPC URL of the EVM node.")]
IpfsUrl = Annotated[str, typer.Option("--ipfs", help="HTTP RPC API URL of the IPFS (kubo) node.")]


def register(app: typer.Typer) -> None:
    """Add the multi-process commands to the ``zkpot`` Typer app."""
    app.command("keygen")(keygen)
    app.command("publisher")(publisher)
    app.command("participant")(participant)
    app.command("status")(status)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


def keygen(
    out: Annotated[Path, typer.Argument(help="Key file to create (mode 0600, never overwritten).")],
    samples: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=2**32 - 1,
            help="Size of this participant's training set: its registered FedAvg weight "
            "(a participant's line needs it; a publisher's key does not).",
        ),
    ] = None,
) -> None:
    """Create a key file: an Ethereum account and an X25519 key pair (OS CSPRNG).

    Prints the participants-file line (address, X25519 public key and sample count) to
    give the publisher; the key file itself never leaves this machine.
    """
    from zkpot.node.keys import KeyFileError, generate_key_file

    try:
        entry = generate_key_file(out, samples)
    except (KeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(entry))


def publisher(
    ledger: LedgerUrl,
    ipfs: IpfsUrl,
    participants_file: Annotated[
        Path,
        typer.Option(help="Participants to register: JSON lines (or an array) of keygen output."),
    ],
    key: Annotated[Path, typer.Option(help="The publisher's key file (its account signs).")],
    out: Annotated[Path, typer.Option(help="Where to write the task file.")] = Path("task.json"),
    zkpot: Annotated[
        str | None,
        typer.Option(help="Address of a deployed ZKPoT contract; deploy a new one if unset."),
    ] = None,
    fund: Annotated[
        int,
        typer.Option(
            min=0,
            help="Wei to send the publisher and each participant from the node's unlocked "
            "development account (local dev chains only; 0: no funding).",
        ),
    ] = 0,
    dataset: options.Dataset = "mnist",
    hidden: options.Hidden = 32,
    test_samples: options.TestSamples = None,
    threshold: options.Threshold = None,
    rounds: Annotated[int, typer.Option(min=1, max=1000, help="Rounds.")] = 3,
    window: Annotated[
        int, typer.Option(min=1, help="Submission window per round, in seconds of chain time.")
    ] = 3600,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the public test set and the initial model.")
    ] = 0,
    name: Annotated[str | None, typer.Option(help="Task name (default dataset-hidden).")] = None,
) -> None:
    """Set up and register a task; store its proving key, test set and manifest.

    Runs the circuit's Groth16 setup, deploys its verifier, puts the proving key,
    verifying key, test set, the initial model (sealed to every participant) and the task
    manifest in the store, and registers the task with the participants' addresses and
    X25519 keys. Writes the task file (chain id, ZKPoT address, task id, manifest CID) to
    --out and prints it.
    """
    from zkpot.defaults import dataset_defaults
    from zkpot.ledger import Ledger
    from zkpot.ledger.errors import LedgerError
    from zkpot.node.keys import KeyFileError, read_key_file, read_participants_file
    from zkpot.node.manifest import publish_task
    from zkpot.protocol import Task
    from zkpot.store import open_store

    defaults = dataset_defaults(options.check_dataset(dataset))
    test_samples = defaults.test_samples if test_samples is None else test_samples
    threshold = defaults.threshold if threshold is None else threshold
    try:
        identity = read_key_file(key)
        registrations = read_participants_file(participants_file)
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    try:
        chain = Ledger.connect(ledger, zkpot_address=zkpot) if zkpot else _bare_ledger(ledger)
        if fund:
            for address in [identity.address, *(r.address for r in registrations)]:
                chain.fund(address, fund)
        if not zkpot:
            chain.deploy_zkpot(identity.account)
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    store = open_store(ipfs)
    task = Task.create(dataset, hidden, test_samples, threshold, rounds, window, seed, name)
    with console.status("publishing") as spinner:
        published = publish_task(
            chain,
            store,
            identity.account,
            task,
            registrations,
            seed,
            step=lambda what: spinner.update(what),
        )
    published.ref.write(out)
    console.print(
        f"task {published.ref.task_id} on ZKPoT {published.ref.zkpot}: "
        f"{published.manifest.constraints} constraints, setup {published.setup_s:.1f} s; "
        f"task file {out}"
    )
    typer.echo(published.ref.to_json())


def _bare_ledger(url: str) -> Ledger:
    """A client of ``url`` with no ZKPoT contract yet (Ledger.connect would deploy at once)."""
    from web3 import Web3

    from zkpot.ledger import Ledger
    from zkpot.ledger.errors import LedgerError
    from zkpot.ledger.ledger import RECEIPT_TIMEOUT

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": RECEIPT_TIMEOUT}))
    if not w3.is_connected():
        raise LedgerError(f"no JSON-RPC node answers at {url}")
    return Ledger(w3)


def _task_ref(
    task_file: Path | None, zkpot: str | None, task: int | None, manifest: str | None
) -> TaskRef | None:
    """The task named on the command line: a task file, or all of --zkpot/--task/--manifest."""
    from zkpot.node.manifest import TaskRef

    if task_file is not None:
        return TaskRef.read(task_file)
    if zkpot is None and task is None and manifest is None:
        return None
    if zkpot is None or task is None or manifest is None:
        raise _fail("name the task with --task-file, or with all of --zkpot, --task, --manifest")
    return TaskRef(0, zkpot, task, manifest)


def participant(
    ledger: LedgerUrl,
    ipfs: IpfsUrl,
    state: Annotated[
        Path, typer.Option(help="SQLite state file (created on first start; holds the keys).")
    ],
    key: Annotated[
        Path | None,
        typer.Option(help="Key file; needed on the first start only (then kept in the state)."),
    ] = None,
    task_file: Annotated[
        Path | None, typer.Option(help="Task file from the publisher (first start only).")
    ] = None,
    zkpot: Annotated[
        str | None, typer.Option(help="ZKPoT address (instead of a task file).")
    ] = None,
    task: Annotated[
        int | None,
        typer.Option(min=0, max=MAX_TASK_ID, help="Task id (instead of a task file)."),
    ] = None,
    manifest: Annotated[
        str | None, typer.Option(help="Manifest CID (instead of a task file).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the data split and training.")] = 0,
    alpha: options.Alpha = None,
    parts: Annotated[
        int | None,
        typer.Option(min=1, help="Parts the training set is split into (default: participants)."),
    ] = None,
    part: Annotated[
        int | None,
        typer.Option(min=0, help="This node's part (default: its registration index)."),
    ] = None,
    local_epochs: options.LocalEpochs = None,
    lr: options.LearningRate = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Mini-batch size; per dataset if unset.")
    ] = None,
    momentum: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="SGD momentum; per dataset if unset.")
    ] = None,
    behaviour: Annotated[
        str | None,
        typer.Option(
            help="Run an adversarial behaviour (zkpot.attacks.behaviours), e.g. inflated-claim; "
            "honest if unset. For experiments and tests."
        ),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0.01, help="Seconds between polls of the chain.")
    ] = 0.5,
    handover_timeout: Annotated[
        float,
        typer.Option(min=0.0, help="Seconds a leader waits for the submitters' package keys."),
    ] = 120.0,
    last_round: Annotated[
        int | None, typer.Option(min=0, help="Leave the federation after this round.")
    ] = None,
) -> None:
    """Take part in a task: train, prove, submit, hand over or lead, round after round.

    Prints one JSON object per event on stdout. All progress is kept in --state; run the
    same command again after a crash and the node resumes where it stopped, without ever
    submitting a round twice.
    """
    from dataclasses import replace

    from zkpot.attacks.behaviours import make_behaviour
    from zkpot.defaults import default_training
    from zkpot.ledger import Ledger
    from zkpot.ledger.errors import LedgerError
    from zkpot.node.keys import KeyFileError, read_key_file
    from zkpot.node.manifest import ManifestError, TaskRef, load_task
    from zkpot.node.runner import NodeConfig, NodeError, ParticipantNode
    from zkpot.node.state import ParticipantState, StateError, exclusive
    from zkpot.store import StoreError, open_store

    try:
        adversary = make_behaviour(behaviour) if behaviour is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    chosen = {
        "epochs": local_epochs,
        "lr": lr,
        "batch_size": batch_size,
        "momentum": momentum,
    }
    try:
        with exclusive(state), ParticipantState(state) as db:
            identity = read_key_file(key) if key is not None else db.identity()
            if identity is None:
                raise _fail(f"{state} holds no keys yet: pass --key on the first start")
            ref = _task_ref(task_file, zkpot, task, manifest) or db.binding()
            if ref is None:
                raise _fail(f"{state} is bound to no task yet: pass --task-file")
            try:
                chain = Ledger.connect(ledger, zkpot_address=ref.zkpot)
                if ref.chain_id == 0:  # named by --zkpot/--task/--manifest: this chain
                    ref = TaskRef(chain.chain_id, ref.zkpot, ref.task_id, ref.manifest)
                store = open_store(ipfs)
                loaded = load_task(chain, store, ref)
            except (LedgerError, StoreError) as exc:
                raise _fail(f"cannot load the task: {exc}") from None
            identity = db.bind(identity, ref)
            training = replace(
                default_training(loaded.task.dataset),
                **{name: value for name, value in chosen.items() if value is not None},
            )
            node = ParticipantNode(
                chain,
                store,
                loaded,
                db,
                identity,
                seed=seed,
                training=training,
                alpha=alpha,
                parts=parts,
                part=part,
                behaviour=adversary,
                config=NodeConfig(poll, handover_timeout, last_round),
            )
            try:
                node.run()
            except (LedgerError, StoreError) as exc:
                # The chain or the store failed mid-round: every step so far is in the
                # state file, so the same command resumes once they answer again.
                console.print(
                    f"[red]error:[/red] the node stopped: {exc}; its progress is kept in "
                    f"{state}: run the same command again to resume"
                )
                raise typer.Exit(code=1) from None
    except (KeyFileError, ManifestError, NodeError, StateError) as exc:
        raise _fail(str(exc)) from None


def status(
    ledger: LedgerUrl,
    zkpot: Annotated[str | None, typer.Option(help="ZKPoT contract address.")] = None,
    task: Annotated[int | None, typer.Option(min=0, max=MAX_TASK_ID, help="Task id.")] = None,
    task_file: Annotated[
        Path | None, typer.Option(help="Task file (instead of --zkpot and --task).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a task's rounds from the chain: submissions, absentees, leaders, blocks."""
    from zkpot.ledger import Ledger
    from zkpot.ledger.errors import LedgerError
    from zkpot.node.manifest import ManifestError, TaskRef
    from zkpot.node.status import task_status

    if task_file is not None:
        try:
            ref = TaskRef.read(task_file)
        except ManifestError as exc:
            raise _fail(str(exc)) from None
        zkpot, task = ref.zkpot, ref.task_id
    if zkpot is None or task is None:
        raise _fail("name the task with --task-file, or with --zkpot and --task")
    try:
        result = task_status(Ledger.connect(ledger, zkpot_address=zkpot), task)
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
        return
    _print_status(result)


def _print_status(result: TaskStatus) -> None:
    from rich.table import Table

    names = {a: f"P{i}" for i, a in enumerate(result.participants)}
    out = Console()
    state = "finished" if result.finished else f"round {result.current_round} in progress"
    out.print(
        f"task {result.task_id}: {result.rounds} rounds, {state}; threshold "
        f"{result.min_count}/{result.num_samples}, window {result.window} s"
    )
    for address, label in names.items():
        out.print(f"  {label} {address}")
    table = Table(show_header=True, header_style="bold")
    for column in ("round", "status", "submitted (count)", "absent", "leader", "accepted", "block"):
        table.add_column(column)
    for view in result.round_summaries:
        submitted = ", ".join(f"{names[a]} ({view.counts[a]})" for a in view.submitted)
        if view.waiting:
            submitted += f"; waiting for {', '.join(names[a] for a in view.waiting)}"
        leader = f"{names[view.leader]} ({view.leader_count})" if view.leader else "-"
        if view.turn:
            leader += f", turn {view.turn}"
        if view.skipped:
            leader = "skipped"
        table.add_row(
            str(view.round),
            view.status,
            submitted or "-",
            ", ".join(names[a] for a in view.absent) or "-",
            leader,
            ", ".join(names[a] for a in view.accepted) or "-",
            view.block_hash[:18] + "…" if view.block_hash else "-",
        )
    out.print(table)
