"""Content identifiers identical to kubo's ``ipfs add --cid-version 1 --raw-leaves``.

Layout (kubo's defaults for a single file):

* the bytes are cut into fixed 262144-byte (256 KiB) chunks, the last one
  shorter; every chunk becomes a *raw* block (multicodec ``raw`` 0x55) whose
  CID is CIDv1/raw/sha2-256;
* a file of at most one chunk (including the empty file) is just that raw
  block, so its CID is the raw leaf's CID;
* otherwise chunks are grouped left to right, at most 174 per node, into
  ``dag-pb`` (0x70) nodes carrying UnixFS ``Data{Type=File, filesize,
  blocksizes}``; those nodes are grouped again the same way until a single
  root remains (kubo's *balanced* layout: every leaf at the same depth).

All hashing is sha2-256 through :mod:`multiformats` (hashlib underneath); CIDs
are rendered as base32 multibase strings (``bafk…`` for raw, ``bafy…`` for
dag-pb).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from multiformats import CID, multihash

from zkpot.store.errors import IntegrityError, InvalidCID, NotFoundError
from zkpot.store.unixfs import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    PBLink,
    PBNode,
    decode_pbnode,
    decode_unixfs,
    encode_file_data,
    encode_pbnode,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "block_cid",
    "build_dag",
    "cid_of",
    "normalize_cid",
    "parse_cid",
    "read_dag",
    "verify",
    "verify_block",
]

CHUNK_SIZE = 262144
"""Fixed chunk size of kubo's default ``size-262144`` chunker."""

MAX_LINKS = 174
"""Maximum links per UnixFS file node (kubo's ``Import.UnixFSFileMaxLinks``)."""

RAW = "raw"
DAG_PB = "dag-pb"
HASH = "sha2-256"
_CODECS = (RAW, DAG_PB)
_MAX_DEPTH = 32


def parse_cid(cid: str | CID) -> CID:
    """Decode and check a CID string; raise :class:`InvalidCID` unless it is
    a CIDv1 with codec ``raw`` or ``dag-pb`` and a 32-byte sha2-256 digest.

    Any multibase is accepted; the result is re-based to base32.
    """
    if isinstance(cid, CID):
        parsed = cid
    elif isinstance(cid, str):
        try:
            parsed = CID.decode(cid)
        except Exception as exc:  # multiformats raises several unrelated types
            raise InvalidCID(f"not a CID: {cid!r} ({exc})") from exc
    else:
        raise InvalidCID(f"CID must be a string, got {type(cid).__name__}")
    if parsed.version != 1:
        raise InvalidCID(f"only CIDv1 is supported, got CIDv{parsed.version}: {cid}")
    if parsed.codec.name not in _CODECS:
        raise InvalidCID(f"unsupported codec {parsed.codec.name!r}: {cid}")
    if parsed.hashfun.name != HASH or len(parsed.raw_digest) != 32:
        raise InvalidCID(f"unsupported multihash {parsed.hashfun.name!r}: {cid}")
    return parsed.set(base="base32")


def normalize_cid(cid: str | CID) -> str:
    """The canonical base32 string of a valid CID (see :func:`parse_cid`)."""
    return str(parse_cid(cid))


def block_cid(block: bytes, codec: str) -> CID:
    """CIDv1 (base32, sha2-256) of one block under ``codec`` (``raw`` or ``dag-pb``)."""
    return CID("base32", 1, codec, multihash.digest(block, HASH))


def verify_block(cid: str | CID, block: bytes) -> None:
    """Raise :class:`IntegrityError` unless ``block`` hashes to ``cid``'s digest."""
    parsed = parse_cid(cid)
    if multihash.digest(block, HASH) != parsed.digest:
        raise IntegrityError(f"block does not hash to {parsed}")


@dataclass(frozen=True)
class _Child:
    cid: CID
    filesize: int  # bytes of file content below this node
    tsize: int  # bytes of all blocks below and including this node


def _build(data: bytes, blocks: dict[str, bytes] | None) -> CID:
    """Build the DAG bottom-up; add each block to ``blocks`` (if given),
    children before parents, root last."""
    view = memoryview(data)
    if len(view) <= CHUNK_SIZE:
        chunks = [view]
    else:
        chunks = [view[i : i + CHUNK_SIZE] for i in range(0, len(view), CHUNK_SIZE)]
    level: list[_Child] = []
    for chunk in chunks:
        leaf = bytes(chunk)
        cid = block_cid(leaf, RAW)
        if blocks is not None:
            blocks[str(cid)] = leaf
        level.append(_Child(cid, len(leaf), len(leaf)))
    while len(level) > 1:
        parents: list[_Child] = []
        for i in range(0, len(level), MAX_LINKS):
            group = level[i : i + MAX_LINKS]
            filesize = sum(c.filesize for c in group)
            node = encode_pbnode(
                PBNode(
                    links=tuple(PBLink(bytes(c.cid), "", c.tsize) for c in group),
                    data=encode_file_data(filesize, [c.filesize for c in group]),
                )
            )
            cid = block_cid(node, DAG_PB)
            if blocks is not None:
                blocks[str(cid)] = node
            parents.append(_Child(cid, filesize, len(node) + sum(c.tsize for c in group)))
        level = parents
    return level[0].cid


def build_dag(data: bytes) -> tuple[str, dict[str, bytes]]:
    """Chunk ``data`` into kubo's UnixFS DAG.

    Returns the root CID and every distinct block keyed by its CID string, in
    an order where each block comes after all blocks it links to (root last).
    """
    blocks: dict[str, bytes] = {}
    root = _build(data, blocks)
    return str(root), blocks


def cid_of(data: bytes) -> str:
    """The CID kubo assigns to ``data`` with ``ipfs add --cid-version 1 --raw-leaves``."""
    return str(_build(data, None))


def verify(cid: str | CID, data: bytes) -> None:
    """Recompute the CID of ``data``; raise :class:`IntegrityError` if it is not ``cid``.

    Raises :class:`InvalidCID` if ``cid`` itself is malformed or unsupported.
    """
    expected = parse_cid(cid)
    actual = _build(data, None)
    if actual != expected:
        raise IntegrityError(f"content hashes to {actual}, expected {expected}")


def _decode_cid(raw: bytes) -> CID:
    """A binary CID from a link; :class:`InvalidCID` for anything else."""
    try:
        return CID.decode(raw)
    except Exception as exc:  # multiformats raises several unrelated types
        raise InvalidCID(f"not a binary CID: {raw[:40].hex()} ({exc})") from exc


def read_dag(root: str | CID, load_block: Callable[[CID], bytes]) -> bytes:
    """Reassemble a UnixFS file from its blocks.

    ``load_block(cid)`` returns a block's bytes or raises :class:`NotFoundError`.
    Every block is checked against its CID before it is decoded or followed,
    so a tampered block can neither inject bytes nor redirect the walk.
    A missing root raises :class:`NotFoundError`; a missing or malformed inner
    block raises :class:`IntegrityError`.
    """
    root_cid = parse_cid(root)
    out = bytearray()

    def visit(cid: CID, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise IntegrityError(f"DAG under {root_cid} deeper than {_MAX_DEPTH}")
        try:
            block = load_block(cid)
        except NotFoundError:
            if depth == 0:
                raise
            raise IntegrityError(f"block {cid} of {root_cid} is missing") from None
        verify_block(cid, block)
        if cid.codec.name == RAW:
            out.extend(block)
            return len(block)
        try:
            node = decode_pbnode(block)
            meta = decode_unixfs(node.data or b"")
            children = [parse_cid(_decode_cid(link.hash)) for link in node.links]
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"block {cid} is not a UnixFS file node: {exc}") from exc
        if meta.type not in (UNIXFS_FILE, UNIXFS_RAW):
            raise IntegrityError(f"block {cid} is UnixFS type {meta.type}, not a file")
        if children and len(meta.blocksizes) != len(children):
            raise IntegrityError(
                f"block {cid}: {len(children)} links but {len(meta.blocksizes)} blocksizes"
            )
        out.extend(meta.data)
        total = len(meta.data)
        for child, expected_size in zip(children, meta.blocksizes, strict=False):
            size = visit(child, depth + 1)
            if size != expected_size:
                raise IntegrityError(
                    f"child {child} of {cid} holds {size} bytes, blocksizes says {expected_size}"
                )
            total += size
        if meta.filesize is not None and meta.filesize != total:
            raise IntegrityError(f"block {cid} holds {total} bytes, filesize says {meta.filesize}")
        return total

    visit(root_cid, 0)
    return bytes(out)
