"""Splitting a training set among federated-learning participants.

Both partitioners return one ascending ``int64`` index array per participant.  The parts
are disjoint, cover every index exactly once and are never empty; the result depends only
on the arguments (``seed`` drives a ``numpy.random.Generator``).

* :func:`iid`: a uniformly random split into near-equal parts.
* :func:`dirichlet`: label skew; for every class, the class's samples are divided among
  the parts in proportions drawn from ``Dirichlet(alpha, ..., alpha)``.  Small ``alpha``
  gives each participant few classes, large ``alpha`` approaches the IID split.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["dirichlet", "iid", "split"]

Parts = list[NDArray[np.int64]]


def split(labels: ArrayLike, n_parts: int, alpha: float | None, seed: int) -> Parts:
    """:func:`iid` when ``alpha`` is None, else :func:`dirichlet` with ``alpha``."""
    if alpha is None:
        return iid(labels, n_parts, seed)
    return dirichlet(labels, n_parts, alpha, seed)


def iid(labels: ArrayLike, n_parts: int, seed: int) -> Parts:
    """Shuffle all indices and cut them into ``n_parts`` parts of near-equal size."""
    y = _check_labels(labels)
    _check_n_parts(n_parts, y.size)
    rng = np.random.default_rng(_check_seed(seed))
    order = rng.permutation(y.size)
    return [np.sort(part).astype(np.int64) for part in np.array_split(order, n_parts)]


def dirichlet(labels: ArrayLike, n_parts: int, alpha: float, seed: int) -> Parts:
    """Label-skewed split: per class, shares drawn from a symmetric Dirichlet(alpha).

    Classes are processed in ascending label order.  A part left empty by the draw
    receives one index from the currently largest part (lowest part number on ties).
    """
    y = _check_labels(labels)
    _check_n_parts(n_parts, y.size)
    _check_alpha(alpha)
    rng = np.random.default_rng(_check_seed(seed))
    chunks: list[list[NDArray[np.int64]]] = [[] for _ in range(n_parts)]
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        shares = rng.dirichlet(np.full(n_parts, float(alpha)))
        for part, chunk in enumerate(_split_by_shares(members, shares)):
            chunks[part].append(chunk)
    parts = [np.sort(np.concatenate(c)).astype(np.int64) for c in chunks]
    _fill_empty_parts(parts)
    return parts


def _split_by_shares(members: NDArray[np.int64], shares: NDArray[np.float64]) -> Parts:
    cuts = np.floor(np.cumsum(shares)[:-1] * members.size).astype(np.int64)
    return np.split(members, np.clip(cuts, 0, members.size))


def _fill_empty_parts(parts: Parts) -> None:
    for part in range(len(parts)):
        if parts[part].size:
            continue
        donor = max(range(len(parts)), key=lambda p: (parts[p].size, -p))
        moved = parts[donor][-1]
        parts[donor] = parts[donor][:-1]
        parts[part] = np.array([moved], dtype=np.int64)


def _check_labels(labels: ArrayLike) -> NDArray[np.int64]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError("labels must be a non-empty 1-d array")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    return y.astype(np.int64)


def _check_n_parts(n_parts: int, n_samples: int) -> None:
    if isinstance(n_parts, bool) or not isinstance(n_parts, int | np.integer):
        raise ValueError(f"n_parts must be an integer, got {n_parts!r}")
    if not 1 <= n_parts <= n_samples:
        raise ValueError(f"n_parts={n_parts} must lie in [1, {n_samples}] so that no part is empty")


def _check_alpha(alpha: float) -> None:
    is_number = isinstance(alpha, int | float | np.integer | np.floating)
    if isinstance(alpha, bool) or not is_number or not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
