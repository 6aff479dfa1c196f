"""A task's progress as the chain records it: rounds, submissions, leaders, blocks.

Everything comes from the ZKPoT contract's views, except the hand-overs, contests and
exclusions, which are read from their events. A registered participant with no submission
in a round whose window has closed is **absent** from that round; while the window is open
it is **waiting**.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from zkpot.ledger import Ledger, RoundStatus


@dataclass(frozen=True)
class RoundSummary:
    """One round of a task, read from the chain."""

    round: int
    status: str
    opened_at: int
    deadline: int
    submitted: list[str]
    counts: dict[str, int]
    absent: list[str]
    waiting: list[str]
    handed_over: list[str]
    accepted: list[str]
    leader: str | None
    leader_count: int | None
    block_hash: str | None
    global_cid: str | None
    global_commitment: str | None
    #: The proven count of the block's global model (None until the block).
    global_count: int | None = None
    #: The current leader turn of a closed round (0 until a leader fails to propose).
    turn: int = 0
    #: Whether the round was skipped (no leader proposed a valid block).
    skipped: bool = False
    #: Submitters whose hand-over a leader contested, in registration order.
    contested: list[str] = field(default_factory=list)
    #: The block's exclusions: submitter -> whether the exclusion shows the handed key.
    excluded: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskStatus:
    """A task and every round opened so far."""

    task_id: int
    publisher: str
    participants: list[str]
    rounds: int
    current_round: int
    finished: bool
    window: int
    min_count: int
    num_samples: int
    genesis_hash: str
    round_summaries: list[RoundSummary]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["round_summaries"] = [r.to_dict() for r in self.round_summaries]
        return data


def round_summary(ledger: Ledger, task_id: int, round: int, order: Sequence[str]) -> RoundSummary:
    """Round ``round`` of a task whose participants are ``order`` (registration order)."""
    state = ledger.round_state(task_id, round)
    status = state.status.name.lower().replace("_", " ")
    if state.status == RoundStatus.NOT_OPENED:
        return RoundSummary(
            round, status, 0, 0, [], {}, [], [], [], [], None, None, None, None, None
        )
    counts: dict[str, int] = {}
    accepted: list[str] = []
    for address in order:
        submission = ledger.submission(task_id, round, address)
        if submission is not None:
            counts[address] = submission.count
            if submission.accepted:
                accepted.append(address)
    missing = [a for a in order if a not in counts]
    closed = state.status in (RoundStatus.CLOSED, RoundStatus.FINALIZED)
    # Closed: the current turn's leader (None once no turn is left); finalized: the
    # leader that appended the block (None if the round was skipped).
    leader = state.leader if closed else None
    leader_count = state.best_count if leader is not None else None
    handed = ledger.handovers(task_id, round) if counts else {}
    contests = ledger.contests(task_id, round) if handed else {}
    block = ledger.round_block(task_id, round)
    exclusions = ledger.exclusions(task_id, round) if block is not None and handed else ()
    return RoundSummary(
        round=round,
        status=status,
        opened_at=state.opened_at,
        deadline=state.deadline,
        submitted=list(counts),
        counts=counts,
        absent=missing if closed else [],
        waiting=[] if closed else missing,
        handed_over=[a for a in order if a in handed],
        accepted=accepted,
        leader=leader,
        leader_count=leader_count,
        block_hash=None if block is None else "0x" + block.block_hash.hex(),
        global_cid=None if block is None else block.global_cid,
        global_commitment=None if block is None else str(block.global_commitment),
        global_count=None if block is None else block.global_count,
        turn=state.turn,
        skipped=block is not None and block.leader is None,
        contested=[a for a in order if a in contests],
        excluded={e.submitter: e.key is not None for e in exclusions},
    )


def task_status(ledger: Ledger, task_id: int) -> TaskStatus:
    """The task's registration and every round that has opened (in order)."""
    task = ledger.task(task_id)
    order = [p.address for p in ledger.participants(task_id)]
    views = [
        round_summary(ledger, task_id, r, order)
        for r in range(min(task.current_round + 1, task.rounds))
    ]
    return TaskStatus(
        task_id=task_id,
        publisher=task.publisher,
        participants=order,
        rounds=task.rounds,
        current_round=task.current_round,
        finished=task.finished,
        window=task.window,
        min_count=task.min_count,
        num_samples=task.num_samples,
        genesis_hash="0x" + task.genesis_hash.hex(),
        round_summaries=views,
    )
