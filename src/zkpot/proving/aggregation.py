"""setup, prove and verify for the aggregation statement.

"The global model committed to as ``C_G`` is the rounded weighted average of the models
committed to as ``C_1..C_m``, with weights ``λ_1..λ_m``" (``zkpot.learning.aggregate``
states the arithmetic). A task's aggregation circuit has a fixed number of slots, its
``capacity``; a leader fills the first slots with the accepted models and the rest with
the padding model, whose commitment :func:`padding_commitment` is a constant of the task
and whose weight is 0. The public inputs are ``C_G`` and, per slot, ``(C_k, λ_k)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from zkpot import _prover
from zkpot.learning.aggregate import DEFAULT_FRAC_BITS, aggregate
from zkpot.learning.integer_model import ModelSpec, QuantizedModel
from zkpot.proving.system import FIELD_ORDER, field_bytes, parameters

__all__ = [
    "MAX_AGGREGATION_CAPACITY",
    "AggregationCircuit",
    "ProvenAggregate",
    "padding_commitment",
    "prove_aggregation",
    "setup_aggregation",
    "verify_aggregation",
]


#: The most slots an aggregation circuit may have (``prover/src/aggregation.rs``).
MAX_AGGREGATION_CAPACITY = 64


@dataclass(frozen=True)
class AggregationCircuit:
    """The aggregation circuit of one task: its model spec, slots and weight precision."""

    spec: ModelSpec
    capacity: int
    frac_bits: int = DEFAULT_FRAC_BITS

    def __post_init__(self) -> None:
        if not isinstance(self.spec, ModelSpec):
            raise ValueError("spec must be a ModelSpec")
        for name in ("capacity", "frac_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if not 1 <= self.capacity <= MAX_AGGREGATION_CAPACITY:
            raise ValueError(
                f"capacity must be in 1..{MAX_AGGREGATION_CAPACITY}, got {self.capacity}"
            )
        if not 1 <= self.frac_bits <= 24:
            raise ValueError(f"frac_bits must be in 1..24, got {self.frac_bits}")


@dataclass(frozen=True)
class ProvenAggregate:
    """An aggregation proof, its public statement and the global model it proves."""

    proof: _prover.Proof
    global_commitment: int
    commitments: tuple[int, ...]
    weights: tuple[int, ...]
    global_model: QuantizedModel
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def setup_aggregation(
    circuit: AggregationCircuit,
) -> tuple[_prover.AggregationKey, _prover.VerifyingKey]:
    """Circuit-specific Groth16 setup of the aggregation circuit (same trust as ``setup``)."""
    return _prover.aggregation_setup(circuit.spec, circuit.capacity, circuit.frac_bits)


def padding_commitment(spec: ModelSpec) -> int:
    """The commitment of an empty slot: the all-zero model with salt 0."""
    return int.from_bytes(_prover.padding_commitment(spec))


def prove_aggregation(
    key: _prover.AggregationKey,
    contributions: Sequence[tuple[QuantizedModel, int, int]],
    global_salt: int,
) -> ProvenAggregate:
    """Averages ``contributions`` (model, salt, weight), in slot order, and proves it.

    The models must share one spec and fixed-point format; the global model is computed
    by the prover and checked against the NumPy reference before it is returned."""
    if not contributions:
        raise ValueError("an aggregate needs at least one contribution")
    if len(contributions) > key.capacity:
        raise ValueError(f"{len(contributions)} contributions for {key.capacity} slots")
    models = [m for m, _, _ in contributions]
    weights = [w for _, _, w in contributions]
    expected = aggregate(models, weights, key.frac_bits)
    proof, global_c, slot_cs, (gw, gb), timings = _prover.aggregation_prove(
        key,
        [parameters(m) for m in models],
        [field_bytes(s, "salt") for _, s, _ in contributions],
        [int(w) for w in weights],
        field_bytes(global_salt, "global salt"),
    )
    spec = models[0].spec
    shapes = zip(spec.widths[:-1], spec.widths[1:], strict=True)
    global_model = QuantizedModel(
        spec,
        tuple(
            np.asarray(w, dtype=np.int64).reshape(shape)
            for w, shape in zip(gw, shapes, strict=True)
        ),
        tuple(np.asarray(b, dtype=np.int64) for b in gb),
        models[0].weight_scales,
    )
    if global_model != expected:
        raise _prover.ProverError("the prover's aggregate differs from the reference")
    padded = [int(w) for w in weights] + [0] * (key.capacity - len(weights))
    return ProvenAggregate(
        proof,
        int.from_bytes(global_c),
        tuple(int.from_bytes(c) for c in slot_cs),
        tuple(padded),
        global_model,
        dict(timings),
    )


def verify_aggregation(
    vk: _prover.VerifyingKey,
    global_commitment: int,
    commitments: Sequence[int],
    weights: Sequence[int],
    proof: _prover.Proof,
) -> bool:
    """True when ``proof`` proves that ``global_commitment`` opens to the rounded weighted
    average of the models opening ``commitments`` (one per slot, with their ``weights``)."""
    values = [global_commitment, *commitments]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in [*values, *weights]):
        return False
    if not all(0 <= v < FIELD_ORDER for v in values) or len(commitments) != len(weights):
        return False
    if not all(0 <= w < 2**64 for w in weights):
        return False
    return bool(
        _prover.aggregation_verify(
            vk,
            global_commitment.to_bytes(32, "big"),
            [c.to_bytes(32, "big") for c in commitments],
            list(weights),
            proof,
        )
    )
