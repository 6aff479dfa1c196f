"""Sealing to a participant's X25519 key (PyNaCl SealedBox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkpot.store import LocalStore, SealError, generate_keypair, public_key, seal, unseal


def test_keypair_shape() -> None:
    pair = generate_keypair()
    private, public = pair  # unpacks like a tuple
    assert len(private) == 32 and len(public) == 32
    assert public_key(private) == public
    assert generate_keypair().private != private


@pytest.mark.parametrize("message", [b"", b"x", b"model update" * 1000])
def test_round_trip(message: bytes) -> None:
    pair = generate_keypair()
    sealed = seal(message, pair.public)
    if len(message) >= 16:
        assert message[:16] not in sealed
    assert len(sealed) == len(message) + 48  # ephemeral key + MAC
    assert unseal(sealed, pair.private) == message


def test_sealing_is_randomized() -> None:
    pair = generate_keypair()
    assert seal(b"same", pair.public) != seal(b"same", pair.public)


def test_wrong_key_is_rejected() -> None:
    alice, mallory = generate_keypair(), generate_keypair()
    sealed = seal(b"for alice only", alice.public)
    with pytest.raises(SealError):
        unseal(sealed, mallory.private)


@pytest.mark.parametrize("position", [0, 31, 32, 47, -1])
def test_tampered_ciphertext_is_rejected(position: int) -> None:
    pair = generate_keypair()
    sealed = bytearray(seal(b"weights", pair.public))
    sealed[position] ^= 0x80
    with pytest.raises(SealError):
        unseal(bytes(sealed), pair.private)


@pytest.mark.parametrize("ciphertext", [b"", b"short", bytes(47)])
def test_truncated_ciphertext_is_rejected(ciphertext: bytes) -> None:
    with pytest.raises(SealError):
        unseal(ciphertext, generate_keypair().private)


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33)])
def test_bad_key_sizes_are_rejected(key: bytes) -> None:
    with pytest.raises(SealError):
        seal(b"data", key)
    with pytest.raises(SealError):
        unseal(b"x" * 64, key)


def test_sealed_update_through_a_store(tmp_path: Path) -> None:
    """The intended flow: seal to the recipient, store, fetch by CID, unseal."""
    store = LocalStore(tmp_path)
    recipient = generate_keypair()
    update = bytes(range(256)) * 2000
    cid = store.put(seal(update, recipient.public))
    assert unseal(store.get(cid), recipient.private) == update


def test_symmetric_encryption_round_trips_and_rejects_tampering() -> None:
    from zkpot.store.sealed import decrypt, encrypt

    key, ciphertext = encrypt(b"model bytes")
    assert decrypt(key, ciphertext) == b"model bytes"
    other_key, _ = encrypt(b"")
    with pytest.raises(SealError):
        decrypt(other_key, ciphertext)
    tampered = bytearray(ciphertext)
    tampered[-1] ^= 1
    with pytest.raises(SealError):
        decrypt(key, bytes(tampered))
    assert encrypt(b"same")[1] != encrypt(b"same")[1]
