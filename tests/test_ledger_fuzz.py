"""The contract under stateful fuzzing (Forge) and static analysis (Slither).

``forge test`` runs the invariant suite ``contracts/test/invariant/ZKPoTInvariants.t.sol``:
random sequences of register / submit / hand over / propose / skip / wait from honest and
hostile accounts, after each of which the ledger must keep one block per round, blocks
hash-linked from genesis, proposals from the turn's leader only, no submission after the
deadline, no double submission, and a round that always ends. Forge compiles with the
project's pinned solc-js through ``scripts/solc-js-cli.cjs`` (foundry.toml).

Slither analyses the contracts compiled the same way (its Foundry platform runs that
forge); every finding must be one of ``JUSTIFIED``, the table of docs/ledger.md, and
every entry of the table must still be found.

Both skip, with the reason, only when their tool is absent (``npm ci`` installs forge,
``pip install -e .[test]`` Slither).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zkpot.ledger.build import ROOT

#: Sequences per invariant and calls per sequence in CI (foundry.toml has the same).
RUNS, DEPTH = 64, 50
INVARIANTS = (
    "invariant_oneBlockPerRoundAndHashLinked",
    "invariant_submissionsCountedOnce",
    "invariant_leaderAndRoundAlwaysEnds",
)
#: Slither findings, by (detector, contract, function or variable; "*": any), and why
#: each stays (docs/ledger.md has the table).
JUSTIFIED: dict[tuple[str, str, str], str] = {
    ("timestamp", "ZKPoT", "_status"): "windows are defined on block time",
    ("timestamp", "ZKPoT", "_turn"): "leader turns are defined on block time",
    ("timestamp", "ZKPoT", "_leaderAt"): "the turn number derives from block time",
    ("incorrect-equality", "ZKPoT", "_leaderAt"): "turn == 0 is a range of times",
    ("timestamp", "ZKPoT", "handOver"): "a hand-over is recorded for the turn of block time",
    ("timestamp", "ZKPoT", "contest"): "leader turns and response times are on block time",
    ("timestamp", "ZKPoT", "reopen"): "a re-opening is for the turn of block time",
    ("timestamp", "ZKPoT", "_checkHandOvers"): "the turn owed derives from block time",
    ("timestamp", "ZKPoT", "_checkExclusion"): "response times are on block time",
    ("incorrect-equality", "ZKPoT", "handOver"): "a turn number is a range of times",
    ("incorrect-equality", "ZKPoT", "_checkHandOvers"): "a turn number is a range of times",
    ("low-level-calls", "ZKPoT", "_verify"): "a failing verifier must mean an invalid proof",
    ("assembly", "BN254", "*"): "precompile calls 0x06, 0x07, 0x08",
    ("missing-inheritance", "Groth16Verifier", "Groth16Verifier"): "self-contained export",
    ("uninitialized-local", "Groth16Verifier", "constructor.g2"): "filled word by word",
    ("uninitialized-local", "AggregationVerifier", "constructor.g2"): "filled word by word",
    ("naming-convention", "Groth16Verifier", "*"): "verifying-key immutables in UPPER_CASE",
    ("naming-convention", "AggregationVerifier", "*"): "verifying-key immutables in UPPER_CASE",
}
SECONDS = 900


def _forge() -> Path:
    for candidate in sorted((ROOT / "node_modules" / "@foundry-rs").glob("forge-*/bin/forge")):
        if candidate.is_file():
            return candidate
    pytest.skip("forge absent: run `npm ci` to install @foundry-rs/forge")


def _env(forge: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{forge.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_invariants_hold_under_random_sequences() -> None:
    forge = _forge()
    run = subprocess.run(
        [str(forge), "test", "--root", str(ROOT)],
        env={
            **_env(forge),
            "FOUNDRY_INVARIANT_RUNS": str(RUNS),
            "FOUNDRY_INVARIANT_DEPTH": str(DEPTH),
        },
        capture_output=True,
        text=True,
        timeout=SECONDS,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for name in INVARIANTS:
        line = re.search(
            rf"\[PASS\] {name}\(\) \(runs: (\d+), calls: (\d+), reverts: (\d+)\)", run.stdout
        )
        assert line is not None, f"{name} did not pass:\n{run.stdout[-4000:]}"
        assert int(line[1]) == RUNS and int(line[2]) == RUNS * DEPTH and int(line[3]) == 0
    assert "3 tests passed, 0 failed" in run.stdout


def _finding_key(finding: dict[str, Any]) -> tuple[str, str, str]:
    """(detector, contract, name): a local variable is named ``function.variable``."""
    element = finding["elements"][0]
    if element["type"] == "contract":
        return (finding["check"], element["name"], element["name"])
    parent = element.get("type_specific_fields", {}).get("parent", {})
    name = element["name"]
    if parent.get("type") == "function":
        name = f"{parent['name']}.{name}"
        parent = parent.get("type_specific_fields", {}).get("parent", {})
    return (finding["check"], parent.get("name", ""), name)


def test_slither_finds_only_justified_findings(tmp_path: Path) -> None:
    forge = _forge()
    slither = shutil.which("slither") or str(Path(sys.executable).parent / "slither")
    if not Path(slither).is_file():
        pytest.skip("slither absent: pip install -e .[test] installs slither-analyzer")
    report = tmp_path / "slither.json"
    run = subprocess.run(
        [slither, str(ROOT), "--filter-paths", "contracts/test", "--json", str(report)],
        cwd=ROOT,
        env=_env(forge),
        capture_output=True,
        text=True,
        timeout=SECONDS,
        check=False,
    )
    assert report.is_file(), run.stdout[-2000:] + run.stderr[-4000:]
    output = json.loads(report.read_text())
    assert output["success"], output.get("error")
    found = {_finding_key(f) for f in output["results"]["detectors"]}
    unexplained = {
        key for key in found if key not in JUSTIFIED and (key[0], key[1], "*") not in JUSTIFIED
    }
    assert not unexplained, (
        f"new Slither findings (fix, or justify in docs/ledger.md): {unexplained}"
    )
    stale = {
        key
        for key in JUSTIFIED
        if not any(f[:2] == key[:2] and key[2] in ("*", f[2]) for f in found)
    }
    assert not stale, f"justified findings Slither no longer reports: {stale}"
