"""The one interface every content store implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["ContentStore"]


class ContentStore(ABC):
    """A content-addressed store of byte strings keyed by kubo-compatible CIDs.

    Implementations never return bytes that do not hash to the requested CID.
    """

    @abstractmethod
    def put(self, data: bytes) -> str:
        """Store ``data``; return its CID (the one :func:`zkpot.store.cid_of` gives)."""

    @abstractmethod
    def get(self, cid: str) -> bytes:
        """Return the bytes stored under ``cid``.

        Raises :class:`~zkpot.store.InvalidCID` for a malformed CID,
        :class:`~zkpot.store.NotFoundError` if the content is absent and
        :class:`~zkpot.store.IntegrityError` if what the backend holds does
        not hash to ``cid``.
        """

    @abstractmethod
    def has(self, cid: str) -> bool:
        """Whether content is stored under ``cid`` (raises ``InvalidCID`` if malformed)."""
