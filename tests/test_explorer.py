"""The explorer over a real run: the static page ``zkpot run`` writes and the live server,
loaded in a real headless Chromium, and the same chain read back from the ledger.

The screenshot is written beside the run's page; ``ZKPOT_EXPLORER_SCREENSHOT=path`` keeps
a copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from zkpot import report
from zkpot.explorer.page import render
from zkpot.explorer.server import make_server
from zkpot.explorer.view import from_ledger, from_results
from zkpot.federation import Federation, FederationResult
from zkpot.ledger import Ledger
from zkpot.participant import Training
from zkpot.protocol import Task
from zkpot.store import LocalStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium; scripts/setup.sh --test "
    "installs it as root)",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Federation, FederationResult, Path]:
    tmp = tmp_path_factory.mktemp("explorer")
    task = Task.create("digits", hidden=16, test_samples=40, threshold=0.625, rounds=2, seed=1)
    fed = Federation(
        task,
        participants=3,
        seed=1,
        ledger=Ledger.in_process(),
        store=LocalStore(tmp / "store"),
        # Two short epochs: in round 0, P1 proves 24 of 40, below the threshold of 25.
        training=Training(epochs=2, lr=0.05, batch_size=32),
    )
    result = fed.run()
    out = report.write(result, None, tmp / "run", fed.evaluate(fed.initial_params()))
    return fed, result, out


def _hashes(out: Path) -> list[str]:
    return [json.loads(p.read_text())["hash"] for p in sorted((out / "blocks").glob("*.json"))]


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_page_lists_every_block_with_hash_and_parent(run) -> None:
    _, _, out = run
    page = (out / "index.html").read_text()
    assert page == render(from_results(out))
    hashes = _hashes(out)
    assert len(hashes) == 2
    for r, h in enumerate(hashes):
        assert f'id="block-{r}" data-hash="{h}"' in page
    assert f"<td class=hash>{hashes[0]}</td>" in page  # round 1's parent is round 0
    assert "leader P" in page
    assert "P1: refused by the client, rule BelowThreshold" in page


@needs_chromium
def test_chromium_shows_the_blocks_of_a_real_run_and_takes_a_screenshot(run) -> None:
    _, _, out = run
    url = (out / "index.html").as_uri()
    dom = _chromium("--dump-dom", url)
    for h in _hashes(out):
        assert h in dom
    assert "<svg" in dom and "polyline" in dom
    shot = out / "explorer.png"
    _chromium("--window-size=1200,1600", f"--screenshot={shot}", url)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    if keep := os.environ.get("ZKPOT_EXPLORER_SCREENSHOT"):
        Path(keep).write_bytes(data)


@pytest.fixture
def served(run) -> Iterator[str]:
    _, _, out = run
    server = make_server(lambda: from_results(out))
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_chromium
def test_the_live_server_serves_the_page_to_chromium(run, served: str) -> None:
    _, _, out = run
    dom = _chromium("--dump-dom", served + "/")
    assert all(h in dom for h in _hashes(out))
    view = json.loads(urllib.request.urlopen(served + "/view.json").read())
    assert [b["hash"] for b in view["blocks"]] == _hashes(out)
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(served + "/../summary.json")


def test_the_ledger_view_is_the_same_chain(run) -> None:
    fed, result, out = run
    view = from_ledger(fed.ledger, result.task_id)
    assert [b.hash for b in view.blocks] == _hashes(out)
    assert [b.parent for b in view.blocks][1] == view.blocks[0].hash
    for k, r in enumerate(result.rounds):
        submitted = [s for s in view.submissions[k] if s.count is not None]
        assert sorted(s.count for s in submitted) == sorted(r.counts.values())
        assert all(s.cid and s.commitment for s in submitted)
    assert len(result.rounds[0].counts) == 2
    # The run's own results name the same commitments and CIDs as the chain.
    results = from_results(out)
    for k in range(len(result.rounds)):
        on_chain = {(s.commitment, s.cid) for s in view.submissions[k] if s.count is not None}
        recorded = {(s.commitment, s.cid) for s in results.submissions[k] if s.count is not None}
        assert recorded == on_chain


def test_the_explorer_command_needs_one_source(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from zkpot.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["explorer"]).exit_code == 2
    (tmp_path / "summary.json").write_text("{}")
    result = runner.invoke(app, ["explorer", "--results", str(tmp_path)])
    assert result.exit_code == 2
    assert "not the results of a ZKPoT run" in " ".join(result.output.split())
