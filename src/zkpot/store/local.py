"""A content store in a local directory, laid out as a block store.

Directory layout under ``root``::

    blocks/<2 hex chars of the digest>/<CID>   one file per block (raw or dag-pb)
    tmp/                                       files being written

Writes are crash-safe: each block is written to ``tmp/``, flushed and
fsynced, then renamed into place with :func:`os.replace` (atomic on POSIX),
and the directory is fsynced. Blocks of one object are written children
first and root last, so once the root block exists every block it links to
does too; a crash part-way through leaves at most orphan blocks and temp
files, never a visible partial object.

Nothing on disk is trusted: :meth:`LocalStore.get` checks every block
against its CID while walking the DAG and then recomputes the root CID of
the reassembled bytes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from multiformats import CID

from zkpot.store.base import ContentStore
from zkpot.store.cid import build_dag, parse_cid, read_dag, verify, verify_block
from zkpot.store.errors import IntegrityError, NotFoundError

__all__ = ["LocalStore"]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(ContentStore):
    """Blocks of kubo-compatible UnixFS DAGs kept in a local directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._blocks = self.root / "blocks"
        self._tmp = self.root / "tmp"
        self._blocks.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def block_path(self, cid: str | CID) -> Path:
        """Where the block with this CID lives (whether or not it exists)."""
        parsed = parse_cid(cid)
        return self._blocks / parsed.raw_digest.hex()[:2] / str(parsed)

    def put(self, data: bytes) -> str:
        root, blocks = build_dag(bytes(data))
        for cid, block in blocks.items():  # children before parents, root last
            path = self.block_path(cid)
            if path.exists():
                try:
                    verify_block(cid, path.read_bytes())
                    continue
                except (IntegrityError, OSError):
                    pass  # damaged copy on disk: overwrite it below
            self._write_atomic(path, block)
        return root

    def get(self, cid: str) -> bytes:
        data = read_dag(cid, self._load_block)
        verify(cid, data)
        return data

    def has(self, cid: str) -> bool:
        return self.block_path(cid).is_file()

    def _load_block(self, cid: CID) -> bytes:
        try:
            return self.block_path(cid).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{cid} not in {self.root}") from None

    def _write_atomic(self, path: Path, data: bytes) -> None:
        if not path.parent.is_dir():
            path.parent.mkdir(exist_ok=True)
            _fsync_dir(self._blocks)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix=path.name[-16:] + ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)
