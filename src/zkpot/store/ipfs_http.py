"""A content store backed by a kubo node's HTTP RPC API (``/api/v0``).

The node is not trusted either: :meth:`IpfsHttpStore.put` computes the CID
locally and requires the node to report the same one, and
:meth:`IpfsHttpStore.get` recomputes the CID of whatever bytes come back.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from zkpot.store.base import ContentStore
from zkpot.store.cid import CHUNK_SIZE, MAX_LINKS, cid_of, normalize_cid, verify
from zkpot.store.errors import (
    IntegrityError,
    InvalidCID,
    NotFoundError,
    StoreError,
    StoreUnavailable,
)

__all__ = ["IpfsHttpStore"]

# Import settings pinned explicitly so a node configured with other defaults
# (e.g. a different chunker profile) still produces the CID computed locally.
_ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "pin": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "max-file-links": str(MAX_LINKS),
    "trickle": "false",
    "inline": "false",
    "progress": "false",
}

_NOT_FOUND_MARKERS = ("not found", "could not find", "no link named", "not found locally")


class IpfsHttpStore(ContentStore):
    """Content stored on an IPFS node through its HTTP RPC API.

    ``api_url`` is the API's base URL, e.g. ``http://127.0.0.1:5001``.
    ``timeout`` is ``(connect, read)`` seconds for each request; ``max_size``
    (bytes, optional) caps what :meth:`get` will download.
    """

    def __init__(
        self,
        api_url: str,
        *,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_size: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL, got {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_size = max_size
        self._session = session if session is not None else requests.Session()

    def __repr__(self) -> str:
        return f"IpfsHttpStore({self.api_url!r})"

    def _post(self, command: str, params: dict[str, str], **kwargs: Any) -> requests.Response:
        url = f"{self.api_url}/api/v0/{command}"
        try:
            resp = self._session.post(url, params=params, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise StoreUnavailable(
                f"IPFS API {self.api_url} unreachable ({command}): {exc}"
            ) from exc
        if resp.status_code != 200:
            message = _error_message(resp)
            resp.close()
            if any(marker in message.lower() for marker in _NOT_FOUND_MARKERS):
                raise NotFoundError(f"{params.get('arg', '')}: {message}")
            raise StoreUnavailable(
                f"IPFS API {command} failed with HTTP {resp.status_code}: {message}"
            )
        return resp

    def put(self, data: bytes) -> str:
        data = bytes(data)
        expected = cid_of(data)
        resp = self._post(
            "add",
            dict(_ADD_PARAMS),
            files={"file": ("blob", data, "application/octet-stream")},
        )
        reported = _last_added_hash(resp)
        try:
            same = normalize_cid(reported) == expected
        except InvalidCID:
            same = False
        if not same:
            raise IntegrityError(f"node stored the data as {reported}, expected {expected}")
        return expected

    def get(self, cid: str) -> bytes:
        canonical = normalize_cid(cid)
        resp = self._post("cat", {"arg": canonical}, stream=True)
        buf = bytearray()
        try:
            for piece in resp.iter_content(chunk_size=1 << 16):
                buf.extend(piece)
                if self.max_size is not None and len(buf) > self.max_size:
                    raise StoreError(f"{canonical} is larger than max_size={self.max_size}")
        except requests.RequestException as exc:
            raise StoreUnavailable(f"reading {canonical} from {self.api_url}: {exc}") from exc
        finally:
            resp.close()
        data = bytes(buf)
        verify(canonical, data)
        return data

    def has(self, cid: str) -> bool:
        canonical = normalize_cid(cid)
        try:
            resp = self._post("block/stat", {"arg": canonical, "offline": "true"})
        except NotFoundError:
            return False
        resp.close()
        return True


def _error_message(resp: requests.Response) -> str:
    """The ``Message`` of kubo's JSON error body, else the raw text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:500]
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        return body["Message"]
    return str(body)[:500]


def _last_added_hash(resp: requests.Response) -> str:
    """The ``Hash`` of the last object in an ``add`` response (NDJSON)."""
    found: str | None = None
    for line in resp.text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise StoreUnavailable(f"unexpected add response: {line[:200]!r}") from exc
        if isinstance(obj, dict) and isinstance(obj.get("Hash"), str):
            found = obj["Hash"]
    if found is None:
        raise StoreUnavailable(f"add response carries no Hash: {resp.text[:200]!r}")
    return found
