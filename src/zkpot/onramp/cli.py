"""``zkpot import``, ``zkpot task create``, ``zkpot prove``, ``zkpot verify``, ``zkpot verifier``:
the accuracy proof on ordinary files, outside any federation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from zkpot.onramp.artefacts import ArtefactError, ProofFile, TaskDir

console = Console(stderr=True)
task_app = typer.Typer(help="Create a standalone proof task directory.", no_args_is_help=True)

TaskPath = Annotated[
    Path, typer.Option("--task", help="Task directory written by `zkpot task create`.")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _read_task(path: Path, with_pk: bool = False) -> TaskDir:
    try:
        return TaskDir.read(path, with_pk=with_pk)
    except ArtefactError as exc:
        raise _fail(str(exc)) from exc


@task_app.command("create")
def task_create(
    dataset: Annotated[str, typer.Option(help="digits, mnist or fashion-mnist.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write.")],
    test_samples: Annotated[
        int, typer.Option(min=1, max=10000, help="Public test samples in the proof.")
    ] = 200,
    hidden: Annotated[int, typer.Option(min=1, max=256, help="Hidden layer width.")] = 32,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Accuracy `zkpot verify` requires.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed choosing the public test set.")] = 0,
    name: Annotated[str | None, typer.Option(help="Task name.")] = None,
) -> None:
    """Write a task directory: task.json, the test set, pk.bin, vk.bin and Verifier.sol."""
    from zkpot.learning.datasets import DATASETS, DatasetError
    from zkpot.onramp.artefacts import write_task
    from zkpot.protocol import Task

    if dataset not in DATASETS:
        raise typer.BadParameter(f"unknown dataset {dataset!r}; choose {', '.join(DATASETS)}")
    if out.exists() and any(out.iterdir()):
        raise _fail(f"{out} exists and is not empty")
    try:
        task = Task.create(dataset, hidden, test_samples, threshold, 1, seed=seed, name=name)
    except (DatasetError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    with console.status(f"setting up the circuit over {test_samples} samples"):
        written = write_task(out, task, seed)
    assert written.pk is not None
    console.print(
        f"task {task.name}: widths {'-'.join(map(str, task.spec.widths))}, "
        f"{task.num_samples} samples, {written.pk.num_constraints:,} constraints, written to {out}/"
    )


def import_model(
    model: Annotated[Path, typer.Argument(help="sklearn .joblib/.pkl, .onnx or .safetensors.")],
    task: TaskPath,
    out: Annotated[Path, typer.Option("-o", "--out", help="Quantised model (.qm) to write.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="sklearn, onnx or safetensors (else by suffix).")
    ] = None,
) -> None:
    """Read a trained MLP and quantise it for a task (calibrated on its public test set).

    A scikit-learn pickle runs code when loaded: import only pickles you trust."""
    from zkpot.learning.inference import predict_int
    from zkpot.learning.integer_model import QuantizationError, input_scale
    from zkpot.learning.quantize import quantize
    from zkpot.onramp.importers import ModelImportError, load_float_model

    spec_task = _read_task(task).task
    try:
        mlp = load_float_model(model, fmt)
    except ModelImportError as exc:
        raise _fail(str(exc)) from exc
    if tuple(mlp.widths) != spec_task.spec.widths:
        raise _fail(
            f"{model}: widths {'-'.join(map(str, mlp.widths))} do not match the task's "
            f"{'-'.join(map(str, spec_task.spec.widths))}"
        )
    try:
        qmodel = quantize(mlp, spec_task.spec, spec_task.test_x)
    except QuantizationError as exc:
        raise _fail(f"{model}: cannot be quantised for the task ({exc})") from exc
    out.write_bytes(qmodel.to_bytes())
    x, y = spec_task.test_x, spec_task.test_y
    float_pred = mlp.predict(x * input_scale(spec_task.spec))
    int_pred = predict_int(qmodel, x)
    console.print(
        f"{model} -> {out}: float accuracy {np.mean(float_pred == y):.4f}, quantised "
        f"{np.mean(int_pred == y):.4f}, same class on {np.mean(float_pred == int_pred):.4f} "
        f"of the task's {len(y)} test samples"
    )


def prove(
    task: TaskPath,
    model: Annotated[Path, typer.Option(help="Quantised model written by `zkpot import`.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Proof file to write.")],
    salt_out: Annotated[
        Path | None, typer.Option(help="Secret salt file (default: <out>.salt).")
    ] = None,
    label: Annotated[str, typer.Option(help="What the proof's tag binds, e.g. a model name.")] = "",
) -> None:
    """Prove how many of the task's test samples the model classifies correctly."""
    from zkpot import proving
    from zkpot.onramp.artefacts import read_model, statement_tag, write_proof

    task_dir = _read_task(task, with_pk=True)
    assert task_dir.pk is not None
    try:
        qmodel = read_model(model, task_dir.task.spec)
    except ArtefactError as exc:
        raise _fail(str(exc)) from exc
    salt = proving.new_salt()
    tag = statement_tag(task_dir.digest, label)
    with console.status(f"proving over {task_dir.task.num_samples} samples"):
        try:
            proven = proving.prove(task_dir.pk, qmodel, salt, tag)
        except proving.ActivationOverflowError as exc:
            raise _fail(f"{model} overflows the activation range on a test sample: {exc}") from exc
    n = task_dir.task.num_samples
    result = ProofFile(
        task_dir.digest, label, proven.commitment, proven.count, n, tag, proven.proof
    )
    salt_path = salt_out or out.with_name(out.name + ".salt")
    write_proof(out, result, salt, salt_path)
    console.print(
        f"proved {proven.count}/{n} ({proven.count / n:.4f}); proof {out}, salt {salt_path} "
        "(keep it secret: with the model it opens the commitment)"
    )


def verify(
    proof: Annotated[Path, typer.Argument(help="Proof file written by `zkpot prove`.")],
    task: TaskPath,
    ledger: Annotated[
        str | None,
        typer.Option(help="Also verify on chain: JSON-RPC URL of an EVM node (deploys Verifier)."),
    ] = None,
) -> None:
    """Exit 0 if the proof holds for this task and reaches its threshold, else 1."""
    from zkpot import proving
    from zkpot.onramp.artefacts import read_proof, statement_tag

    task_dir = _read_task(task)
    try:
        claim = read_proof(proof)
    except ArtefactError as exc:
        raise _fail(str(exc)) from exc
    t = task_dir.task
    checks = [
        (claim.task_digest == task_dir.digest, "the proof names another task"),
        (claim.samples == t.num_samples, "the proof's sample count is not the task's"),
        (claim.tag == statement_tag(task_dir.digest, claim.label), "the tag does not bind "
         "this task and label"),
        (proving.verify(task_dir.vk, claim.commitment, claim.count, claim.tag, claim.proof),
         "the Groth16 proof does not verify"),
    ]  # fmt: skip
    for ok, why in checks:
        if not ok:
            typer.echo(f"INVALID: {why}")
            raise typer.Exit(1)
    typer.echo(
        f"valid: commitment {claim.commitment:#066x} classifies {claim.count}/{t.num_samples} "
        f"({claim.count / t.num_samples:.4f}) of the test set correctly"
    )
    if ledger is not None and not _verify_on_chain(ledger, task_dir, claim):
        typer.echo("INVALID: the on-chain verifier rejects the proof")
        raise typer.Exit(1)
    if claim.count < t.min_count:
        typer.echo(f"below the task's threshold: needs {t.min_count}/{t.num_samples}")
        raise typer.Exit(1)


def _verify_on_chain(url: str, task_dir: TaskDir, claim: ProofFile) -> bool:
    from zkpot.ledger import Ledger
    from zkpot.ledger.errors import LedgerError

    try:
        chain = Ledger.connect(url)
        verifier = chain.deploy_verifier(task_dir.vk.to_evm())
        ok = chain.verify_proof(
            verifier, claim.proof.to_evm(), [claim.commitment, claim.count, claim.tag]
        )
    except (LedgerError, OSError, ValueError) as exc:
        raise _fail(f"on-chain verification at {url} failed: {exc}") from exc
    typer.echo(f"on chain: verifier {verifier} at {url} says {'valid' if ok else 'invalid'}")
    return ok


def verifier(
    task: TaskPath,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here, not stdout.")] = None,
) -> None:
    """The task's Solidity verifier (verifying key built in)."""
    task_dir = _read_task(task)
    source = (task_dir.path / "Verifier.sol").read_text()
    if out is None:
        typer.echo(source, nl=False)
    else:
        out.write_text(source)


def register(app: typer.Typer) -> None:
    """Add the standalone commands to the ``zkpot`` app."""
    app.add_typer(task_app, name="task")
    app.command("import")(import_model)
    app.command("prove")(prove)
    app.command("verify")(verify)
    app.command("verifier")(verifier)
