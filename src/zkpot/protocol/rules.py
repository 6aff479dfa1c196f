"""The consensus rule of a ZKPoT round.

A submission is valid when it is for the open round of the task, arrives within the
window, comes from a registered participant that has not submitted yet, claims a count at
or above the threshold, and its proof verifies for (commitment, count, binding tag). The
leader is the valid submission with the highest proven count; ties go to the lowest
``keccak256(abi.encode(round, submitter))``, never to arrival order. The ledger contract
enforces the same rule on chain; this module states it for clients and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from zkpot.ledger.hashes import tie_break_rank
from zkpot.protocol.submission import Submission
from zkpot.protocol.task import Task


class InvalidSubmission(ValueError):
    """Base class: the submission is not valid for the round."""


class WrongTask(InvalidSubmission):
    """The submission names another task."""


class WrongRound(InvalidSubmission):
    """The submission is not for the open round."""


class LateSubmission(InvalidSubmission):
    """The round's window has closed."""


class UnknownSubmitter(InvalidSubmission):
    """The submitter is not registered for the task."""


class DuplicateSubmission(InvalidSubmission):
    """The submitter already submitted in this round."""


class BelowThreshold(InvalidSubmission):
    """The proven count is below the task's threshold."""


class InvalidProof(InvalidSubmission):
    """The proof does not verify for (commitment, count, binding tag)."""


#: verify(commitment, count, tag, proof) -> bool
Verifier = Callable[[int, int, int, bytes], bool]


def validate_submission(
    task: Task,
    task_id: int,
    open_round: int,
    now: int,
    deadline: int,
    registered: Collection[str],
    submitted: Collection[str],
    submission: Submission,
    tag: int,
    verify: Verifier,
) -> None:
    """Raises the InvalidSubmission subclass for the first rule ``submission`` breaks."""
    if submission.task_id != task_id:
        raise WrongTask(f"submission for task {submission.task_id}, not {task_id}")
    if submission.round != open_round:
        raise WrongRound(f"round {submission.round} is not the open round {open_round}")
    if now > deadline:
        raise LateSubmission(f"the window closed at {deadline}, now is {now}")
    if submission.submitter not in registered:
        raise UnknownSubmitter(f"{submission.submitter} is not registered")
    if submission.submitter in submitted:
        raise DuplicateSubmission(f"{submission.submitter} already submitted")
    if submission.count < task.min_count:
        raise BelowThreshold(f"count {submission.count} < threshold {task.min_count}")
    if not verify(submission.commitment, submission.count, tag, submission.proof):
        raise InvalidProof("the proof does not verify")


def select_leader(round: int, valid: Sequence[Submission]) -> Submission:
    """The valid submission with the highest count; ties go to the lowest tie-break rank."""
    if not valid:
        raise ValueError("a round without valid submissions has no leader")
    return min(valid, key=lambda s: (-s.count, tie_break_rank(round, s.submitter)))


__all__ = [
    "BelowThreshold",
    "DuplicateSubmission",
    "InvalidProof",
    "InvalidSubmission",
    "LateSubmission",
    "UnknownSubmitter",
    "Verifier",
    "WrongRound",
    "WrongTask",
    "select_leader",
    "tie_break_rank",
    "validate_submission",
]
