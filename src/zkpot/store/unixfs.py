"""Protobuf wire codec for dag-pb nodes and UnixFS file metadata.

Only the handful of messages that a UnixFS *file* DAG needs are covered::

    message PBLink { bytes Hash = 1; string Name = 2; uint64 Tsize = 3; }
    message PBNode { repeated PBLink Links = 2; bytes Data = 1; }
    message Data {                       // UnixFS, carried in PBNode.Data
        DataType Type = 1;               // Raw=0, Directory=1, File=2, ...
        bytes Data = 2;
        uint64 filesize = 3;
        repeated uint64 blocksizes = 4;
        ...                              // hashType, fanout, mode, mtime: skipped
    }

Encoding follows what kubo writes byte for byte: dag-pb puts ``Links`` before
``Data`` (the canonical dag-pb order), every link carries a ``Name`` (empty for
file chunks) and a ``Tsize``, and UnixFS ``blocksizes`` are written unpacked.
This is plain serialization; no hashing happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "UNIXFS_FILE",
    "UNIXFS_RAW",
    "PBLink",
    "PBNode",
    "UnixFSData",
    "decode_pbnode",
    "decode_unixfs",
    "decode_varint",
    "encode_file_data",
    "encode_pbnode",
    "encode_varint",
]

UNIXFS_RAW = 0
UNIXFS_FILE = 2

_VARINT = 0
_I64 = 1
_LEN = 2
_I32 = 5
_MAX_VARINT_BYTES = 10
_UINT64_MAX = (1 << 64) - 1


def encode_varint(value: int) -> bytes:
    """Encode an unsigned integer (< 2**64) as a protobuf base-128 varint."""
    if not 0 <= value <= _UINT64_MAX:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at ``buf[pos:]``; return ``(value, position after it)``."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if value > _UINT64_MAX:
                raise ValueError("varint exceeds 64 bits")
            return value, pos + i + 1
    raise ValueError("varint longer than 10 bytes")


def _key(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, _LEN) + encode_varint(len(payload)) + payload


def _varint_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + encode_varint(value)


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a message into ``(field number, wire type, value)`` triples.

    Varints decode to ints, length-delimited fields to bytes; fixed-width
    fields are returned as their raw bytes.
    """
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = decode_varint(buf, pos)
        elif wire_type == _LEN:
            length, pos = decode_varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated length-delimited field")
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire_type in (_I64, _I32):
            width = 8 if wire_type == _I64 else 4
            if pos + width > len(buf):
                raise ValueError("truncated fixed-width field")
            value, pos = bytes(buf[pos : pos + width]), pos + width
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        out.append((field, wire_type, value))
    return out


@dataclass(frozen=True)
class PBLink:
    """A dag-pb link: the child's binary CID, a name and the subtree's total size."""

    hash: bytes
    name: str = ""
    tsize: int = 0


@dataclass(frozen=True)
class PBNode:
    """A dag-pb node: ordered links plus an opaque data payload."""

    links: tuple[PBLink, ...] = ()
    data: bytes | None = None


def _encode_pblink(link: PBLink) -> bytes:
    return (
        _len_field(1, link.hash)
        + _len_field(2, link.name.encode("utf-8"))
        + _varint_field(3, link.tsize)
    )


def encode_pbnode(node: PBNode) -> bytes:
    """Serialize a dag-pb node in canonical form (links first, then data)."""
    parts = [_len_field(2, _encode_pblink(link)) for link in node.links]
    if node.data is not None:
        parts.append(_len_field(1, node.data))
    return b"".join(parts)


def _decode_pblink(buf: bytes) -> PBLink:
    hash_: bytes | None = None
    name = ""
    tsize = 0
    for field, wire_type, value in _fields(buf):
        if field == 1 and wire_type == _LEN:
            assert isinstance(value, bytes)
            hash_ = value
        elif field == 2 and wire_type == _LEN:
            assert isinstance(value, bytes)
            name = value.decode("utf-8")
        elif field == 3 and wire_type == _VARINT:
            assert isinstance(value, int)
            tsize = value
        else:
            raise ValueError(f"unexpected PBLink field {field} (wire type {wire_type})")
    if hash_ is None:
        raise ValueError("PBLink without Hash")
    return PBLink(hash=hash_, name=name, tsize=tsize)


def decode_pbnode(buf: bytes) -> PBNode:
    """Parse a dag-pb node; raise ``ValueError`` on anything malformed."""
    links: list[PBLink] = []
    data: bytes | None = None
    for field, wire_type, value in _fields(buf):
        if field == 2 and wire_type == _LEN:
            assert isinstance(value, bytes)
            links.append(_decode_pblink(value))
        elif field == 1 and wire_type == _LEN:
            assert isinstance(value, bytes)
            if data is not None:
                raise ValueError("PBNode with two Data fields")
            data = value
        else:
            raise ValueError(f"unexpected PBNode field {field} (wire type {wire_type})")
    return PBNode(links=tuple(links), data=data)


@dataclass(frozen=True)
class UnixFSData:
    """The UnixFS fields a file reader needs."""

    type: int
    data: bytes = b""
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()


def encode_file_data(filesize: int, blocksizes: list[int] | tuple[int, ...]) -> bytes:
    """UnixFS ``Data`` of an internal file node (Type=File, no inline data)."""
    return (
        _varint_field(1, UNIXFS_FILE)
        + _varint_field(3, filesize)
        + b"".join(_varint_field(4, size) for size in blocksizes)
    )


def decode_unixfs(buf: bytes) -> UnixFSData:
    """Parse UnixFS ``Data``; unknown or irrelevant fields are skipped."""
    type_: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for field, wire_type, value in _fields(buf):
        if field == 1 and wire_type == _VARINT:
            assert isinstance(value, int)
            type_ = value
        elif field == 2 and wire_type == _LEN:
            assert isinstance(value, bytes)
            data = value
        elif field == 3 and wire_type == _VARINT:
            assert isinstance(value, int)
            filesize = value
        elif field == 4 and wire_type == _VARINT:
            assert isinstance(value, int)
            blocksizes.append(value)
        elif field == 4 and wire_type == _LEN:  # packed encoding, as some writers use
            assert isinstance(value, bytes)
            pos = 0
            while pos < len(value):
                size, pos = decode_varint(value, pos)
                blocksizes.append(size)
    if type_ is None:
        raise ValueError("UnixFS Data without Type")
    return UnixFSData(type=type_, data=data, filesize=filesize, blocksizes=tuple(blocksizes))
