"""The ledger's load run, small: 4, 8 and 16 participants on anvil.

``zkpot bench ledger --load`` (src/zkpot/bench/ledger.py) has every participant submit in
one window and lets every leader turn of a round fail, so that each later turn re-ranks
the submissions; it checks leaderOf against the leader order at every turn on the way.
Here the gas it reports must grow linearly with the federation (re-ranking: n log n at
most), and every figure must fit one block for the largest federation whose registration
does. The 64-participant run is
the documented command (docs/ledger.md); proofs are real throughout.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from zkpot.bench.ledger import LOAD_GAS, ledger_load
from zkpot.cli import app
from zkpot.ledger import Ledger

SIZES = (4, 8, 16)
SUBMIT_BUDGET = 300_000
#: From 8 to 16 participants a linear cost at most doubles.
LINEAR_GROWTH = 2.2
#: What the costliest turn adds: n storage reads plus a heap's n log n memory work, at most
#: (16 * 4) / (8 * 3) = 2.7x from 8 to 16; a re-ranking that read every participant once
#: per passed turn (n^2) would grow about 4.3x.
RERANK_GROWTH = 3.0


@pytest.fixture(scope="module")
def report(anvil_url: str) -> dict[str, Any]:
    return ledger_load(Ledger.connect(anvil_url), SIZES)


def _row(report: dict[str, Any], n: int) -> dict[str, Any]:
    return next(row for row in report["sizes"] if row["participants"] == n)


@pytest.mark.anvil
def test_everyone_submits_in_one_window_within_budget(report: dict[str, Any]) -> None:
    for row in report["sizes"]:
        assert row["gas"]["submit_max"] <= SUBMIT_BUDGET
        assert row["submissions_per_second"] > 0
    # A submission costs the same whatever the federation's size.
    assert _row(report, 16)["gas"]["submit_max"] - _row(report, 4)["gas"]["submit_max"] < 1_000


@pytest.mark.anvil
def test_re_ranking_grows_as_n_log_n_at_most(report: dict[str, Any]) -> None:
    """What a later turn adds to leaderOf, handOver and proposeBlock grows as n log n at
    most, and per participant it stays below registration's cost."""
    small, large = _row(report, 8), _row(report, 16)
    for call in ("leader_of", "hand_over", "propose_block"):
        extra_small = small["gas"][f"{call}_worst_turn"] - small["gas"][f"{call}_turn0"]
        extra_large = large["gas"][f"{call}_worst_turn"] - large["gas"][f"{call}_turn0"]
        assert extra_small > 0, call
        assert extra_large / extra_small <= RERANK_GROWTH, (call, extra_small, extra_large)


@pytest.mark.anvil
def test_every_cost_grows_at_most_linearly(report: dict[str, Any]) -> None:
    """Whole transactions (fixed costs included) at most double from 8 to 16 participants."""
    small, large = _row(report, 8), _row(report, 16)
    for key in LOAD_GAS:
        assert large["gas"][key] / small["gas"][key] <= LINEAR_GROWTH, key
    # Ratios are against the smallest size of the same run.
    assert _row(report, 4)["ratio"] == {key: 1.0 for key in (*LOAD_GAS, "submissions_per_second")}
    assert _row(report, 16)["participant_ratio"] == 4.0


@pytest.mark.anvil
def test_every_call_fits_a_block_at_the_registration_limit(report: dict[str, Any]) -> None:
    """Registration costs the most per participant, so a task that registers in one block
    can also re-rank, hand over, propose and skip in one block."""
    per = report["per_participant"]
    assert per["register_task"] == max(per.values())
    assert report["register_limit_participants"] > 16
    assert report["within_block_gas_limit"]
    assert max(report["at_register_limit"].values()) <= report["block_gas_limit"]


@pytest.mark.parametrize("sizes", ["8,4", "4,4", "1,4", "4,x", ""])
def test_load_command_refuses_bad_sizes(sizes: str) -> None:
    result = CliRunner().invoke(app, ["bench", "ledger", "--load", "--sizes", sizes])
    assert result.exit_code == 2
    assert "--sizes" in result.output


def test_load_run_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="ascending"):
        ledger_load(sizes=(8, 4))
