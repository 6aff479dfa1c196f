"""Reference training recipe and the measurement behind the quantisation defaults.

``python -m zkpot.learning.measure`` trains the float reference models, reports the shift
:func:`~zkpot.learning.quantize.choose_shifts` picks for each of them, and compares float
accuracy with the integer accuracy of the model quantised for
:func:`~zkpot.learning.quantize.default_spec`, both on the full test split (calibrated on
the full split) and on public test sets (each calibrated on itself, as in a task).  The
numbers in ``docs/quantisation.md`` and :data:`~zkpot.learning.quantize.DEFAULT_SHIFTS`
come from this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zkpot.learning.datasets import (
    Dataset,
    load_dataset,
    public_test_indices,
    public_test_set,
    quantize_inputs,
)
from zkpot.learning.inference import correct_count
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.quantize import choose_shifts, default_spec, quantize

__all__ = [
    "PUBLIC_TEST_SIZE",
    "RECIPES",
    "AccuracyPair",
    "Measurement",
    "TrainingRecipe",
    "main",
    "measure",
    "train_reference",
]


@dataclass(frozen=True)
class TrainingRecipe:
    """Hyper-parameters of :func:`~zkpot.learning.model.train_sgd`."""

    epochs: int
    lr: float
    batch_size: int
    momentum: float


RECIPES: dict[str, TrainingRecipe] = {
    "digits": TrainingRecipe(epochs=50, lr=0.01, batch_size=32, momentum=0.9),
    "mnist": TrainingRecipe(epochs=5, lr=0.05, batch_size=64, momentum=0.9),
    "fashion-mnist": TrainingRecipe(epochs=5, lr=0.05, batch_size=64, momentum=0.9),
}

#: Size of a public test set per dataset (the digits test split has only 500 samples).
PUBLIC_TEST_SIZE: dict[str, int] = {"digits": 250, "mnist": 1000, "fashion-mnist": 1000}


@dataclass(frozen=True)
class AccuracyPair:
    """Float and integer accuracy on one evaluation set."""

    samples: int
    float_acc: float
    int_acc: float

    @property
    def delta_pp(self) -> float:
        """Integer minus float accuracy, in percentage points."""
        return 100.0 * (self.int_acc - self.float_acc)


@dataclass(frozen=True)
class Measurement:
    """Result of :func:`measure` for one dataset, hidden width and training seed."""

    dataset: str
    widths: tuple[int, ...]
    chosen_shifts: tuple[int, ...]
    default_shifts: tuple[int, ...]
    full_test: AccuracyPair
    public: tuple[AccuracyPair, ...]


def train_reference(dataset: Dataset, hidden: int, seed: int) -> MLP:
    """Train ``(input_dim, hidden, 10)`` on the whole training split with the dataset's recipe."""
    recipe = RECIPES[dataset.name]
    rng = np.random.default_rng(seed)
    model = MLP((dataset.input_dim, hidden, dataset.num_classes), rng)
    train_sgd(
        model,
        dataset.x_train,
        dataset.y_train,
        recipe.epochs,
        recipe.lr,
        recipe.batch_size,
        rng,
        momentum=recipe.momentum,
    )
    return model


def _compare(model: MLP, dataset: Dataset, idx: np.ndarray, hidden: int) -> AccuracyPair:
    """Float vs integer accuracy on test samples ``idx``, calibrated on those samples."""
    x, y = dataset.x_test[idx], dataset.y_test[idx]
    spec = default_spec(dataset.name, hidden)
    x_q = quantize_inputs(x, spec.input_bits)
    qmodel = quantize(model, spec, x_q)
    return AccuracyPair(
        samples=int(idx.size),
        float_acc=model.accuracy(x, y),
        int_acc=correct_count(qmodel, x_q, y) / idx.size,
    )


def measure(dataset: Dataset, hidden: int, seed: int, public_seeds: Sequence[int]) -> Measurement:
    """Train one reference model and compare float and integer accuracy."""
    model = train_reference(dataset, hidden, seed)
    n_test = dataset.x_test.shape[0]
    size = PUBLIC_TEST_SIZE[dataset.name]
    bits = default_spec(dataset.name, hidden).input_bits
    calibration, _ = public_test_set(dataset, size, public_seeds[0], bits)
    public = tuple(
        _compare(model, dataset, public_test_indices(n_test, size, s), hidden) for s in public_seeds
    )
    return Measurement(
        dataset=dataset.name,
        widths=model.widths,
        chosen_shifts=choose_shifts(model, calibration, input_bits=bits),
        default_shifts=default_spec(dataset.name, hidden).shifts,
        full_test=_compare(model, dataset, np.arange(n_test), hidden),
        public=public,
    )


def _row(m: Measurement, seed: int) -> str:
    widths = "-".join(str(w) for w in m.widths)
    pub_float = 100 * float(np.mean([p.float_acc for p in m.public]))
    pub_int = 100 * float(np.mean([p.int_acc for p in m.public]))
    worst = max((p.delta_pp for p in m.public), key=abs)
    full = m.full_test
    return (
        f"| {m.dataset} | {widths} | {seed} | {m.chosen_shifts} | {m.default_shifts} "
        f"| {100 * full.float_acc:.2f} | {100 * full.int_acc:.2f} | {full.delta_pp:+.2f} "
        f"| {m.public[0].samples} x {len(m.public)} | {pub_float:.2f} | {pub_int:.2f} "
        f"| {worst:+.2f} |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Print the accuracy table as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["digits:32", "mnist:32", "mnist:64"],
        help="dataset:hidden pairs to measure",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds")
    parser.add_argument(
        "--public-seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2, 3, 4],
        help="seeds of the public test sets; the first one also calibrates choose_shifts",
    )
    args = parser.parse_args(argv)
    print(
        "| dataset | widths | seed | chosen k | default k | float full | int full | delta "
        "| public sets | float public | int public | worst delta |"
    )
    print("|" + "---|" * 12)
    datasets: dict[str, Dataset] = {}
    for config in args.configs:
        name, hidden = config.split(":")
        dataset = datasets.setdefault(name, load_dataset(name))
        for seed in args.seeds:
            print(_row(measure(dataset, int(hidden), seed, args.public_seeds), seed), flush=True)


if __name__ == "__main__":
    main()
