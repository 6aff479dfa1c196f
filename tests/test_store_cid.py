"""kubo-compatible CIDs: known-answer vectors, DAG shape, codec and verification.

Known answers were produced by kubo itself (see ``KUBO_VECTORS``): for each
input, written to a file,

    IPFS_PATH=$(mktemp -d) ipfs init --profile test
    ipfs add --only-hash --cid-version 1 --raw-leaves -Q FILE

with kubo v0.43.0 built by ``scripts/install_kubo.sh`` and its default import
settings (chunker size-262144, balanced layout, 174 links per node).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from zkpot.store import IntegrityError, InvalidCID, build_dag, cid_of, normalize_cid, verify
from zkpot.store.cid import CHUNK_SIZE, MAX_LINKS, read_dag
from zkpot.store.errors import NotFoundError
from zkpot.store.unixfs import (
    UNIXFS_FILE,
    PBLink,
    PBNode,
    decode_pbnode,
    decode_unixfs,
    decode_varint,
    encode_file_data,
    encode_pbnode,
    encode_varint,
)

KIB = 1024
MIB = 1024 * KIB
VECTOR_SEED = b"zkpot/store known-answer vector"


def vector_input(kind: str, size: int) -> bytes:
    """Deterministic test inputs.

    ``"shake"``: the first ``size`` bytes of SHAKE-256(``VECTOR_SEED``), so
    every chunk differs; ``"zeros"``: ``size`` zero bytes, so chunks repeat.
    """
    if kind == "shake":
        return hashlib.shake_256(VECTOR_SEED).digest(size)
    if kind == "zeros":
        return bytes(size)
    raise ValueError(kind)


def child(link: PBLink) -> str:
    """The base32 CID string a dag-pb link points to."""
    return normalize_cid(CID.decode(link.hash))


# (kind, size) -> CID printed by kubo v0.43.0 for that input.
KUBO_VECTORS: dict[tuple[str, int], str] = {
    ("shake", 0): "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    ("shake", 1000): "bafkreicvusy52mxtmkxd7hawcskidmtgqjfe27vj5iqdqfnftbgb7o3h2q",
    ("shake", 262144): "bafkreibnvegpay4tudbzjipqup7paklrkyil3a7pn7tr6drsuyf4oaevri",
    ("shake", 262145): "bafybeibs5dadoar7wuuv7iznxzwqsqq5vdz3n4hcyzpjxkpivgvumwkp6m",
    ("shake", 300000): "bafybeiazmalaa6h4oamjss4neakijgesjgw6i4vd6yowstv622c6yzntk4",
    ("shake", 5 * MIB): "bafybeigou4yudztsvss56ehz6m5qbpllootgqvkz3tckkzg3airketrxp4",
    ("shake", 174 * 262144): "bafybeieoza7yl3kip6hzbp5c456lcl4jt7cr4rexqngz5z53fcng7qwtla",
    ("shake", 174 * 262144 + 1): "bafybeie6mgnzula27nj5srdue2hnkev2ctb5k4y2dismymbvxd6m4hdz2y",
    ("shake", 50 * MIB): "bafybeihsdgxknqvndgvyaxr6hggfsrumneh3rgsglepk3biocnaidkci6m",
    ("zeros", 4 * 262144 + 1): "bafybeihhq4imxfkfucfxjbnqvrvzdknmfbzvxaivz7jzdnumfkabdbq3yq",
}


@pytest.mark.parametrize(("kind", "size"), sorted(KUBO_VECTORS))
def test_known_answer(kind: str, size: int) -> None:
    data = vector_input(kind, size)
    expected = KUBO_VECTORS[kind, size]
    assert cid_of(data) == expected
    root, blocks = build_dag(data)
    assert root == expected
    assert read_dag(root, lambda cid: blocks[str(cid)]) == data
    verify(expected, data)


def test_vectors_cover_the_layout_cases() -> None:
    sizes = {size for _, size in KUBO_VECTORS}
    assert 0 in sizes  # empty file
    assert CHUNK_SIZE in sizes  # exactly one chunk
    assert CHUNK_SIZE + 1 in sizes  # smallest two-leaf file
    assert MAX_LINKS * CHUNK_SIZE in sizes  # full single-level node
    assert any(size > MAX_LINKS * CHUNK_SIZE for size in sizes)  # two levels


def test_empty_and_single_chunk_are_raw_leaves() -> None:
    for size in (0, 1, CHUNK_SIZE):
        data = vector_input("shake", size)
        cid = CID.decode(cid_of(data))
        assert cid.codec.name == "raw"
        assert cid.version == 1 and cid.hashfun.name == "sha2-256"
        assert cid.raw_digest == hashlib.sha256(data).digest()
        assert str(cid).startswith("bafkrei")


def test_multi_chunk_root_is_dag_pb_with_unixfs_file() -> None:
    data = vector_input("shake", 2 * CHUNK_SIZE + 10)
    root, blocks = build_dag(data)
    assert root.startswith("bafybei")
    node = decode_pbnode(blocks[root])
    meta = decode_unixfs(node.data or b"")
    assert meta.type == UNIXFS_FILE
    assert meta.filesize == len(data)
    assert meta.blocksizes == (CHUNK_SIZE, CHUNK_SIZE, 10)
    assert [link.name for link in node.links] == ["", "", ""]
    assert [link.tsize for link in node.links] == [CHUNK_SIZE, CHUNK_SIZE, 10]
    assert [blocks[child(link)] for link in node.links] == [
        data[:CHUNK_SIZE],
        data[CHUNK_SIZE : 2 * CHUNK_SIZE],
        data[2 * CHUNK_SIZE :],
    ]
    assert list(blocks)[-1] == root  # children first, root last


def test_balanced_layout_with_175_leaves() -> None:
    """One leaf more than a node can hold: a two-level tree, 174 + 1."""
    data = bytes((MAX_LINKS + 1) * CHUNK_SIZE)  # all chunks equal: blocks dedupe
    root, blocks = build_dag(data)
    top = decode_pbnode(blocks[root])
    assert len(top.links) == 2
    full, rest = (decode_pbnode(blocks[child(link)]) for link in top.links)
    assert len(full.links) == MAX_LINKS and len(rest.links) == 1
    assert decode_unixfs(top.data or b"").blocksizes == (MAX_LINKS * CHUNK_SIZE, CHUNK_SIZE)
    # Tsize of the top links counts the child node plus everything under it.
    first = top.links[0]
    first_block = blocks[child(first)]
    assert first.tsize == len(first_block) + MAX_LINKS * CHUNK_SIZE
    assert len(blocks) == 4  # one distinct leaf, two inner nodes, the root


def test_read_dag_reports_missing_blocks() -> None:
    data = vector_input("shake", 3 * CHUNK_SIZE)
    root, blocks = build_dag(data)
    leaf = next(iter(blocks))

    def load(cid: CID) -> bytes:
        if str(cid) == leaf or str(cid) not in blocks:
            raise NotFoundError(str(cid))
        return blocks[str(cid)]

    with pytest.raises(IntegrityError, match="missing"):
        read_dag(root, load)
    with pytest.raises(NotFoundError):
        read_dag(cid_of(b"absent"), load)


def test_verify_rejects_wrong_and_malformed_cids() -> None:
    data = b"payload"
    verify(cid_of(data), data)
    with pytest.raises(IntegrityError):
        verify(cid_of(data), data + b"!")
    with pytest.raises(IntegrityError):
        verify(cid_of(b"other"), data)
    for bad in ["", "bafy", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"]:
        with pytest.raises(InvalidCID):
            verify(bad, data)


# --- protobuf codec -------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))


def test_varint_known_encodings() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(262144) == b"\x80\x80\x10"
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            encode_varint(bad)
    for truncated in (b"", b"\x80", b"\xff" * 11):
        with pytest.raises(ValueError):
            decode_varint(truncated, 0)


def test_file_data_encoding_bytes() -> None:
    # Type=File(2), filesize=300000, blocksizes=[262144, 37856], unpacked.
    assert encode_file_data(300000, [262144, 37856]) == bytes.fromhex(
        "0802" + "18e0a712" + "20808010" + "20e0a702"
    )


links = st.builds(
    PBLink,
    hash=st.binary(min_size=1, max_size=40),
    name=st.text(max_size=8),
    tsize=st.integers(min_value=0, max_value=2**63),
)


@given(st.lists(links, max_size=5).map(tuple), st.none() | st.binary(max_size=64))
def test_pbnode_round_trip(node_links: tuple[PBLink, ...], data: bytes | None) -> None:
    node = PBNode(links=node_links, data=data)
    assert decode_pbnode(encode_pbnode(node)) == node


@pytest.mark.parametrize("garbage", [b"\x0a", b"\x0a\x05ab", b"\x08\x01", b"\x12\x02\x12\x00"])
def test_pbnode_rejects_garbage(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        decode_pbnode(garbage)


# --- properties -----------------------------------------------------------

# Inputs that straddle chunk boundaries, generated from a seed and a length so
# that hypothesis can shrink them cheaply.
sized_inputs = st.tuples(
    st.binary(min_size=1, max_size=8), st.integers(min_value=0, max_value=3 * CHUNK_SIZE + 3)
).map(lambda t: hashlib.shake_256(t[0]).digest(t[1]))
any_input = st.binary(max_size=4 * KIB) | sized_inputs


@settings(max_examples=60, deadline=None)
@given(any_input)
def test_cid_of_is_deterministic(data: bytes) -> None:
    cid = cid_of(data)
    assert cid_of(bytes(data)) == cid
    assert cid_of(bytearray(data)) == cid  # type: ignore[arg-type]
    assert build_dag(data)[0] == cid
    verify(cid, data)


@settings(max_examples=60, deadline=None)
@given(any_input.filter(len), st.data())
def test_verify_rejects_any_single_byte_change(data: bytes, draw: st.DataObject) -> None:
    cid = cid_of(data)
    index = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    delta = draw.draw(st.integers(min_value=1, max_value=255))
    changed = bytearray(data)
    changed[index] ^= delta
    with pytest.raises(IntegrityError):
        verify(cid, bytes(changed))
