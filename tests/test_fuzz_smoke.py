"""CI smoke run of the fuzz harnesses (fuzz/): every committed seed decodes to a value or
the documented exception, and each harness survives a short atheris run. The long run is
``python -m fuzz.run --runs 100000`` (fuzz/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fuzz.harnesses import CORPUS, HARNESSES  # noqa: E402

#: Inputs per harness in CI: a few seconds each.
SMOKE_RUNS = 400


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_every_seed_passes_its_harness(name: str) -> None:
    seeds = sorted((CORPUS / name).iterdir())
    assert seeds, f"no seeds for {name}"
    for seed in seeds:
        HARNESSES[name].check(seed.read_bytes())


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_a_short_fuzz_run_finds_no_crash(name: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-m", "fuzz.run", "--runs", str(SMOKE_RUNS), "--artifacts",
         str(tmp_path), name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert f"{SMOKE_RUNS} inputs" in run.stdout
    assert not list(tmp_path.iterdir())  # no crash input left behind


def test_a_crash_is_reported(tmp_path: Path) -> None:
    """The runner fails, and keeps the input, when a harness raises what it must not."""
    from fuzz import run

    result = run.run("proof", 50, tmp_path, 2048, child=["-c", _CRASHING])
    assert not result["ok"]
    assert list(tmp_path.iterdir())


_CRASHING = """
import sys, atheris
def one(data):
    raise RuntimeError("an undocumented exception")
atheris.Setup([sys.argv[0], *sys.argv[1:]], one)
atheris.Fuzz()
"""
