"""The typed values of the protocol: what each int, str and bytes of a round means.

They are ``NewType``s, free at run time: they document a value's meaning and let the type
checker catch a CID passed as an address. ``FIELD_ORDER`` (BN254's scalar field, from
:mod:`zkpot.proving`) bounds every :data:`FieldElement`.
"""

from __future__ import annotations

from typing import NewType

from zkpot.proving import FIELD_ORDER

#: A checksummed 20-byte account address, ``0x``-prefixed (``address`` in Solidity).
Address = NewType("Address", str)
#: A 32-byte Keccak-256 digest (``bytes32``): block and genesis hashes.
Hash32 = NewType("Hash32", bytes)
#: An element of the BN254 scalar field: commitments and binding tags.
FieldElement = NewType("FieldElement", int)
#: A kubo-compatible CIDv1 naming a stored object (a sealed model, the test set).
Cid = NewType("Cid", str)
#: A timestamp of the chain, in seconds (``block.timestamp``).
Timestamp = NewType("Timestamp", int)

#: The zero address: the leader of a skipped round.
ZERO_ADDRESS = Address("0x" + "00" * 20)


def in_field(value: int) -> bool:
    """Whether ``value`` is a BN254 scalar (``value < r``, as the contract checks)."""
    return 0 <= value < FIELD_ORDER


__all__ = [
    "FIELD_ORDER",
    "ZERO_ADDRESS",
    "Address",
    "Cid",
    "FieldElement",
    "Hash32",
    "Timestamp",
    "in_field",
]
