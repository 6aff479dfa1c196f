"""Compile the Solidity contracts with solc-js and write the shipped artefacts.

Run from a source checkout after ``npm ci``::

    python -m zkpot.ledger.build            # rewrite src/zkpot/ledger/artifacts/*.json
    python -m zkpot.ledger.build --check    # exit 1 if the shipped artefacts are stale

The compiler is the ``solc`` npm package (pinned exactly in package.json) driven through
its standard-JSON interface by node. Users of the package need neither: the artefacts
(ABI, creation and runtime bytecode, the source and the sources it imports) are part of
the package.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Contracts shipped as artefacts, by source file under ``contracts/``.
CONTRACTS: dict[str, tuple[str, ...]] = {
    "Groth16Verifier.sol": ("Groth16Verifier",),
    "AggregationVerifier.sol": ("AggregationVerifier",),
    "ZKPoT.sol": ("ZKPoT",),
}

#: ``import {...} from "./X.sol";``: the files under ``contracts/`` a source imports.
_IMPORT = re.compile(r'^import \{[^}]*\} from "\./([A-Za-z0-9_]+\.sol)";$', re.MULTILINE)

#: Compiler settings; part of every artefact so that a rebuild is reproducible.
SETTINGS: dict[str, Any] = {
    "evmVersion": "cancun",
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 200},
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

#: Reads a standard-JSON input on stdin and prints solc-js's output and version.
_NODE_DRIVER = """
const solc = require(process.argv[1]);
const input = require('fs').readFileSync(0, 'utf8');
const output = JSON.parse(solc.compile(input));
process.stdout.write(JSON.stringify({version: solc.version(), output: output}));
"""

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


class BuildError(RuntimeError):
    """The compiler is missing, or it reported errors."""


def solc_module(root: Path = ROOT) -> Path:
    """The installed solc-js package directory (``npm ci`` puts it there)."""
    return root / "node_modules" / "solc"


def pinned_solc_version(root: Path = ROOT) -> str:
    """The exact solc version pinned in package.json."""
    package = json.loads((root / "package.json").read_text())
    return package["dependencies"]["solc"]


def run_solc(sources: dict[str, str], root: Path = ROOT) -> tuple[str, dict[str, Any]]:
    """Compile ``{source name: text}`` with the pinned solc-js and SETTINGS.

    Returns the compiler's long version and its standard-JSON ``contracts`` output.
    Errors and warnings both fail the build.
    """
    module = solc_module(root)
    node = shutil.which("node")
    if node is None or not (module / "package.json").is_file():
        raise BuildError(f"need node and solc-js at {module}: run `npm ci` in {root}")
    installed = json.loads((module / "package.json").read_text())["version"]
    if installed != pinned_solc_version(root):
        raise BuildError(f"solc {installed} installed, package.json pins another: run `npm ci`")
    request = {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": SETTINGS,
    }
    run = subprocess.run(
        [node, "-e", _NODE_DRIVER, str(module)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise BuildError(f"solc-js failed: {run.stderr.strip()}")
    result = json.loads(run.stdout)
    output = result["output"]
    problems = [e for e in output.get("errors", []) if e["severity"] == "error"]
    warnings = [e for e in output.get("errors", []) if e["severity"] != "error"]
    if problems or warnings:
        text = "\n".join(e["formattedMessage"] for e in problems + warnings)
        raise BuildError(f"solc reported {len(problems)} errors, {len(warnings)} warnings:\n{text}")
    return result["version"], output["contracts"]


def imported_sources(text: str, root: Path = ROOT) -> dict[str, str]:
    """The sources a contract file imports from ``contracts/``, transitively, by path."""
    found: dict[str, str] = {}
    pending = _IMPORT.findall(text)
    while pending:
        name = pending.pop()
        path = f"contracts/{name}"
        if path not in found:
            found[path] = (root / path).read_text()
            pending.extend(_IMPORT.findall(found[path]))
    return dict(sorted(found.items()))


def compile_contracts(root: Path = ROOT) -> dict[str, str]:
    """Compile ``contracts/`` and return the artefact files' text, by file name."""
    sources = {f"contracts/{name}": (root / "contracts" / name).read_text() for name in CONTRACTS}
    imports = {path: imported_sources(text, root) for path, text in sources.items()}
    version, contracts = run_solc(
        {**sources, **{p: t for found in imports.values() for p, t in found.items()}}, root
    )
    files: dict[str, str] = {}
    for file_name, names in CONTRACTS.items():
        source_name = f"contracts/{file_name}"
        for name in names:
            compiled = contracts[source_name][name]
            artefact = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": {"name": "solc-js", "version": version},
                "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "source": sources[source_name],
                "imports": imports[source_name],
            }
            files[f"{name}.json"] = json.dumps(artefact, indent=2) + "\n"
    return files


def stale_artifacts(root: Path = ROOT, out: Path = ARTIFACTS) -> list[str]:
    """Names of shipped artefacts that differ from a fresh compilation."""
    return [
        name
        for name, text in compile_contracts(root).items()
        if not (out / name).is_file() or (out / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkpot.ledger.build", description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout with contracts/")
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="artefact directory")
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_artifacts(args.root, args.out)
            for name in stale:
                print(f"stale: {name}", file=sys.stderr)
            return 1 if stale else 0
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in compile_contracts(args.root).items():
            (args.out / name).write_text(text)
            print(f"wrote {args.out / name}")
    except BuildError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
