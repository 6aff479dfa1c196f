"""The shipped contract artefacts: reproducible from contracts/, within size limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkpot.bench.ledger import EIP170_LIMIT, ledger_bench
from zkpot.ledger.artifacts import CONTRACT_NAMES, abi_signature, load_artifact
from zkpot.ledger.build import ARTIFACTS, ROOT, SETTINGS, compile_contracts, solc_module
from zkpot.ledger.errors import CONTRACT_ERRORS, ContractError, error_selectors

CONTRACTS_DIR = ROOT / "contracts"


def test_shipped_artifacts_match_a_fresh_build() -> None:
    if not (solc_module() / "package.json").is_file():
        pytest.skip(f"solc-js absent at {solc_module()}: run `npm ci` to compile the contracts")
    fresh = compile_contracts()
    assert sorted(fresh) == sorted(f"{name}.json" for name in CONTRACT_NAMES)
    for name, text in fresh.items():
        assert (ARTIFACTS / name).read_text() == text, (
            f"{name} is stale: python -m zkpot.ledger.build"
        )


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_is_built_from_the_checked_in_source(name: str) -> None:
    artefact = load_artifact(name)
    assert artefact["source"] == (ROOT / artefact["sourceName"]).read_text()
    for path, text in artefact["imports"].items():
        assert text == (ROOT / path).read_text(), path
    assert artefact["settings"]["evmVersion"] == SETTINGS["evmVersion"]
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["solc"]
    assert artefact["compiler"]["version"].startswith(f"{pinned}+")


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_deployed_bytecode_fits_eip170(name: str) -> None:
    runtime = load_artifact(name)["deployedBytecode"]
    assert runtime.startswith("0x")
    assert 0 < (len(runtime) - 2) // 2 <= EIP170_LIMIT


def test_every_custom_error_has_its_exception_class() -> None:
    in_abi = {
        item["name"]
        for name in CONTRACT_NAMES
        for item in load_artifact(name)["abi"]
        if item["type"] == "error"
    }
    assert in_abi == set(CONTRACT_ERRORS)
    for cls, types in error_selectors().values():
        assert issubclass(cls, ContractError)
        assert len(cls.fields) == len(types), cls.__name__


def test_error_fields_match_the_abi() -> None:
    for name in CONTRACT_NAMES:
        for item in load_artifact(name)["abi"]:
            if item["type"] == "error":
                fields = tuple(arg["name"] for arg in item["inputs"])
                assert CONTRACT_ERRORS[item["name"]].fields == fields, abi_signature(item)


def test_contract_sources_are_the_shipped_ones() -> None:
    """Every source in contracts/ is a shipped contract or a file one of them imports
    (contracts/test/ holds test-only contracts, never shipped)."""
    shipped = set()
    for name in CONTRACT_NAMES:
        artefact = load_artifact(name)
        shipped.add(Path(artefact["sourceName"]).name)
        shipped.update(Path(path).name for path in artefact["imports"])
    assert shipped == {p.name for p in CONTRACTS_DIR.glob("*.sol")}


def test_bench_reports_gas_within_budget() -> None:
    report = ledger_bench()
    gas = report["gas"]
    assert report["submit_within_budget"]
    assert gas["submit"]["max"] <= report["submit_gas_budget"] == 300_000
    assert gas["submit"]["min"] > 200_000  # the pairing alone costs 181k
    assert gas["register_task"] > 0 and gas["propose_block"] > 0
    assert gas["contest"] > 0 and gas["reopen"] > 0
    assert gas["propose_block_excluding"]["excluded"] == report["participants"] - 1
    assert 0 < gas["hand_over"]["min"] <= gas["hand_over"]["max"]
    assert report["calldata_bytes_per_submission"] == 4 + 32 * 16
    assert all(0 < size <= EIP170_LIMIT for size in report["bytecode_bytes"].values())
    json.dumps(report)
