"""A throw-away, fully isolated kubo daemon for tests marked ``ipfs``.

conftest.py loads it as a plugin: a test requests ``kubo_api`` (the RPC API base URL) or
``ipfs_bin``.

The binary is looked up in ``$ZKPOT_IPFS_BIN``, then in the project-local
prefix that ``scripts/install_kubo.sh`` fills (``.cache/kubo/bin/ipfs``), then
on ``PATH``; without one the tests are skipped. The node gets a fresh
``IPFS_PATH`` initialised with the ``test`` profile, no bootstrap peers, mDNS
off, routing ``none``, telemetry off, every listener on 127.0.0.1 with a
kernel-chosen port, and runs ``ipfs daemon --offline``: it never dials out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_IPFS = REPO_ROOT / ".cache" / "kubo" / "bin" / "ipfs"

_API_ADDR = re.compile(r"/ip4/127\.0\.0\.1/tcp/(\d+)")


def find_ipfs() -> Path | None:
    """The kubo binary to use, or ``None`` if there is none."""
    explicit = os.environ.get("ZKPOT_IPFS_BIN")
    if explicit:
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    if LOCAL_IPFS.is_file() and os.access(LOCAL_IPFS, os.X_OK):
        return LOCAL_IPFS
    found = shutil.which("ipfs")
    return Path(found) if found else None


def kubo_env(ipfs_path: Path) -> dict[str, str]:
    """Environment for running ``ipfs`` against the repo at ``ipfs_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_")}
    env["IPFS_PATH"] = str(ipfs_path)
    env["IPFS_TELEMETRY"] = "off"
    env["DO_NOT_TRACK"] = "1"
    return env


def init_repo(ipfs: Path, ipfs_path: Path) -> dict[str, str]:
    """Create an isolated kubo repository; return the environment that selects it."""
    env = kubo_env(ipfs_path)

    def run(*args: str) -> None:
        subprocess.run([str(ipfs), *args], env=env, check=True, capture_output=True)

    run("init", "--profile", "test", "--empty-repo")
    run("bootstrap", "rm", "--all")
    for key, value in [
        ("Addresses.API", '"/ip4/127.0.0.1/tcp/0"'),
        ("Addresses.Gateway", '"/ip4/127.0.0.1/tcp/0"'),
        ("Addresses.Swarm", '["/ip4/127.0.0.1/tcp/0"]'),
        ("Addresses.Announce", "[]"),
        ("Addresses.NoAnnounce", '["/ip4/0.0.0.0/ipcidr/0"]'),
        ("Discovery.MDNS.Enabled", "false"),
        ("Routing.Type", '"none"'),
        ("AutoConf.Enabled", "false"),
        ("Swarm.DisableNatPortMap", "true"),
        ("Plugins.Plugins.telemetry.Config.Mode", '"off"'),
    ]:
        run("config", "--json", key, value)
    return env


@pytest.fixture(scope="session", name="ipfs_bin")
def ipfs_bin_fixture() -> Path:
    """Path of the kubo binary; skips the test if none is installed."""
    ipfs = find_ipfs()
    if ipfs is None:
        pytest.skip("kubo binary not found: run scripts/install_kubo.sh (or set ZKPOT_IPFS_BIN)")
    return ipfs


@pytest.fixture(scope="module", name="kubo_api")
def kubo_api_fixture(ipfs_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start an offline kubo daemon on 127.0.0.1; yield its RPC API URL; stop it."""
    ipfs_path = tmp_path_factory.mktemp("ipfs-repo")
    env = init_repo(ipfs_bin, ipfs_path)
    proc = subprocess.Popen(
        [str(ipfs_bin), "daemon", "--offline"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    transcript: list[str] = []
    try:
        # The daemon prints "Daemon is ready" once its API listens, and exits
        # (EOF on stdout) if it cannot start: no sleeping or polling needed.
        for line in proc.stdout:
            transcript.append(line)
            if "Daemon is ready" in line:
                break
        api_file = ipfs_path / "api"
        match = _API_ADDR.fullmatch(api_file.read_text().strip()) if api_file.exists() else None
        if match is None or proc.poll() is not None:
            raise RuntimeError("kubo daemon did not start:\n" + "".join(transcript))
        # Keep draining its output so the daemon never blocks on a full pipe.
        drain = threading.Thread(target=_discard, args=(proc.stdout,), daemon=True)
        drain.start()
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _discard(stream: IO[str]) -> None:
    for _ in stream:
        pass
