"""setup, prove and verify for the training statement.

"The checkpoint committed to as ``C_end`` comes from the checkpoint committed to as
``C_start`` by ``steps`` consecutive SGD steps of the task's integer training rule, on the
samples that the round's schedule picks from the data committed to as ``C_D``"
(``zkpot.learning.integer_training`` states the arithmetic and the schedule; docs/training.md
the rule). A checkpoint is the master parameters and, with momentum, the velocity, both in
the rule's fixed point; a segment is the ``steps`` batches one proof covers. The data
commitment is ``Poseidon(root, n, salt)`` over a Poseidon Merkle tree of the participant's
quantised samples (:class:`DataTree`).

The public inputs are ``(C_start, C_end, C_D, n, a, a0, tag)``: the segment's ``o``-th
sample is ``(a0 + a · o) mod n``, where ``a0 = (a · p0 + b) mod n`` for the segment's first
position ``p0`` in the round, so that a verifier who knows the schedule ``(a, b)`` and the
segment's first step recomputes every public input but the commitments.
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
    "DataTree",
    "ProvenSegment",
    "SegmentStatement",
    "TrainingCircuit",
    "commit_checkpoint",
    "data_tree",
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
    #: Depth of the task's data trees: a participant holds at most ``2^depth`` samples.
    depth: int = 16

    def constraints(self) -> int:
        """The segment's number of constraints (synthesised, without a setup)."""
        return int(
            _prover.training_constraints(self.rule, list(self.widths), self.steps, self.depth)[0]
        )


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


def _as_bytes(a: NDArray[np.integer]) -> bytes:
    a = np.asarray(a)
    if a.size and (a.min() < 0 or a.max() > 255):
        raise ValueError("inputs and labels must be bytes")
    return a.astype(np.uint8).tobytes()


def _batches(batches: Sequence[Batch]) -> tuple[list[bytes], list[bytes]]:
    return [_as_bytes(q) for q, _ in batches], [_as_bytes(y) for _, y in batches]


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


DataTree = _prover.DataTree


def data_tree(
    circuit: TrainingCircuit, x_q: NDArray[np.integer], y: NDArray[np.integer]
) -> _prover.DataTree:
    """The Poseidon Merkle tree of a participant's quantised samples ``x_q`` (``n x d``) and
    labels ``y``, in the circuit's format and depth."""
    x_q, y = np.asarray(x_q), np.asarray(y)
    if x_q.ndim != 2 or y.ndim != 1 or len(x_q) != len(y):
        raise ValueError("x_q must be n x d with one label per row")
    if x_q.shape[1] != circuit.widths[0]:
        raise ValueError(f"samples have {x_q.shape[1]} inputs, the model {circuit.widths[0]}")
    return _prover.DataTree(
        _as_bytes(x_q),
        _as_bytes(y),
        circuit.widths[0],
        circuit.widths[-1],
        circuit.rule.input_bits,
        circuit.depth,
    )


def data_commitment(tree: _prover.DataTree, salt: int) -> int:
    """``C_D = Poseidon(root, n, salt)``."""
    return int.from_bytes(tree.commitment(field_bytes(salt, "salt")))


@dataclass(frozen=True)
class SegmentStatement:
    """A training proof's public inputs."""

    start: int
    end: int
    data: int
    n: int
    a: int
    a0: int
    tag: int


@dataclass(frozen=True)
class ProvenSegment:
    proof: _prover.Proof
    statement: SegmentStatement
    checkpoint: Checkpoint
    timings: dict[str, float]


def setup_training(
    circuit: TrainingCircuit,
) -> tuple[_prover.TrainingKey, _prover.VerifyingKey]:
    return _prover.training_setup(circuit.rule, list(circuit.widths), circuit.steps, circuit.depth)


def prove_segment(
    key: _prover.TrainingKey,
    start: Checkpoint,
    data: _prover.DataTree,
    schedule: tuple[int, int],
    first_step: int,
    salts: tuple[int, int, int],
    tag: int,
) -> ProvenSegment:
    """Proves ``key.steps`` steps from ``start`` on the samples that ``schedule = (a, b)``
    picks from ``data`` from step ``first_step`` on; ``salts`` are those of the start and
    end checkpoints and of the data commitment."""
    a, b = schedule
    salt_bytes = tuple(
        field_bytes(x, name) for x, name in zip(salts, ("start", "end", "data"), strict=True)
    )
    proof, st, end, timings = _prover.training_prove(
        key, start._flat(), data, (a, b, first_step), salt_bytes, field_bytes(tag, "tag")
    )
    c_start, c_end, c_data, n, a, a0, t = st
    statement = SegmentStatement(
        int.from_bytes(c_start),
        int.from_bytes(c_end),
        int.from_bytes(c_data),
        n,
        a,
        a0,
        int.from_bytes(t),
    )
    return ProvenSegment(proof, statement, start._shaped(end), dict(timings))


def verify_segment(
    vk: _prover.VerifyingKey, statement: SegmentStatement, proof: _prover.Proof
) -> bool:
    """Whether ``proof`` holds for ``statement``; values out of range never verify."""
    s = statement
    fields = (s.start, s.end, s.data, s.tag)
    counts = (s.n, s.a, s.a0)
    if not all(isinstance(c, int) and 0 <= c < FIELD_ORDER for c in fields):
        return False
    if not all(isinstance(c, int) and 0 <= c < 2**64 for c in counts):
        return False
    b = [c.to_bytes(32, "big") for c in fields]
    return bool(_prover.training_verify(vk, b[0], b[1], b[2], s.n, s.a, s.a0, b[3], proof))
