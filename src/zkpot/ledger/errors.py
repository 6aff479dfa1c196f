"""Exceptions raised by the ledger, one class per custom error of the contracts.

A reverted call or transaction is decoded from its revert data: the 4-byte selector of a
custom error picks the class, and its arguments become attributes (snake_case names,
e.g. ``BelowThreshold(...).min_count``). Arguments that Python rejects before anything
is sent raise :class:`InvalidArgument`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, ClassVar

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from zkpot.ledger.artifacts import CONTRACT_NAMES, abi_signature, abi_type, load_artifact


class LedgerError(Exception):
    """Base class of every ledger error."""


class InvalidArgument(LedgerError, ValueError):
    """A Python-side argument is invalid; nothing was sent."""


class TransactionReverted(LedgerError):
    """A transaction or call reverted without a custom error of the contracts."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class ContractError(LedgerError):
    """A custom error raised by a contract; subclasses are named after the Solidity error."""

    #: Solidity parameter names of the error, in order.
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *values: Any) -> None:
        self.values = tuple(values)
        for name, value in zip(self.fields, values, strict=True):
            setattr(self, _snake(name), value)
        shown = ", ".join(f"{n}={_show(v)}" for n, v in zip(self.fields, values, strict=True))
        super().__init__(f"{type(self).__name__}({shown})")


# ZKPoT.sol -------------------------------------------------------------------------------


class InvalidTaskParams(ContractError):
    """registerTask rejected the task parameters."""

    fields = ("reason",)


class UnknownTask(ContractError):
    """No task has this id."""

    fields = ("taskId",)


class RoundNotOpen(ContractError):
    """The round is not the task's open round (wrong number, or the task finished)."""

    fields = ("taskId", "round", "currentRound")


class NotRegistered(ContractError):
    """The sender is not in the task's participant registry."""

    fields = ("account",)


class DuplicateSubmission(ContractError):
    """The sender already submitted in this round."""

    fields = ("account",)


class LateSubmission(ContractError):
    """The round's submission window has closed."""

    fields = ("deadline", "timestamp")


class BelowThreshold(ContractError):
    """The proven count is below the task's accuracy threshold."""

    fields = ("count", "minCount")


class CountAboveSamples(ContractError):
    """The claimed count exceeds the number of test samples."""

    fields = ("count", "numSamples")


class InvalidProof(ContractError):
    """The Groth16 proof does not verify for [commitment, count, tag]."""


class RoundStillOpen(ContractError):
    """The round's window has not closed yet."""

    fields = ("deadline", "timestamp")


class NoSubmissions(ContractError):
    """Nobody submitted a valid proof in the round, so it has no leader."""

    fields = ("taskId", "round")


class NotLeader(ContractError):
    """Only the round's leader may propose its block."""

    fields = ("sender", "leader")


class BlockAlreadyProposed(ContractError):
    """The round's block is already on the ledger."""

    fields = ("taskId", "round")


class BadParent(ContractError):
    """The parent hash is not the hash of the previous round's block (or genesis)."""

    fields = ("given", "expected")


class InvalidCommitment(ContractError):
    """A global model commitment is not a BN254 scalar field element."""

    fields = ("value",)


class AcceptedNotSorted(ContractError):
    """The accepted list is not in strictly ascending address order."""

    fields = ("index",)


class NoValidSubmission(ContractError):
    """An accepted address (or a hand-over's sender) has no valid submission in the round."""

    fields = ("account",)


class BadSealedKey(ContractError):
    """A hand-over's sealed key is not an 80-byte sealed box."""

    fields = ("length",)


class GlobalBelowThreshold(ContractError):
    """A block's global model proves a count below the task's threshold."""

    fields = ("count", "minCount")


class InvalidGlobalProof(ContractError):
    """A block's global-model proof does not verify (or its commitment is not a field
    element)."""


class NoLeaderLeft(ContractError):
    """Every submitter's leader turn has passed without a block: the round can only be
    skipped."""

    fields = ("taskId", "round")


class RoundHasLeader(ContractError):
    """A round cannot be skipped while a leader still has its turn."""

    fields = ("taskId", "round", "leader")


# Groth16Verifier.sol ---------------------------------------------------------------------


class InvalidVerifyingKey(ContractError):
    """A verifying-key word or point is invalid (index 22: the G2 points)."""

    fields = ("index",)


#: Every contract error class, by Solidity name.
CONTRACT_ERRORS: dict[str, type[ContractError]] = {
    cls.__name__: cls
    for cls in (
        InvalidTaskParams,
        UnknownTask,
        RoundNotOpen,
        NotRegistered,
        DuplicateSubmission,
        LateSubmission,
        BelowThreshold,
        CountAboveSamples,
        InvalidProof,
        RoundStillOpen,
        NoSubmissions,
        NotLeader,
        BlockAlreadyProposed,
        BadParent,
        InvalidCommitment,
        AcceptedNotSorted,
        NoValidSubmission,
        BadSealedKey,
        GlobalBelowThreshold,
        InvalidGlobalProof,
        NoLeaderLeft,
        RoundHasLeader,
        InvalidVerifyingKey,
    )
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


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)
