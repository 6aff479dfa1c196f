"""Accuracy of the integer training rule against float FedAvg on the same partitions.

Both federations start from the same initial model and run ``rounds`` rounds over the same
Dirichlet partitions: float FedAvg trains each participant with the run's float defaults
(:mod:`zkpot.defaults`: cross-entropy, momentum 0.9) and averages in float; the integer
federation trains each participant with the dataset's rule
(:data:`zkpot.learning.integer_training.DEFAULT_RULES`) and averages the fixed-point
parameters exactly (:func:`~zkpot.learning.integer_training.fedavg_fixed`); its participants
hold their samples in a seeded random order, as a node commits them. Accuracy is
the float model's (for the integer federation: its fixed-point parameters as reals) on the
whole test split.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from zkpot.defaults import dataset_defaults
from zkpot.learning import integer_training as rule_mod
from zkpot.learning.datasets import load_dataset, quantize_inputs
from zkpot.learning.fedavg import fedavg
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.partition import dirichlet

__all__ = ["bench_sgd"]


def bench_sgd(
    dataset: str = "mnist",
    rounds: int = 3,
    participants: int = 5,
    alpha: float = 0.5,
    seed: int = 7,
    hidden: int = 32,
    rule: rule_mod.TrainingRule | None = None,
) -> dict[str, Any]:
    """Both federations, round by round: accuracies, their difference, training seconds.
    ``rule`` replaces the dataset's default integer rule."""
    t = dataset_defaults(dataset).training
    rule = rule if rule is not None else rule_mod.DEFAULT_RULES[dataset]
    data = load_dataset(dataset)
    widths = (data.input_dim, hidden, data.num_classes)
    parts = dirichlet(data.y_train, participants, alpha, seed)
    counts = [len(p) for p in parts]
    # Each participant's samples in the order it commits them: a seeded shuffle, so that the
    # schedule's affine order over them is no order of the dataset's own.
    committed = [np.random.default_rng([seed, 3, i]).permutation(p) for i, p in enumerate(parts)]
    q = quantize_inputs(data.x_train, rule.input_bits)
    x_test = quantize_inputs(data.x_test, rule.input_bits) / float(1 << rule.input_bits)
    initial = MLP(widths, np.random.default_rng([seed, 0])).get_params()
    float_params, fixed = initial, rule_mod.from_float(initial, rule.frac_bits)
    rows = []
    for r in range(rounds):
        start = time.perf_counter()
        local = []
        for i, p in enumerate(parts):
            m = MLP.from_params(float_params)
            rng = np.random.default_rng([seed, 2, i, r])
            train_sgd(
                m,
                data.x_train[p],
                data.y_train[p],
                t.epochs,
                t.lr,
                t.batch_size,
                rng,
                momentum=t.momentum,
            )
            local.append(m.get_params())
        float_params = fedavg(local, counts)
        float_s = time.perf_counter() - start
        start = time.perf_counter()
        trained = [
            rule_mod.train(
                fixed, q[p], data.y_train[p], rule, task_seed=seed, round=r, participant=i
            )
            for i, p in enumerate(committed)
        ]
        fixed = rule_mod.fedavg_fixed(trained, counts)
        int_s = time.perf_counter() - start
        float_acc = MLP.from_params(float_params).accuracy(data.x_test, data.y_test)
        int_acc = MLP.from_params(rule_mod.to_float(fixed, rule.frac_bits)).accuracy(
            x_test, data.y_test
        )
        rows.append(
            {
                "round": r,
                "float_fedavg": round(float_acc, 4),
                "integer_rule": round(int_acc, 4),
                "delta_pp": round(100 * (int_acc - float_acc), 2),
                "float_train_s": round(float_s, 2),
                "integer_train_s": round(int_s, 2),
            }
        )
    return {
        "dataset": dataset,
        "widths": list(widths),
        "participants": participants,
        "alpha": alpha,
        "seed": seed,
        "rule": {k: getattr(rule, k) for k in rule.__dataclass_fields__},
        "rounds": rows,
    }
