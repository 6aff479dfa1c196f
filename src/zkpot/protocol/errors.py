"""Why a transaction of a round is invalid: one exception type per kind of invalidity.

Each class is named after the contract's custom error for the same rule and carries the
same arguments (``fields``, their Solidity names; attributes in snake_case), so the
executable specification (:mod:`zkpot.protocol.round`) and the ledger raise the same
thing. The ledger's exceptions subclass these: one ``except`` catches a rule broken in
Python and the same rule enforced on chain.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class InvalidTransaction(ValueError):
    """Base class: a transaction breaks a rule of the protocol and changes nothing."""

    #: Solidity parameter names of the matching custom error, in order.
    fields: ClassVar[tuple[str, ...]] = ()
    #: The rule in words for a report, with the fields (snake_case) as placeholders.
    explanation: ClassVar[str] = ""

    def __init__(self, *values: Any) -> None:
        self.values = tuple(values)
        for name, value in zip(self.fields, values, strict=True):
            setattr(self, snake_case(name), value)
        shown = ", ".join(f"{n}={_show(v)}" for n, v in zip(self.fields, values, strict=True))
        super().__init__(f"{type(self).__name__}({shown})")

    def explain(self) -> str:
        """The rule in words (for a report), or the error as the contract names it."""
        if not self.explanation:
            return str(self)
        named = zip(self.fields, self.values, strict=True)
        return self.explanation.format(**{snake_case(n): v for n, v in named})


class InvalidSubmission(InvalidTransaction):
    """A ``submit`` breaks a rule of the round."""


class InvalidHandOver(InvalidTransaction):
    """A ``handOver`` breaks a rule of the round."""


class InvalidBlock(InvalidTransaction):
    """A ``proposeBlock`` or ``skipRound`` breaks a rule of the round."""


class InvalidContest(InvalidTransaction):
    """A ``contest`` or ``reopen`` breaks a rule of the round."""


# --------------------------------------------------------------------- any transaction


class UnknownTask(InvalidTransaction):
    """No task has this id."""

    fields = ("taskId",)


class RoundNotOpen(InvalidSubmission, InvalidHandOver, InvalidBlock, InvalidContest):
    """The round is not the task's current round (wrong number, or the task finished)."""

    fields = ("taskId", "round", "currentRound")


class NotRegistered(InvalidSubmission, InvalidHandOver):
    """The sender is not in the task's participant registry."""

    fields = ("account",)


# --------------------------------------------------------------------- submit


class DuplicateSubmission(InvalidSubmission):
    """The sender already submitted in this round."""

    fields = ("account",)


class LateSubmission(InvalidSubmission):
    """The round's window has closed: ``now >= deadline``."""

    fields = ("deadline", "timestamp")


class BelowThreshold(InvalidSubmission):
    """The proven count is below the task's threshold."""

    fields = ("count", "minCount")
    explanation = "proven count {count} is below the threshold {min_count}"


class CountAboveSamples(InvalidSubmission, InvalidBlock):
    """The claimed count exceeds the number of test samples."""

    fields = ("count", "numSamples")


class InvalidProof(InvalidSubmission):
    """The proof does not verify for (commitment, count, binding tag), or the commitment
    is not a field element."""


# --------------------------------------------------------------------- closed round


class RoundStillOpen(InvalidHandOver, InvalidBlock, InvalidContest):
    """The round's window has not closed yet."""

    fields = ("deadline", "timestamp")


class NoSubmissions(InvalidBlock):
    """Nobody submitted a valid proof in the round, so it has no leader."""

    fields = ("taskId", "round")


class NoValidSubmission(InvalidHandOver, InvalidBlock):
    """An accepted address (or a hand-over's sender) has no submission in the round."""

    fields = ("account",)


class BadSealedKey(InvalidHandOver):
    """A hand-over's sealed key is not an 80-byte sealed box."""

    fields = ("length",)


class NoLeaderLeft(InvalidHandOver, InvalidBlock, InvalidContest):
    """Every submitter's leader turn has passed: the round can only be skipped."""

    fields = ("taskId", "round")


class NotLeader(InvalidHandOver, InvalidBlock, InvalidContest):
    """The address is not the leader of the current turn."""

    fields = ("sender", "leader")


class BlockAlreadyProposed(InvalidBlock, InvalidContest):
    """The round's block is already on the ledger."""

    fields = ("taskId", "round")


class BadParent(InvalidBlock):
    """The parent hash is not the hash of the previous round's block (or genesis)."""

    fields = ("given", "expected")


class InvalidCommitment(InvalidBlock):
    """A global model commitment is not a BN254 scalar field element."""

    fields = ("value",)


class GlobalBelowThreshold(InvalidBlock):
    """A block's global model proves a count below the task's threshold."""

    fields = ("count", "minCount")
    explanation = "the global model proves {count}, below the threshold {min_count}"


class InvalidGlobalProof(InvalidBlock):
    """A block's global-model proof does not verify."""


class AcceptedNotSorted(InvalidBlock):
    """The accepted list is not in strictly ascending address order."""

    fields = ("index",)


class RoundHasLeader(InvalidBlock):
    """A round cannot be skipped while a leader still has its turn."""

    fields = ("taskId", "round", "leader")


class EmptyAggregate(InvalidBlock):
    """A block must aggregate at least one accepted submission."""

    explanation = "the block accepts no submission: a global model aggregates at least one"


class TooManyContributions(InvalidBlock):
    """A block accepts more submissions than the task's aggregation circuit has slots."""

    fields = ("accepted", "capacity")
    explanation = "the block accepts {accepted} submissions; the task aggregates at most {capacity}"


class InvalidAggregationProof(InvalidBlock):
    """A block's aggregation proof does not verify: its global model is not the weighted
    average of the accepted submissions' models."""

    explanation = (
        "the aggregation proof does not verify: the global model is not the weighted "
        "average of the accepted models"
    )


# --------------------------------------------------------------------- hand-overs owed


class DuplicateHandOver(InvalidHandOver):
    """The sender already handed its key to this turn's leader."""

    fields = ("account",)


class NotHandedOver(InvalidBlock, InvalidContest):
    """The submitter has no hand-over in the current leader turn."""

    fields = ("account",)


class AlreadyContested(InvalidContest):
    """The turn's leader already contested this hand-over."""

    fields = ("account",)


class AlreadyReopened(InvalidContest):
    """The submitter already re-opened its key in this turn."""

    fields = ("account",)


class KeyMismatch(InvalidBlock, InvalidContest):
    """A key does not hash to the hand-over's ``keyHash``."""

    fields = ("account",)
    explanation = "the key shown for {account} is not the one its hand-over committed to"


class ExcludedNotSorted(InvalidBlock):
    """The excluded list is not in strictly ascending address order."""

    fields = ("index",)


class ExcludedAndAccepted(InvalidBlock):
    """A submitter is both accepted and excluded."""

    fields = ("account",)


class ExclusionNotShown(InvalidBlock):
    """A keyless exclusion needs a contest that its submitter let pass unanswered."""

    fields = ("account",)
    explanation = (
        "{account} is excluded without its key, but its hand-over was not contested, "
        "was re-opened, or is still within its response time"
    )


class HandOverLeftOut(InvalidBlock):
    """A submitter that handed the leader its key in this turn is neither accepted nor
    excluded with a reason the ledger can check."""

    fields = ("account",)
    explanation = "{account} handed its key to the leader and is neither accepted nor excluded"


#: Every rule error, by the name of the contract's custom error it mirrors.
RULE_ERRORS: dict[str, type[InvalidTransaction]] = {
    cls.__name__: cls
    for cls in (
        UnknownTask,
        RoundNotOpen,
        NotRegistered,
        DuplicateSubmission,
        LateSubmission,
        BelowThreshold,
        CountAboveSamples,
        InvalidProof,
        RoundStillOpen,
        NoSubmissions,
        NoValidSubmission,
        BadSealedKey,
        NoLeaderLeft,
        NotLeader,
        BlockAlreadyProposed,
        BadParent,
        InvalidCommitment,
        GlobalBelowThreshold,
        InvalidGlobalProof,
        AcceptedNotSorted,
        RoundHasLeader,
        EmptyAggregate,
        TooManyContributions,
        InvalidAggregationProof,
        DuplicateHandOver,
        NotHandedOver,
        AlreadyContested,
        AlreadyReopened,
        KeyMismatch,
        ExcludedNotSorted,
        ExcludedAndAccepted,
        ExclusionNotShown,
        HandOverLeftOut,
    )
}


def snake_case(name: str) -> str:
    """``minCount`` -> ``min_count``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)
