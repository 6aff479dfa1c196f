"""The ZKPoT protocol as a specification: its nouns and rules, pure data and functions.

- :class:`Task`: what a publisher announces: data set, model spec, public test set,
  threshold, rounds and submission window.
- :class:`Submission`: the ZKPoT transaction: a proven count for a committed model.
- :class:`RoundBlock`: the ZKPoT block: the round's leader, its proven accuracy, the
  global model, and the accepted and rejected submissions.
- :func:`validate_submission` and :func:`select_leader`: the consensus rule.

Nothing here performs I/O; the ledger, store and participants apply these rules.
"""

from zkpot.protocol.block import Rejection, RoundBlock
from zkpot.protocol.rules import (
    BelowThreshold,
    DuplicateSubmission,
    InvalidProof,
    InvalidSubmission,
    LateSubmission,
    UnknownSubmitter,
    WrongRound,
    WrongTask,
    select_leader,
    tie_break_rank,
    validate_submission,
)
from zkpot.protocol.submission import Submission
from zkpot.protocol.task import Task

__all__ = [
    "BelowThreshold",
    "DuplicateSubmission",
    "InvalidProof",
    "InvalidSubmission",
    "LateSubmission",
    "Rejection",
    "RoundBlock",
    "Submission",
    "Task",
    "UnknownSubmitter",
    "WrongRound",
    "WrongTask",
    "select_leader",
    "tie_break_rank",
    "validate_submission",
]
