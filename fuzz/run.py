"""Runs the fuzz harnesses with atheris (libFuzzer), one process per harness.

    python -m fuzz.run --runs 100000            # every harness, 100,000 inputs each
    python -m fuzz.run --runs 500 proof sealed_key

Each harness starts from its committed seeds (fuzz/corpus/<name>/, never written to) and
a scratch corpus; libFuzzer stops after ``--runs`` inputs. A crash (an exception the
decoder does not document, a Rust panic, an abort, RSS beyond --rss-limit-mb) leaves its
input in --artifacts and makes the run fail. The summary gives the inputs executed per
harness.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def _child(name: str, libfuzzer_args: list[str]) -> None:
    import atheris

    from fuzz.harnesses import HARNESSES

    with atheris.instrument_imports(include=["zkpot"]):
        import zkpot.exchange
        import zkpot.learning.integer_model
        import zkpot.node.keys
        import zkpot.node.manifest
        import zkpot.node.state
        import zkpot.store.cid
        import zkpot.store.sealed  # noqa: F401

    check = HARNESSES[name].check
    atheris.Setup([sys.argv[0], *libfuzzer_args], check)
    atheris.Fuzz()


def run(
    name: str, runs: int, artifacts: Path, rss_limit_mb: int, child: list[str] | None = None
) -> dict:
    """Fuzz one harness in a child process; its outcome and the inputs it executed.
    ``child`` replaces the child's command line (after the interpreter) in tests."""
    artifacts.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"zkpot-fuzz-{name}-") as scratch,
        tempfile.TemporaryDirectory(prefix="zkpot-fuzz-files-") as files,
    ):
        # libFuzzer truncates seeds to -max_len (4096 by default): keep whole keys.
        largest = max((p.stat().st_size for p in (CORPUS / name).iterdir()), default=0)
        args = [
            f"-runs={runs}",
            f"-max_len={max(4096, largest + largest // 8)}",
            "-len_control=0",
            f"-rss_limit_mb={rss_limit_mb}",
            "-timeout=60",
            "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/{name}-",
            scratch,
            str(CORPUS / name),
        ]
        start = time.monotonic()
        command = child or ["-m", "fuzz.run", "--child", name, "--"]
        child_run = subprocess.run(
            [sys.executable, *command, *args],
            env={**os.environ, "ZKPOT_FUZZ_WORKDIR": files},
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
    done = DONE.search(child_run.stderr)
    return {
        "harness": name,
        "ok": child_run.returncode == 0 and done is not None,
        "runs": int(done.group(1)) if done else None,
        "seconds": round(seconds, 1),
        "returncode": child_run.returncode,
        "log": child_run.stderr[-4000:] if child_run.returncode else "",
    }


def main() -> None:
    from fuzz.harnesses import HARNESSES

    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("harnesses", nargs="*", choices=[[], *HARNESSES], default=[])
    parser.add_argument("--runs", type=int, default=10_000, help="inputs per harness")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    names = args.harnesses or list(HARNESSES)
    results = []
    for name in names:
        result = run(name, args.runs, args.artifacts, args.rss_limit_mb)
        results.append(result)
        status = "ok" if result["ok"] else f"CRASH (exit {result['returncode']})"
        print(f"{name:18} {result['runs']!s:>9} inputs {result['seconds']:8.1f} s  {status}")
        if not result["ok"]:
            print(result["log"], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
