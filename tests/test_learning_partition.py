"""Tests for zkpot.learning.partition: coverage, determinism, skew and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpot.learning import partition

LABELS = np.repeat(np.arange(10), 60)  # 600 samples, 10 balanced classes


def _assert_partition(parts: list[np.ndarray], n: int, n_parts: int) -> None:
    assert len(parts) == n_parts
    assert all(p.dtype == np.int64 and p.size > 0 for p in parts)
    assert all(np.all(np.diff(p) > 0) for p in parts)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))


def _label_skew(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean total-variation distance between each part's label histogram and the global one."""
    classes = int(labels.max()) + 1
    overall = np.bincount(labels, minlength=classes) / labels.size
    distances = [
        0.5 * np.abs(np.bincount(labels[p], minlength=classes) / p.size - overall).sum()
        for p in parts
    ]
    return float(np.mean(distances))


def test_iid_covers_all_indices_with_balanced_sizes() -> None:
    parts = partition.iid(LABELS, 7, seed=3)
    _assert_partition(parts, LABELS.size, 7)
    sizes = [p.size for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_iid_is_deterministic_per_seed() -> None:
    a = partition.iid(LABELS, 5, seed=11)
    b = partition.iid(LABELS, 5, seed=11)
    c = partition.iid(LABELS, 5, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_dirichlet_covers_all_indices_and_is_deterministic() -> None:
    a = partition.dirichlet(LABELS, 8, alpha=0.5, seed=4)
    b = partition.dirichlet(LABELS, 8, alpha=0.5, seed=4)
    c = partition.dirichlet(LABELS, 8, alpha=0.5, seed=5)
    _assert_partition(a, LABELS.size, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_dirichlet_skew_grows_as_alpha_shrinks() -> None:
    skews = []
    for alpha in (100.0, 1.0, 0.05):
        per_seed = [
            _label_skew(LABELS, partition.dirichlet(LABELS, 10, alpha, seed)) for seed in range(5)
        ]
        skews.append(float(np.mean(per_seed)))
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 0.15 and skews[2] > 0.6
    iid_skew = np.mean([_label_skew(LABELS, partition.iid(LABELS, 10, s)) for s in range(5)])
    assert iid_skew < skews[1]


def test_dirichlet_tiny_alpha_leaves_no_part_empty() -> None:
    labels = np.repeat(np.arange(3), 20)
    parts = partition.dirichlet(labels, 60, alpha=0.001, seed=0)
    _assert_partition(parts, labels.size, 60)
    assert all(p.size == 1 for p in parts)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=1, max_size=80),
    data=st.data(),
    alpha=st.floats(0.01, 50.0),
    seed=st.integers(0, 2**32),
)
def test_partitions_property(
    labels: list[int], data: st.DataObject, alpha: float, seed: int
) -> None:
    y = np.array(labels)
    n_parts = data.draw(st.integers(1, y.size))
    _assert_partition(partition.iid(y, n_parts, seed), y.size, n_parts)
    _assert_partition(partition.dirichlet(y, n_parts, alpha, seed), y.size, n_parts)


@pytest.mark.parametrize(
    ("labels", "n_parts", "message"),
    [
        (LABELS, 0, "n_parts"),
        (LABELS, LABELS.size + 1, "n_parts"),
        (LABELS, 2.0, "integer"),
        (LABELS, True, "integer"),
        (np.array([]), 1, "non-empty"),
        (LABELS.reshape(60, 10), 2, "1-d"),
        (LABELS.astype(float), 2, "integers"),
    ],
)
def test_invalid_arguments(labels: np.ndarray, n_parts: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition.iid(labels, n_parts, seed=0)
    with pytest.raises(ValueError, match=message):
        partition.dirichlet(labels, n_parts, alpha=1.0, seed=0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf"), True])
def test_invalid_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        partition.dirichlet(LABELS, 3, alpha, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_invalid_seed(seed: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        partition.iid(LABELS, 3, seed)
