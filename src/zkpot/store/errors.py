"""Exceptions raised by the content stores."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by :mod:`zkpot.store`."""


class InvalidCID(StoreError, ValueError):
    """A string is not a CID this package can address (CIDv1, raw or dag-pb, sha2-256)."""


class IntegrityError(StoreError):
    """Bytes do not hash to the CID they were fetched or stored under."""


class NotFoundError(StoreError, LookupError):
    """The store holds no content under the requested CID."""


class StoreUnavailable(StoreError):
    """The backend could not be reached or failed to answer."""
