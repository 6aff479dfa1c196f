"""Self-contained Solidity source of a task's verifier, with its verifying key built in."""

from __future__ import annotations

import re
from collections.abc import Sequence

from zkpot.ledger.artifacts import load_artifact
from zkpot.ledger.model import words
from zkpot.protocol.hashes import BASE_FIELD

#: Number of verifying-key words (see ``Groth16Verifier`` constructor).
VK_WORDS = 22
#: Number of proof words (see ``Groth16Verifier.verifyProof``).
PROOF_WORDS = 8

#: An import of another file under ``contracts/``, with the blank line after it.
_IMPORT_LINE = re.compile(r'^import \{[^}]*\} from "\./[A-Za-z0-9_]+\.sol";\n\n?', re.MULTILINE)
_PRAGMA = "pragma solidity ^0.8.24;"

_G2_PARTS = ("x_c1", "x_c0", "y_c1", "y_c0")

_VK_LAYOUT = (
    *("alpha.x", "alpha.y"),
    *(f"{point}.{part}" for point in ("beta", "gamma", "delta") for part in _G2_PARTS),
    *(f"IC{i}.{axis}" for i in range(4) for axis in "xy"),
)


def groth16_verifier_source() -> str:
    """Solidity source of the generic ``Groth16Verifier`` contract, self-contained: the
    sources it imports come first, and the import lines go."""
    artifact = load_artifact("Groth16Verifier")
    source = _IMPORT_LINE.sub("", artifact["source"])
    header, _, rest = source.partition(_PRAGMA)
    imported = "\n".join(_body(text) for text in artifact["imports"].values())
    return f"{header}{_PRAGMA}\n\n{imported}{rest}"


def _body(text: str) -> str:
    """An imported source without its licence line and pragma (the main source has both)."""
    lines = [
        line
        for line in text.splitlines()
        if not line.startswith("// SPDX-License-Identifier") and not line.startswith("pragma ")
    ]
    return "\n".join(lines).strip() + "\n"


def export_solidity_verifier(vk_words: Sequence[int]) -> str:
    """Solidity source of ``ZKPoTTaskVerifier``: ``Groth16Verifier`` with ``vk_words`` fixed.

    ``vk_words`` are the 22 words of ``VerifyingKey.to_evm()``; the result compiles on its
    own (solc ^0.8.24) and deploys without constructor arguments.
    """
    vk = words("vk_words", vk_words, VK_WORDS, BASE_FIELD)
    constants = "\n".join(
        f"                uint256({value}){',' if i < VK_WORDS - 1 else ''} // {name}"
        for i, (name, value) in enumerate(zip(_VK_LAYOUT, vk, strict=True))
    )
    return (
        groth16_verifier_source().rstrip()
        + "\n\n/// @title Verifier of one ZKPoT task circuit (verifying key built in)\n"
        + "contract ZKPoTTaskVerifier is Groth16Verifier {\n"
        + "    constructor()\n"
        + "        Groth16Verifier(\n"
        + "            [\n"
        + constants
        + "\n            ]\n"
        + "        )\n"
        + "    {}\n"
        + "}\n"
    )
