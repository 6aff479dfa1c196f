"""setup, commit, prove and verify for the accuracy statement.

Field elements (commitments, salts, tags) are Python ints below ``FIELD_ORDER``; the
Rust core receives them as 32 big-endian bytes and rejects anything out of range.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from zkpot import _prover
from zkpot.learning.datasets import test_set_hash
from zkpot.learning.integer_model import ModelSpec, QuantizedModel

#: The BN254 scalar field order r: commitments, counts, salts and tags live below it.
FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def field_bytes(value: int, what: str) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < FIELD_ORDER:
        raise ValueError(f"{what} must be an int in [0, FIELD_ORDER), got {value!r}")
    return value.to_bytes(32, "big")


def parameters(model: QuantizedModel) -> tuple[list[list[int]], list[list[int]]]:
    weights = [np.asarray(w, dtype=np.int64).ravel().tolist() for w in model.weights]
    biases = [np.asarray(b, dtype=np.int64).ravel().tolist() for b in model.biases]
    return weights, biases


@dataclass(frozen=True)
class AccuracyCircuit:
    """The circuit of one task: the model spec and the public test set it is keyed by."""

    spec: ModelSpec
    test_x: NDArray[np.uint8]
    test_y: NDArray[np.int64]

    def __post_init__(self) -> None:
        x = np.ascontiguousarray(self.test_x)
        y = np.ascontiguousarray(self.test_y)
        if x.ndim != 2 or x.shape[1] != self.spec.widths[0]:
            raise ValueError(f"test inputs must be n x {self.spec.widths[0]}, got {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"expected {x.shape[0]} labels, got shape {y.shape}")
        if x.dtype != np.uint8:
            raise ValueError(f"test inputs must be uint8, got {x.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= self.spec.widths[-1]):
            raise ValueError("labels must be class indices")
        object.__setattr__(self, "test_x", x)
        object.__setattr__(self, "test_y", y.astype(np.int64))

    @property
    def num_samples(self) -> int:
        return int(self.test_x.shape[0])

    @cached_property
    def test_set_hash(self) -> bytes:
        """The hash the task publishes for its test set (see learning.datasets)."""
        return test_set_hash(self.test_x, self.test_y)

    def _args(self) -> tuple[ModelSpec, int, bytes, bytes]:
        labels = self.test_y.astype(np.uint8).tobytes()
        return self.spec, int(self.test_x.shape[1]), self.test_x.tobytes(), labels


@dataclass(frozen=True)
class Proven:
    """A proof, the public statement it proves, and the prover's seconds per step.

    ``timings`` has ``witness_s`` (inference and witness assignment), ``qap_s`` (matrix
    evaluation and the QAP's FFTs) and one ``msm_*_s`` per multi-scalar multiplication
    (``a``, ``b_g1``, ``b_g2``, ``c`` for the L query, ``h``)."""

    proof: _prover.Proof
    commitment: int
    count: int
    tag: int
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def setup(circuit: AccuracyCircuit) -> tuple[_prover.ProvingKey, _prover.VerifyingKey]:
    """Circuit-specific Groth16 setup. Its randomness comes from the OS CSPRNG and is
    discarded; whoever runs it is trusted not to keep it (see docs/proving.md)."""
    return _prover.setup(*circuit._args())


def new_salt() -> int:
    """A fresh commitment salt from the OS CSPRNG, whatever the run's seed."""
    return secrets.randbelow(FIELD_ORDER)


def commit(model: QuantizedModel, salt: int) -> int:
    """C = Poseidon(#words, packed weights and biases, salt)."""
    weights, biases = parameters(model)
    return int.from_bytes(_prover.commit(model.spec, weights, biases, field_bytes(salt, "salt")))


def prove(pk: _prover.ProvingKey, model: QuantizedModel, salt: int, tag: int) -> Proven:
    """Proves how many test samples ``model`` classifies correctly, bound to ``tag``.

    Raises ActivationOverflowError when the model leaves the spec's activation range on
    some test sample (such a model has no witness)."""
    weights, biases = parameters(model)
    proof, commitment, count, timings = _prover.prove(
        pk, weights, biases, field_bytes(salt, "salt"), field_bytes(tag, "tag")
    )
    return Proven(proof, int.from_bytes(commitment), int(count), tag, dict(timings))


def verify(
    vk: _prover.VerifyingKey, commitment: int, count: int, tag: int, proof: _prover.Proof
) -> bool:
    """True when ``proof`` proves (commitment, count, tag) under ``vk``."""
    values = (commitment, count, tag)
    if not all(isinstance(v, int) and 0 <= v < FIELD_ORDER for v in values):
        return False
    if count >= 2**64:
        return False
    return bool(
        _prover.verify(vk, commitment.to_bytes(32, "big"), count, tag.to_bytes(32, "big"), proof)
    )


def proof_from_evm(words: Sequence[int]) -> _prover.Proof:
    """The proof of the 8 words an EVM verifier takes (A, B, C), every point checked;
    raises ValueError for anything else."""
    if isinstance(words, (str, bytes)) or len(words) != 8:
        raise ValueError("a proof is 8 words")
    if not all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w < 2**256 for w in words):
        raise ValueError("a proof word is an integer in [0, 2^256)")
    return _prover.Proof.from_evm([w.to_bytes(32, "big") for w in words])


def integer_inference(
    circuit: AccuracyCircuit, model: QuantizedModel
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The circuit's own integer inference: logits (n x classes) and per-sample match bits."""
    weights, biases = parameters(model)
    logits, correct = _prover.infer(*circuit._args(), weights, biases)
    n = circuit.num_samples
    return np.asarray(logits, dtype=np.int64).reshape(n, -1), np.asarray(correct, dtype=bool)
