"""A throw-away, fully isolated kubo daemon for tests marked ``ipfs``.

conftest.py loads it as a plugin: a test requests ``kubo_api`` (the RPC API base URL),
``kubo_daemon`` (the :class:`KuboDaemon` behind it, which the test may restart) or
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
import time
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


class KuboDaemon:
    """An offline kubo daemon on an isolated repository, stoppable and restartable.

    The first start lets the kernel choose the API port; :meth:`restart` pins that port
    in the repository's config first, so the daemon comes back on the same repository
    (every block and pin kept) at the same URL.
    """

    def __init__(self, ipfs: Path, ipfs_path: Path) -> None:
        self.ipfs = ipfs
        self.ipfs_path = ipfs_path
        self.env = init_repo(ipfs, ipfs_path)
        self.api = ""
        self.starts = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the daemon; return its RPC API URL once it answers."""
        if self._proc is not None:
            raise RuntimeError("the kubo daemon is already running")
        proc = subprocess.Popen(
            [str(self.ipfs), "daemon", "--offline"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self._proc = proc
        assert proc.stdout is not None
        transcript: list[str] = []
        # The daemon prints "Daemon is ready" once its API listens, and exits (EOF on
        # stdout) if it cannot start: no sleeping or polling needed.
        for line in proc.stdout:
            transcript.append(line)
            if "Daemon is ready" in line:
                break
        api_file = self.ipfs_path / "api"
        match = _API_ADDR.fullmatch(api_file.read_text().strip()) if api_file.exists() else None
        if match is None or proc.poll() is not None:
            self.stop()
            raise RuntimeError("kubo daemon did not start:\n" + "".join(transcript))
        # Keep draining its output so the daemon never blocks on a full pipe.
        threading.Thread(target=_discard, args=(proc.stdout,), daemon=True).start()
        url = f"http://127.0.0.1:{match.group(1)}"
        if self.api and url != self.api:
            self.stop()
            raise RuntimeError(f"kubo came back at {url}, not at {self.api}")
        self.api = url
        self.starts += 1
        return url

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL after a minute) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the daemon, stay down ``down_s`` seconds, start it on the same API port."""
        self.stop()
        port = self.api.rsplit(":", 1)[1]
        subprocess.run(
            [str(self.ipfs), "config", "Addresses.API", f"/ip4/127.0.0.1/tcp/{port}"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="module", name="kubo_daemon")
def kubo_daemon_fixture(
    ipfs_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KuboDaemon]:
    """An offline kubo daemon on 127.0.0.1 that a test may restart; stopped at the end."""
    daemon = KuboDaemon(ipfs_bin, tmp_path_factory.mktemp("ipfs-repo"))
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module", name="kubo_api")
def kubo_api_fixture(kubo_daemon: KuboDaemon) -> str:
    """The RPC API URL of the module's offline kubo daemon on 127.0.0.1."""
    return kubo_daemon.api


def _discard(stream: IO[str]) -> None:
    for _ in stream:
        pass
