"""A federated-learning task: the publisher's announcement that fixes the proof statement.

The task fixes the model architecture and its integer ranges (the circuit's shape), the
public test set (the circuit's constants), the threshold a proven count must reach, the
number of rounds and the submission window. Its verifying key is derived from these.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.integer_model import ModelSpec, QuantizedModel
from zkpot.learning.model import MLP
from zkpot.learning.quantize import DEFAULT_WEIGHT_SCALES, default_spec, quantize
from zkpot.proving import AccuracyCircuit, AggregationCircuit


@dataclass(frozen=True)
class Task:
    """A task as published: everything a participant needs to train and prove."""

    name: str
    dataset: str
    spec: ModelSpec
    test_x: NDArray[np.uint8]
    test_y: NDArray[np.int64]
    threshold: float
    rounds: int
    window_s: int
    #: The task's fixed-point format: one weight scale per layer, in which every
    #: participant quantises its model, so that the leader averages integers (None: the
    #: data set's default, ``zkpot.learning.quantize.DEFAULT_WEIGHT_SCALES``).
    weight_scales: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.weight_scales is None and self.dataset in DEFAULT_WEIGHT_SCALES:
            object.__setattr__(self, "weight_scales", DEFAULT_WEIGHT_SCALES[self.dataset])
        if self.weight_scales is not None:
            scales = tuple(self.weight_scales)
            if len(scales) != self.spec.num_layers or not all(
                isinstance(s, float | int) and not isinstance(s, bool) and 0 < s < float("inf")
                for s in scales
            ):
                raise ValueError(
                    f"a format has {self.spec.num_layers} positive finite weight scales, "
                    f"got {scales!r}"
                )
            object.__setattr__(self, "weight_scales", tuple(float(s) for s in scales))
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold is an accuracy in [0, 1], got {self.threshold}")
        if self.rounds < 1:
            raise ValueError(f"a task has at least one round, got {self.rounds}")
        if self.window_s < 1:
            raise ValueError(f"the submission window is at least 1 s, got {self.window_s}")
        _ = self.circuit  # validates the test set against the spec

    @classmethod
    def create(
        cls,
        dataset: str = "mnist",
        hidden: int = 32,
        test_samples: int = 1000,
        threshold: float = 0.5,
        rounds: int = 3,
        window_s: int = 3600,
        seed: int = 0,
        name: str | None = None,
    ) -> Task:
        """A task over a bundled data set with the default spec for its size."""
        data = load_dataset(dataset)
        spec = default_spec(dataset, hidden)
        x, y = public_test_set(data, test_samples, seed, spec.input_bits)
        return cls(
            name=name or f"{dataset}-{hidden}",
            dataset=dataset,
            spec=spec,
            test_x=x,
            test_y=y,
            threshold=threshold,
            rounds=rounds,
            window_s=window_s,
        )

    @cached_property
    def circuit(self) -> AccuracyCircuit:
        return AccuracyCircuit(self.spec, self.test_x, self.test_y)

    def aggregation_circuit(self, capacity: int) -> AggregationCircuit:
        """The task's aggregation circuit with ``capacity`` slots (at most 64)."""
        return AggregationCircuit(self.spec, capacity)

    def quantize(self, model: MLP) -> QuantizedModel:
        """``model`` in the task's integer format: its spec, quantised at the task's weight
        scales (calibrated on the public test set where the task has no format)."""
        return quantize(model, self.spec, self.test_x, scales=self.weight_scales)

    @property
    def num_samples(self) -> int:
        return self.circuit.num_samples

    @property
    def min_count(self) -> int:
        """The smallest proven count that meets the threshold."""
        return math.ceil(self.threshold * self.num_samples)

    @property
    def test_set_hash(self) -> bytes:
        return self.circuit.test_set_hash

    @property
    def model_spec_hash(self) -> bytes:
        return hashlib.sha256(self.spec.to_json().encode()).digest()

    def test_set_bytes(self) -> bytes:
        """The test set as published in the store: a JSON-free, self-describing npz."""
        from io import BytesIO

        buffer = BytesIO()
        np.savez(buffer, x=self.test_x, y=self.test_y)
        return buffer.getvalue()
