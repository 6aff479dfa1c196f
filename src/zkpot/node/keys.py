"""Key files and the participants file.

A **key file** holds one party's secrets: the private key of its Ethereum account (it signs
every transaction) and its X25519 private key (it opens the global model and, for a round
leader, the package keys handed over to it). It is JSON, written with mode 0600 and never
overwritten::

    {"format": "zkpot-key/v1", "address": "0x…", "ethereum_private_key": "0x…",
     "x25519_private_key": "…", "x25519_public_key": "…"}

A **participants file** lists what the publisher registers, one participant per entry, in
registration order: its address and X25519 public key (no secrets). It is either a JSON
array or JSON lines of ``{"address": "0x…", "x25519": "<64 hex digits>"}``, the line that
``zkpot keygen`` prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkpot import safejson
from zkpot.store.sealed import KeyPair, SealError, generate_keypair, public_key

if TYPE_CHECKING:
    # Imported where used: they pull in the prover and web3, which `zkpot keygen` avoids.
    from zkpot.ledger.model import Member
    from zkpot.participant import Identity

KEY_FORMAT = "zkpot-key/v1"


class KeyFileError(ValueError):
    """A key file or participants file is missing, malformed or inconsistent."""


def identity_to_json(identity: Identity) -> dict[str, str]:
    """The key-file document of an identity (secrets included)."""
    return _document(identity.account, identity.keys)


def _document(account: LocalAccount, keys: KeyPair) -> dict[str, str]:
    return {
        "format": KEY_FORMAT,
        "address": account.address,
        "ethereum_private_key": "0x" + bytes(account.key).hex(),
        "x25519_private_key": keys.private.hex(),
        "x25519_public_key": keys.public.hex(),
    }


def identity_from_json(doc: Any, source: str = "key file") -> Identity:
    """An identity from its key-file document; checks that the public parts match."""
    from zkpot.participant import Identity

    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{source}: not a {KEY_FORMAT} document")
    try:
        account = Account.from_key(doc["ethereum_private_key"])
        private = bytes.fromhex(doc["x25519_private_key"])
        keys = KeyPair(private, public_key(private))
    except (KeyError, TypeError, ValueError, SealError) as exc:
        raise KeyFileError(f"{source}: bad key material ({exc})") from exc
    if doc.get("address") != account.address:
        raise KeyFileError(f"{source}: the address does not belong to the Ethereum key")
    if doc.get("x25519_public_key") != keys.public.hex():
        raise KeyFileError(f"{source}: the X25519 public key does not belong to the private key")
    return Identity(account, keys)


def public_entry(identity: Identity) -> dict[str, str]:
    """What the publisher needs about a participant: one participants-file entry."""
    return {"address": identity.address, "x25519": identity.keys.public.hex()}


def write_key_file(path: Path, identity: Identity) -> None:
    """Write ``identity`` to a new key file (mode 0600); refuses to overwrite a file."""
    _write_document(Path(path), identity_to_json(identity))


def generate_key_file(path: Path, samples: int | None = None) -> dict[str, str | int]:
    """Write fresh keys (OS CSPRNG) to a new key file; returns its participants-file entry,
    which registers ``samples`` (the size of the participant's training set) as its weight
    (a publisher's key has no entry to give: ``samples`` None leaves it out)."""
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples < 2**32
    ):
        raise KeyFileError(f"a sample count is an integer in [1, 2^32), got {samples!r}")
    account: LocalAccount = Account.create()
    keys = generate_keypair()
    _write_document(Path(path), _document(account, keys))
    entry: dict[str, str | int] = {"address": account.address, "x25519": keys.public.hex()}
    if samples is not None:
        entry["samples"] = samples
    return entry


def _write_document(path: Path, doc: dict[str, str]) -> None:
    """Write a key-file document to a new file with mode 0600.

    The document goes to a temporary file in the same directory, is fsynced, and is then
    hard-linked to ``path`` (which fails if ``path`` exists), so ``path`` is either absent
    or complete.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(f"{path} exists; a key file is never overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)


def read_key_file(path: Path) -> Identity:
    """The identity in a key file; refuses a file that others than its owner can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from exc
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        doc = safejson.loads(text)
    except (ValueError, RecursionError) as exc:
        raise KeyFileError(f"{path}: not JSON ({exc})") from exc
    return identity_from_json(doc, str(path))


def read_participants_file(path: Path) -> tuple[Member, ...]:
    """The registrations in a participants file (JSON array or JSON lines of ``{address,
    x25519, samples}``), in order."""
    from zkpot.ledger.model import Member

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read participants file {path}: {exc}") from exc
    try:
        stripped = text.lstrip()
        if stripped.startswith("["):
            entries = safejson.loads(stripped)
        else:
            entries = [safejson.loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, RecursionError) as exc:
        raise KeyFileError(f"{path}: not JSON or JSON lines ({exc})") from exc
    registrations = []
    for i, entry in enumerate(entries):
        try:
            registrations.append(
                Member(entry["address"], bytes.fromhex(entry["x25519"]), entry["samples"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyFileError(
                f"{path}: entry {i} is not {{address, x25519, samples}} ({exc})"
            ) from exc
    if not registrations:
        raise KeyFileError(f"{path} lists no participant")
    if len({r.address for r in registrations}) != len(registrations):
        raise KeyFileError(f"{path} lists a participant twice")
    return tuple(registrations)
