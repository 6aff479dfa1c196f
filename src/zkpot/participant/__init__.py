"""A participant of a ZKPoT federation and its round, written once.

- :mod:`~zkpot.participant.participant`: the participant (identity, private data, model,
  training) and the :class:`Behaviour` it consults for every decision;
- :mod:`~zkpot.participant.records`: the stages of a round and their records;
- :mod:`~zkpot.participant.machine`: the round as a state machine, which the in-process
  federation and the process node both drive.
"""

from zkpot.participant.participant import (
    COMMITMENT_MISMATCH,
    DEFAULT_TRAINING,
    HONEST,
    KEY_DOES_NOT_OPEN,
    NO_KEY,
    NO_SLOT,
    Behaviour,
    Claim,
    Contribution,
    Identity,
    Participant,
    ProofRejected,
    SubmissionContext,
    Submitted,
    Training,
    Unprovable,
    average,
    in_format,
    split_training_data,
)

__all__ = [
    "COMMITMENT_MISMATCH",
    "DEFAULT_TRAINING",
    "HONEST",
    "KEY_DOES_NOT_OPEN",
    "NO_KEY",
    "NO_SLOT",
    "Behaviour",
    "Claim",
    "Contribution",
    "Identity",
    "Participant",
    "ProofRejected",
    "SubmissionContext",
    "Submitted",
    "Training",
    "Unprovable",
    "average",
    "in_format",
    "split_training_data",
]
