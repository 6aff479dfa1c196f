"""LocalStore: round trips, tamper detection, CID validation, crash safety, factory."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zkpot.store import (
    ContentStore,
    IntegrityError,
    InvalidCID,
    IpfsHttpStore,
    LocalStore,
    build_dag,
    cid_of,
    open_store,
)
from zkpot.store.errors import NotFoundError

SRC = Path(__file__).resolve().parent.parent / "src"


def sample(n: int, label: bytes = b"local") -> bytes:
    return hashlib.shake_256(b"zkpot store test: " + label).digest(n)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blocks").rglob("*") if p.is_file())


@pytest.mark.parametrize("size", [0, 1, 1000, 262144, 262145, 300000, 3 * 262144 + 17])
def test_round_trip(tmp_path: Path, size: int) -> None:
    store = LocalStore(tmp_path)
    data = sample(size)
    cid = store.put(data)
    assert cid == cid_of(data)
    assert store.has(cid)
    assert store.get(cid) == data
    # Reopening the directory sees the same content.
    assert LocalStore(tmp_path).get(cid) == data


def test_blocks_are_the_dag_blocks(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = sample(300000)
    root, blocks = build_dag(data)
    assert store.put(data) == root
    assert {p.name for p in stored_files(tmp_path)} == set(blocks)
    for cid, block in blocks.items():
        assert store.block_path(cid).read_bytes() == block


def test_put_is_idempotent_and_deduplicates(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = bytes(4 * 262144 + 5)  # four identical zero chunks + a short one
    cid = store.put(data)
    first = stored_files(tmp_path)
    assert len(first) == 3  # one zero chunk, the short chunk, the root
    assert store.put(data) == cid
    assert stored_files(tmp_path) == first
    assert store.get(cid) == data


def test_missing_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = cid_of(b"never stored")
    assert not store.has(cid)
    with pytest.raises(NotFoundError):
        store.get(cid)


@pytest.mark.parametrize("size", [1000, 300000])
@pytest.mark.parametrize("which", ["leaf", "root"])
def test_flipped_byte_on_disk_is_detected(tmp_path: Path, size: int, which: str) -> None:
    store = LocalStore(tmp_path)
    data = sample(size)
    root, blocks = build_dag(data)
    store.put(data)
    target = store.block_path(root if which == "root" else next(iter(blocks)))
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        store.get(root)
    # Putting the same content again repairs the damaged block.
    store.put(data)
    assert store.get(root) == data


def test_swapped_block_file_is_detected(tmp_path: Path) -> None:
    """A block file replaced by another valid block (same length) is caught."""
    store = LocalStore(tmp_path)
    a, b = sample(1000, b"a"), sample(1000, b"b")
    cid_a, cid_b = store.put(a), store.put(b)
    store.block_path(cid_a).write_bytes(store.block_path(cid_b).read_bytes())
    with pytest.raises(IntegrityError):
        store.get(cid_a)


def test_missing_inner_block_is_an_integrity_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = sample(300000)
    root, blocks = build_dag(data)
    store.put(data)
    store.block_path(next(iter(blocks))).unlink()
    assert store.has(root)
    with pytest.raises(IntegrityError, match="missing"):
        store.get(root)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "bafy",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",  # truncated
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku ",  # trailing space
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",  # CIDv0 is not ours
        "bafyreieejnlmqxwzzhozcjdwrl2pxprq6gqgxdcvjt2ilt4lzgx2ydrkw4",  # dag-cbor codec
        # sha2-512 multihash
        "bafkrgqdnojrapdodg4u2azvq2mw2kirryt5nnvo44nrzfuphoi7yjcpy4qdxdgvbwkqe4cbwbqem6kge42jbawg4evsj4o4ijartyriruup5q",
        "../../../etc/passwd",
    ],
)
def test_bad_cid_strings_are_rejected(tmp_path: Path, bad: str) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(InvalidCID):
        store.get(bad)
    with pytest.raises(InvalidCID):
        store.has(bad)
    with pytest.raises(ValueError):  # InvalidCID is a ValueError
        store.block_path(bad)


def test_other_multibase_spelling_is_accepted(tmp_path: Path) -> None:
    from multiformats import CID

    store = LocalStore(tmp_path)
    data = sample(1000)
    cid = store.put(data)
    base58 = CID.decode(cid).encode("base58btc")
    assert base58 != cid
    assert store.get(base58) == data


def test_exception_during_write_leaves_nothing_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O failure after the bytes hit the temp file: no block becomes visible."""
    store = LocalStore(tmp_path)
    data = sample(300000)
    cid = cid_of(data)
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the block's temp file, bytes written
            raise OSError("simulated disk failure")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated"):
        store.put(data)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not store.has(cid)
    assert stored_files(tmp_path) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.put(data) == cid
    assert store.get(cid) == data


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from zkpot.store import LocalStore

    root, size, crash_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = bytes((i * 31 + 7) % 256 for i in range(size))
    store = LocalStore(root)
    real_replace, calls = os.replace, [0]

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == crash_at:
            os._exit(3)  # die on the spot: no cleanup, no finally blocks
        real_replace(src, dst)

    os.replace = replace
    store.put(data)
    """
)


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_process_killed_mid_put(tmp_path: Path, crash_at: int) -> None:
    """A process that dies while storing a 3-block object never exposes it."""
    size = 300000  # two leaves + root
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), str(size), str(crash_at)], env=env
    )
    assert proc.returncode == 3
    data = bytes((i * 31 + 7) % 256 for i in range(size))
    root, blocks = build_dag(data)
    store = LocalStore(tmp_path)
    assert not store.has(root)
    # Whatever blocks did land are complete and valid.
    landed = stored_files(tmp_path)
    assert len(landed) == crash_at - 1
    for path in landed:
        assert path.read_bytes() == blocks[path.name]
    assert store.put(data) == root
    assert store.get(root) == data


def test_open_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKPOT_STORE_DIR", str(tmp_path / "default"))
    default = open_store(None)
    assert isinstance(default, LocalStore)
    assert default.root == tmp_path / "default"
    monkeypatch.delenv("ZKPOT_STORE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert open_store(None).root == tmp_path / "xdg" / "zkpot" / "store"  # type: ignore[attr-defined]

    local = open_store(str(tmp_path / "here"))
    assert isinstance(local, LocalStore) and local.root == tmp_path / "here"
    assert open_store(f"file://{tmp_path / 'there'}").root == tmp_path / "there"  # type: ignore[attr-defined]
    remote = open_store("http://127.0.0.1:5001")
    assert isinstance(remote, IpfsHttpStore) and remote.api_url == "http://127.0.0.1:5001"
    for store in (default, local, remote):
        assert isinstance(store, ContentStore)
    with pytest.raises(ValueError):
        open_store("ftp://example.invalid/x")
