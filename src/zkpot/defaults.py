"""Per-dataset defaults of a run: the local training and the threshold under which a
federation started without flags learns.

One local epoch is plenty on MNIST's 60,000 training images but not on digits, where five
participants hold about 260 images each: after one epoch from the random initial model
their proven accuracy sits near 35 %. The digits defaults train twenty epochs in batches
of 32, after which every participant of the README's five-participant run proves 85-90 %
on the 200 public samples.

The thresholds let an honest participant in through round 0 even under label skew: with
five Dirichlet(0.5) participants (seed 7), the round-0 local models proved 125-169 of 200
samples on digits and 138-168 on MNIST, so a threshold of 0.6 admits all of them where 0.8
would admit one. Fashion-MNIST is harder (IID round-0 models prove 75-80 %), so its
threshold is 0.5.

MNIST and Fashion-MNIST prove accuracy on 1,000 public test samples (956,200 constraints,
within a 2^20 evaluation domain; docs/proving.md); digits, whose test split has only 500
images, on 200.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkpot.participant import Training

__all__ = ["DATASET_DEFAULTS", "DatasetDefaults", "dataset_defaults", "default_training"]


@dataclass(frozen=True)
class DatasetDefaults:
    """What ``zkpot run --dataset X`` and ``Federation`` use when nothing else is given."""

    training: Training
    threshold: float
    test_samples: int


DATASET_DEFAULTS: dict[str, DatasetDefaults] = {
    "digits": DatasetDefaults(
        Training(epochs=20, lr=0.05, batch_size=32), threshold=0.6, test_samples=200
    ),
    "mnist": DatasetDefaults(
        Training(epochs=1, lr=0.05, batch_size=64), threshold=0.6, test_samples=1000
    ),
    "fashion-mnist": DatasetDefaults(
        Training(epochs=1, lr=0.05, batch_size=64), threshold=0.5, test_samples=1000
    ),
}


def dataset_defaults(dataset: str) -> DatasetDefaults:
    """The defaults of ``dataset``; ``ValueError`` for a dataset zkpot does not know."""
    try:
        return DATASET_DEFAULTS[dataset]
    except KeyError:
        known = ", ".join(DATASET_DEFAULTS)
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {known}") from None


def default_training(dataset: str) -> Training:
    """Local training settings that make a federation on ``dataset`` learn."""
    return dataset_defaults(dataset).training
