"""setup, prove and verify for the training statement.

"The checkpoint committed to as ``C_end`` comes from the checkpoint committed to as
``C_start`` by ``steps`` consecutive SGD steps of the task's integer training rule"
(``zkpot.learning.integer_training`` states the arithmetic; docs/training.md the rule and
what the circuit does not bind yet). A checkpoint is the master parameters and, with
momentum, the velocity, both in the rule's fixed point; a segment is the ``steps`` batches
one proof covers. The public inputs are ``C_start`` and ``C_end``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from zkpot import _prover
from zkpot.learning.integer_training import IntParams, TrainingRule
from zkpot.proving.system import FIELD_ORDER, field_bytes

__all__ = [
    "Checkpoint",
    "ProvenSegment",
    "TrainingCircuit",
    "commit_checkpoint",
    "prove_segment",
    "run_segment",
    "setup_training",
    "verify_segment",
]

Batch = tuple[NDArray[np.integer], NDArray[np.integer]]


@dataclass(frozen=True)
class TrainingCircuit:
    """What a training key is generated for: the rule, the layer widths and the number
    of SGD steps one proof covers."""

    rule: TrainingRule
    widths: tuple[int, ...]
    steps: int = 1

    def constraints(self) -> int:
        """The segment's number of constraints (synthesised, without a setup)."""
        return int(_prover.training_constraints(self.rule, list(self.widths), self.steps)[0])


@dataclass(frozen=True)
class Checkpoint:
    """Master parameters ``[W_0, b_0, …]`` and, with momentum, the velocity (else empty)."""

    params: IntParams
    velocity: IntParams

    @classmethod
    def start(cls, params: Sequence[NDArray[np.int64]], rule: TrainingRule) -> Checkpoint:
        """A round's first checkpoint: ``params`` with zero velocity."""
        ps = [np.array(p, dtype=np.int64) for p in params]
        vs = [] if rule.momentum_shift is None else [np.zeros_like(p) for p in ps]
        return cls(ps, vs)

    def _flat(self) -> tuple[list[list[int]], list[list[int]]]:
        return (
            [np.asarray(p, dtype=np.int64).ravel().tolist() for p in self.params],
            [np.asarray(v, dtype=np.int64).ravel().tolist() for v in self.velocity],
        )

    def _shaped(self, flat: tuple[list[list[int]], list[list[int]]]) -> Checkpoint:
        shapes = [np.shape(p) for p in self.params]
        return Checkpoint(
            [np.array(t, dtype=np.int64).reshape(s) for t, s in zip(flat[0], shapes, strict=True)],
            [np.array(t, dtype=np.int64).reshape(s) for t, s in zip(flat[1], shapes, strict=False)],
        )


def _batches(batches: Sequence[Batch]) -> tuple[list[bytes], list[bytes]]:
    inputs, labels = [], []
    for q, y in batches:
        q, y = np.asarray(q), np.asarray(y)
        if (
            q.min(initial=0) < 0
            or q.max(initial=0) > 255
            or y.min(initial=0) < 0
            or y.max(initial=0) > 255
        ):
            raise ValueError("inputs and labels must be bytes")
        inputs.append(q.astype(np.uint8).tobytes())
        labels.append(y.astype(np.uint8).tobytes())
    return inputs, labels


def run_segment(
    circuit: TrainingCircuit, start: Checkpoint, batches: Sequence[Batch]
) -> Checkpoint:
    """The checkpoint after ``batches``, computed by the circuit's own arithmetic."""
    inputs, labels = _batches(batches)
    end = _prover.training_run(circuit.rule, list(circuit.widths), start._flat(), inputs, labels)
    return start._shaped(end)


def commit_checkpoint(circuit: TrainingCircuit, checkpoint: Checkpoint, salt: int) -> int:
    return int.from_bytes(
        _prover.training_commit(
            circuit.rule, list(circuit.widths), checkpoint._flat(), field_bytes(salt, "salt")
        )
    )


@dataclass(frozen=True)
class ProvenSegment:
    proof: _prover.Proof
    start: int
    end: int
    checkpoint: Checkpoint
    timings: dict[str, float]


def setup_training(
    circuit: TrainingCircuit,
) -> tuple[_prover.TrainingKey, _prover.VerifyingKey]:
    return _prover.training_setup(circuit.rule, list(circuit.widths), circuit.steps)


def prove_segment(
    key: _prover.TrainingKey,
    start: Checkpoint,
    start_salt: int,
    batches: Sequence[Batch],
    end_salt: int,
) -> ProvenSegment:
    inputs, labels = _batches(batches)
    proof, c_start, c_end, end, timings = _prover.training_prove(
        key,
        start._flat(),
        field_bytes(start_salt, "start_salt"),
        inputs,
        labels,
        field_bytes(end_salt, "end_salt"),
    )
    return ProvenSegment(
        proof,
        int.from_bytes(c_start),
        int.from_bytes(c_end),
        start._shaped(end),
        dict(timings),
    )


def verify_segment(vk: _prover.VerifyingKey, start: int, end: int, proof: _prover.Proof) -> bool:
    """Whether ``proof`` shows that ``end`` comes from ``start`` by the segment's steps;
    commitments that are not field elements never verify."""
    if not all(isinstance(c, int) and 0 <= c < FIELD_ORDER for c in (start, end)):
        return False
    return bool(
        _prover.training_verify(vk, start.to_bytes(32, "big"), end.to_bytes(32, "big"), proof)
    )
