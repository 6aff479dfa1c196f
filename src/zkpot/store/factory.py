"""Pick a content store from a URL or a path."""

from __future__ import annotations

import os
from pathlib import Path

from zkpot.store.base import ContentStore
from zkpot.store.ipfs_http import IpfsHttpStore
from zkpot.store.local import LocalStore

__all__ = ["default_store_dir", "open_store"]


def default_store_dir() -> Path:
    """``$ZKPOT_STORE_DIR``, else ``$XDG_DATA_HOME/zkpot/store``
    (``~/.local/share/zkpot/store``)."""
    explicit = os.environ.get("ZKPOT_STORE_DIR")
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "zkpot" / "store"


def open_store(url_or_path: str | os.PathLike[str] | None = None) -> ContentStore:
    """Open a content store.

    * ``None`` (or ``""``): a :class:`LocalStore` in :func:`default_store_dir`;
    * ``http://…`` / ``https://…``: an :class:`IpfsHttpStore` on that RPC API;
    * ``file://…`` or any other string / path: a :class:`LocalStore` there.
    """
    if url_or_path is None or url_or_path == "":
        return LocalStore(default_store_dir())
    target = os.fspath(url_or_path)
    if target.startswith(("http://", "https://")):
        return IpfsHttpStore(target)
    if target.startswith("file://"):
        target = target[len("file://") :]
    elif "://" in target:
        raise ValueError(f"unsupported store URL scheme: {target!r}")
    return LocalStore(Path(target).expanduser())
