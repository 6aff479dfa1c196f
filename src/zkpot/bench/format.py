"""What averaging in the task's fixed-point format costs in accuracy.

A federation without proofs is run twice on the same partitions, with the same local
training (the dataset's defaults, :mod:`zkpot.defaults`):

* ``per-model``: each local model is quantised at its own scales (what the accuracy proof
  needs), the leader averages the dequantised models in float and quantises the average;
* ``format``: each local model is quantised in the task's fixed-point format (one weight
  scale per layer for every model), the leader averages the integers
  (:func:`zkpot.learning.aggregate.fedavg_int`, what the aggregation proof checks), and the
  next round trains from that integer model. A local model that overflows the activation
  range in the format cannot be proven and is left out.

Both report the integer accuracy of the global model on the task's public test set, with
plain float FedAvg (no quantisation at all) as the baseline of the same run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zkpot.defaults import dataset_defaults
from zkpot.learning.aggregate import fedavg_int
from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.fedavg import fedavg
from zkpot.learning.inference import correct_count
from zkpot.learning.integer_model import QuantizationError
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.partition import dirichlet
from zkpot.learning.quantize import DEFAULT_WEIGHT_SCALES, default_spec, quantize

__all__ = ["bench_format"]


def bench_format(
    dataset: str = "mnist",
    scales: tuple[float, ...] | None = None,
    participants: int = 5,
    rounds: int = 3,
    alpha: float = 0.5,
    seed: int = 7,
    hidden: int = 32,
) -> dict[str, Any]:
    """Runs the three federations for ``rounds`` rounds; one row per round."""
    defaults = dataset_defaults(dataset)
    t = defaults.training
    data = load_dataset(dataset)
    spec = default_spec(dataset, hidden)
    fmt = tuple(scales) if scales is not None else DEFAULT_WEIGHT_SCALES[dataset]
    x_q, y = public_test_set(data, defaults.test_samples, seed, spec.input_bits)
    parts = dirichlet(data.y_train, participants, alpha, seed)
    counts = [len(p) for p in parts]
    initial = MLP(spec.widths, np.random.default_rng([seed, 0])).get_params()
    plain, per_model, in_format = initial, initial, initial
    rows = []

    def local(start: list[np.ndarray], i: int, r: int) -> MLP:
        m = MLP.from_params(start)
        rng = np.random.default_rng([seed, 2, i, r])
        train_sgd(
            m,
            data.x_train[parts[i]],
            data.y_train[parts[i]],
            t.epochs,
            t.lr,
            t.batch_size,
            rng,
            momentum=t.momentum,
        )
        return m

    for r in range(rounds):
        plain = fedavg([local(plain, i, r).get_params() for i in range(participants)], counts)
        plain_acc = correct_count(quantize(MLP.from_params(plain), spec, x_q), x_q, y)

        quantised = [quantize(local(per_model, i, r), spec, x_q) for i in range(participants)]
        per_model = fedavg([q.dequantize() for q in quantised], counts)
        per_model_acc = correct_count(quantize(MLP.from_params(per_model), spec, x_q), x_q, y)

        kept, kept_counts, overflowed = [], [], 0
        for i in range(participants):
            try:
                kept.append(quantize(local(in_format, i, r), spec, x_q, scales=fmt))
                kept_counts.append(counts[i])
            except QuantizationError:
                overflowed += 1
        if kept:
            g = fedavg_int(kept, kept_counts)
            in_format = g.dequantize()
            format_acc: int | None = correct_count(g, x_q, y)
        else:
            format_acc = None
        rows.append(
            {
                "round": r,
                "float_fedavg": plain_acc / len(y),
                "per_model_scales": per_model_acc / len(y),
                "task_format": None if format_acc is None else format_acc / len(y),
                "overflowed": overflowed,
            }
        )
    return {
        "dataset": dataset,
        "widths": list(spec.widths),
        "scales": list(fmt),
        "participants": participants,
        "alpha": alpha,
        "seed": seed,
        "test_samples": len(y),
        "rounds": rows,
    }
