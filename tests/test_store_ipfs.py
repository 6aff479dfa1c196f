"""IpfsHttpStore against a real, isolated kubo daemon (tests marked ``ipfs``).

The daemon comes from the fixtures in ``tests/kubo.py``; without a kubo binary
those tests are skipped (run ``scripts/install_kubo.sh``)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubo import init_repo

from zkpot.store import IntegrityError, InvalidCID, IpfsHttpStore, StoreUnavailable, cid_of
from zkpot.store.errors import NotFoundError


def sample(n: int, label: bytes = b"ipfs") -> bytes:
    return hashlib.shake_256(b"zkpot store test: " + label).digest(n)


SIZES = [0, 1, 1000, 262144, 262145, 300000, 5 * 1024 * 1024, 175 * 262144]


@pytest.fixture(name="store")
def store_fixture(kubo_api: str) -> Iterator[IpfsHttpStore]:
    yield IpfsHttpStore(kubo_api)


@pytest.mark.ipfs
@pytest.mark.parametrize("size", SIZES)
def test_put_get_matches_cid_of(store: IpfsHttpStore, kubo_api: str, size: int) -> None:
    data = sample(size, b"put-get %d" % size)
    cid = store.put(data)  # raises IntegrityError unless kubo's CID == cid_of(data)
    assert cid == cid_of(data)
    assert store.has(cid)
    assert store.get(cid) == data
    # The node pinned it (recursively) as asked.
    pins = requests.post(
        f"{kubo_api}/api/v0/pin/ls", params={"arg": cid, "type": "recursive"}, timeout=60
    )
    assert pins.status_code == 200 and cid in pins.json()["Keys"]


@pytest.mark.ipfs
def test_kubo_cli_agrees_with_cid_of(ipfs_bin: Path, tmp_path: Path) -> None:
    """``ipfs add --only-hash --cid-version 1 --raw-leaves`` with kubo's defaults."""
    env = init_repo(ipfs_bin, tmp_path / "repo")
    for size in [0, 1000, 262144, 262145, 174 * 262144, 174 * 262144 + 1]:
        data = sample(size, b"cli %d" % size)
        out = subprocess.run(
            [str(ipfs_bin), "add", "--only-hash", "--cid-version", "1", "--raw-leaves", "-Q"],
            input=data,
            env=env,
            capture_output=True,
            check=True,
        )
        assert out.stdout.decode().strip() == cid_of(data), size


@pytest.mark.ipfs
def test_unknown_cid(store: IpfsHttpStore) -> None:
    cid = cid_of(b"nobody added this")
    assert not store.has(cid)
    with pytest.raises(NotFoundError):
        store.get(cid)


def test_bad_cid_is_rejected_before_any_request() -> None:
    store = IpfsHttpStore(f"http://127.0.0.1:{_closed_port()}")  # never contacted
    for bad in ["", "not-a-cid", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"]:
        with pytest.raises(InvalidCID):
            store.get(bad)
        with pytest.raises(InvalidCID):
            store.has(bad)


class RedirectingSession(requests.Session):
    """A session that rewrites one CID argument into another: the real node then
    honestly serves the *other* object's bytes for the requested CID."""

    def __init__(self, swap: dict[str, str]) -> None:
        super().__init__()
        self.swap = swap

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        params = kwargs.get("params")
        if isinstance(params, dict) and params.get("arg") in self.swap:
            kwargs["params"] = {**params, "arg": self.swap[params["arg"]]}
        return super().request(method, url, *args, **kwargs)


@pytest.mark.ipfs
def test_other_bytes_from_the_node_are_rejected(kubo_api: str) -> None:
    honest = IpfsHttpStore(kubo_api)
    wanted, served = sample(1000, b"wanted"), sample(1000, b"served")
    wanted_cid, served_cid = honest.put(wanted), honest.put(served)
    lying = IpfsHttpStore(kubo_api, session=RedirectingSession({wanted_cid: served_cid}))
    with pytest.raises(IntegrityError):
        lying.get(wanted_cid)
    assert honest.get(wanted_cid) == wanted


class TruncatingSession(requests.Session):
    """A session whose ``cat`` responses lose their last byte in transit."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        resp = super().request(method, url, *args, **kwargs)
        if str(url).endswith("/api/v0/cat"):
            body = resp.content
            resp._content = body[:-1]  # what a cut connection would deliver
        return resp


@pytest.mark.ipfs
def test_truncated_response_is_rejected(kubo_api: str) -> None:
    honest = IpfsHttpStore(kubo_api)
    data = sample(300000, b"truncated")
    cid = honest.put(data)
    with pytest.raises(IntegrityError):
        IpfsHttpStore(kubo_api, session=TruncatingSession()).get(cid)


class AddAsCidV0Session(requests.Session):
    """A session that makes the node store data with other import settings."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        params = kwargs.get("params")
        if str(url).endswith("/api/v0/add") and isinstance(params, dict):
            kwargs["params"] = {**params, "cid-version": "0", "raw-leaves": "false"}
        return super().request(method, url, *args, **kwargs)


@pytest.mark.ipfs
def test_node_reporting_another_cid_is_rejected(kubo_api: str) -> None:
    store = IpfsHttpStore(kubo_api, session=AddAsCidV0Session())
    with pytest.raises(IntegrityError, match="expected"):
        store.put(b"stored under a different CID")


def _closed_port() -> int:
    """A loopback port that nothing listens on (it was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_node() -> None:
    store = IpfsHttpStore(f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(StoreUnavailable):
        store.put(b"data")
    with pytest.raises(StoreUnavailable):
        store.get(cid_of(b"data"))
