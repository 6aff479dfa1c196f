"""Exceptions raised by the ledger, one class per custom error of the contracts.

A reverted call or transaction is decoded from its revert data: the 4-byte selector of a
custom error picks the class, and its arguments become attributes (snake_case names,
e.g. ``BelowThreshold(...).min_count``). The errors of the round's rules are the
protocol's (:mod:`zkpot.protocol.errors`) raised on chain: catch them by the protocol's
class. Arguments that Python rejects before anything is sent raise
:class:`InvalidArgument`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from zkpot.ledger.artifacts import CONTRACT_NAMES, abi_signature, abi_type, load_artifact
from zkpot.protocol.errors import RULE_ERRORS, InvalidTransaction


class LedgerError(Exception):
    """Base class of every ledger error."""


class InvalidArgument(LedgerError, ValueError):
    """A Python-side argument is invalid; nothing was sent."""


class TransactionReverted(LedgerError):
    """A transaction or call reverted without a custom error of the contracts."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class ContractError(LedgerError, InvalidTransaction):
    """A custom error raised by a contract, named after the Solidity error.

    A rule of the round broken on chain raises the ledger's form of the protocol's error
    (:func:`on_chain`): ``except zkpot.protocol.BelowThreshold`` catches it, and so does
    ``except LedgerError``.
    """


class InvalidTaskParams(ContractError):
    """registerTask rejected the task parameters."""

    fields = ("reason",)


class InvalidVerifyingKey(ContractError):
    """A verifying-key word or point is invalid (index 22: the G2 points;
    Groth16Verifier.sol)."""

    fields = ("index",)


def on_chain(rule: type[InvalidTransaction]) -> type[ContractError]:
    """The ledger's exception for a protocol rule: a subclass of both, with its name."""
    return type(rule.__name__, (rule, ContractError), {"__doc__": rule.__doc__})


#: Every contract error class, by Solidity name.
CONTRACT_ERRORS: dict[str, type[ContractError]] = {
    InvalidTaskParams.__name__: InvalidTaskParams,
    InvalidVerifyingKey.__name__: InvalidVerifyingKey,
    **{name: on_chain(rule) for name, rule in RULE_ERRORS.items()},
}


_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]


@cache
def error_selectors() -> dict[bytes, tuple[type[ContractError], tuple[str, ...]]]:
    """Exception class and ABI argument types of each custom error, by 4-byte selector."""
    table: dict[bytes, tuple[type[ContractError], tuple[str, ...]]] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "error":
                continue
            types = tuple(abi_type(arg) for arg in item["inputs"])
            selector = keccak(text=abi_signature(item))[:4]
            table[selector] = (CONTRACT_ERRORS[item["name"]], types)
    return table


def decode_revert(data: bytes) -> LedgerError:
    """The exception for a contract's revert data."""
    selector, payload = data[:4], data[4:]
    try:
        known = error_selectors().get(selector)
        if known is not None:
            cls, types = known
            values = decode(list(types), payload)
            return cls(*(_plain(t, v) for t, v in zip(types, values, strict=True)))
        if selector == _ERROR_STRING:
            return TransactionReverted(f"reverted: {decode(['string'], payload)[0]}", data)
        if selector == _PANIC:
            return TransactionReverted(f"panic 0x{decode(['uint256'], payload)[0]:02x}", data)
    except DecodingError:
        pass
    return TransactionReverted(f"reverted with data 0x{data.hex()}", data)


def _plain(abi_type: str, value: Any) -> Any:
    return to_checksum_address(value) if abi_type == "address" else value
