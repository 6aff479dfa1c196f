"""Federated averaging of model parameters.

``fedavg`` computes ``sum_k (n_k / N) * params_k`` layer by layer, where ``n_k`` is the
number of training samples of participant ``k`` and ``N = sum_k n_k``.  The sum runs over
the participants in the order given, in float64, so the result is bit-identical for the
same inputs in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["fedavg"]


def fedavg(
    models_params: Sequence[Sequence[NDArray[np.floating]]], weights: Sequence[int]
) -> list[NDArray[np.float64]]:
    """Sample-count-weighted average of parameter lists of identical layout."""
    _check_inputs(models_params, weights)
    total = sum(int(w) for w in weights)
    averaged = [np.zeros(np.shape(p), dtype=np.float64) for p in models_params[0]]
    for params, count in zip(models_params, weights, strict=True):
        share = int(count) / total
        for acc, p in zip(averaged, params, strict=True):
            acc += share * np.asarray(p, dtype=np.float64)
    return averaged


def _check_inputs(
    models_params: Sequence[Sequence[NDArray[np.floating]]], weights: Sequence[int]
) -> None:
    if not models_params:
        raise ValueError("fedavg needs at least one model")
    if len(models_params) != len(weights):
        raise ValueError(f"{len(models_params)} models but {len(weights)} weights")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or w <= 0:
            raise ValueError(f"weights must be positive sample counts, got {w!r}")
    shapes = [np.shape(p) for p in models_params[0]]
    for k, params in enumerate(models_params):
        if [np.shape(p) for p in params] != shapes:
            raise ValueError(f"model {k} has a different parameter layout than model 0")
        if not all(np.all(np.isfinite(p)) for p in params):
            raise ValueError(f"model {k} has non-finite parameters")
