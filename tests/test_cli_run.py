"""``zkpot run`` as a new user meets it: the per-dataset defaults learn, a run that learns
nothing says so, and the README's library example works as written."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zkpot.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(tmp_path: Path, *flags: str) -> tuple[str, dict]:
    result = CliRunner().invoke(
        app,
        ["run", "--dataset", "digits", "--no-baseline", "--out", str(tmp_path), *flags],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    (summary,) = tmp_path.glob("*/summary.json")
    return result.output, json.loads(summary.read_text())


def test_digits_with_default_training_and_threshold_learns(tmp_path: Path) -> None:
    output, summary = _run(
        tmp_path, "--participants", "3", "--rounds", "1", "--test-samples", "100"
    )
    (round0,) = summary["rounds"]
    assert not round0["skipped"] and round0["leader"]
    assert round0["global_accuracy"] > summary["initial_accuracy"] + 0.3
    assert summary["learning_warning"] is None
    assert "warning" not in output
    assert output.count("submitted") == 3


def test_a_run_whose_rounds_all_skip_says_why_and_what_to_change(tmp_path: Path) -> None:
    output, summary = _run(
        tmp_path,
        "--participants", "2", "--rounds", "1", "--test-samples", "50",
        "--local-epochs", "1", "--threshold", "0.95",
    )  # fmt: skip
    assert summary["rounds"][0]["skipped"]
    # The table shows what each participant proved and why it did not submit.
    assert (
        len(re.findall(r"not submitted: proven count \d+ is below the threshold 48", output)) == 2
    )
    assert "0.000 (0/50)" not in output
    assert "round skipped" in output
    warning = summary["learning_warning"]
    assert warning.startswith("every round was skipped") and warning in " ".join(output.split())
    assert "--local-epochs" in warning and "--threshold" in warning


@pytest.mark.slow  # eighteen proofs over 200 samples: about 100 s of CPU
def test_readme_library_example_learns_as_written() -> None:
    block = re.search(r"## Library\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    printed = io.StringIO()
    scope: dict[str, object] = {}
    with redirect_stdout(printed):
        exec(compile(block.group(1), str(README), "exec"), scope)
    lines = printed.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        leader, global_acc = re.fullmatch(
            r"round \d: leader (\S*) proved [\d.]+, global model ([\d.]+), block 0x[0-9a-f]{12}",
            line,
        ).groups()
        assert leader, f"a skipped round: {line}"
        assert float(global_acc) > 0.8
