"""Compiled contracts shipped with the package (written by ``python -m zkpot.ledger.build``).

Each ``<Contract>.json`` holds the ABI, creation bytecode, runtime bytecode, compiler
version and settings, and the Solidity source it was compiled from.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

#: Contracts shipped as artefacts.
CONTRACT_NAMES = ("AggregationVerifier", "Groth16Verifier", "ZKPoT")


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artefact of a shipped contract (one of ``CONTRACT_NAMES``)."""
    if name not in CONTRACT_NAMES:
        raise KeyError(f"no artefact for contract {name!r}; shipped: {CONTRACT_NAMES}")
    return json.loads(files(__name__).joinpath(f"{name}.json").read_text())


def abi_type(arg: dict[str, Any]) -> str:
    """Canonical ABI type of a parameter (tuples spelled out)."""
    if arg["type"].startswith("tuple"):
        inner = ",".join(abi_type(c) for c in arg["components"])
        return f"({inner}){arg['type'][5:]}"
    return arg["type"]


def abi_signature(item: dict[str, Any]) -> str:
    """``Name(type,...)`` of an ABI event, error or function (hashed into its selector)."""
    return f"{item['name']}({','.join(abi_type(arg) for arg in item['inputs'])})"
