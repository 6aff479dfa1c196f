"""Sealing data to one participant's X25519 public key, and symmetric encryption.

Thin wrappers over PyNaCl: :class:`nacl.public.SealedBox` (libsodium's
``crypto_box_seal``: an ephemeral X25519 key, XSalsa20-Poly1305, anonymous sender) and
:class:`nacl.secret.SecretBox` (XSalsa20-Poly1305 under a fresh random key, for objects
whose key is handed over later). Keys travel as 32 raw bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

__all__ = [
    "KEY_SIZE",
    "KeyPair",
    "SealError",
    "decrypt",
    "encrypt",
    "generate_keypair",
    "public_key",
    "seal",
    "unseal",
]

KEY_SIZE = 32


class SealError(Exception):
    """Sealing or unsealing failed: wrong key, tampered ciphertext or bad key bytes."""


class KeyPair(NamedTuple):
    """An X25519 key pair as raw bytes."""

    private: bytes
    public: bytes


def generate_keypair() -> KeyPair:
    """A fresh X25519 key pair from libsodium's CSPRNG."""
    sk = PrivateKey.generate()
    return KeyPair(private=bytes(sk), public=bytes(sk.public_key))


def _check_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise SealError(f"{what} must be {KEY_SIZE} raw bytes")
    return bytes(key)


def public_key(private_key: bytes) -> bytes:
    """The public key belonging to ``private_key``."""
    return bytes(PrivateKey(_check_key(private_key, "private key")).public_key)


def seal(data: bytes, recipient_public: bytes) -> bytes:
    """Encrypt ``data`` so that only the holder of the matching private key can read it."""
    box = SealedBox(PublicKey(_check_key(recipient_public, "public key")))
    return bytes(box.encrypt(bytes(data)))


def unseal(ciphertext: bytes, private_key: bytes) -> bytes:
    """Decrypt a sealed message; raise :class:`SealError` if it was not sealed to this key
    or has been altered."""
    box = SealedBox(PrivateKey(_check_key(private_key, "private key")))
    try:
        return bytes(box.decrypt(bytes(ciphertext)))
    except CryptoError as exc:
        raise SealError("cannot unseal: wrong key or corrupted ciphertext") from exc


def encrypt(data: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``data`` under a fresh random key; returns ``(key, ciphertext)``."""
    key = random_bytes(SecretBox.KEY_SIZE)
    return key, bytes(SecretBox(key).encrypt(bytes(data)))


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt what :func:`encrypt` produced; raise :class:`SealError` on a wrong key or
    altered ciphertext."""
    try:
        return bytes(SecretBox(_check_key(key, "secret key")).decrypt(bytes(ciphertext)))
    except CryptoError as exc:
        raise SealError("cannot decrypt: wrong key or corrupted ciphertext") from exc
