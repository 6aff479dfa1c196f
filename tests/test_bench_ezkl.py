"""Tests for zkpot.bench.ezkl_peer: the accuracy statement proven with ezkl as a benchmark peer.

ezkl and onnx are the optional ``bench`` extra; the tests that need them are skipped when
they are missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from zkpot.bench.ezkl_peer import (
    build_accuracy_onnx,
    ezkl_available,
    ezkl_prove_accuracy,
    onnx_count,
    reference_count,
)
from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.measure import train_reference
from zkpot.learning.model import MLP

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None,
    reason="onnx is not installed (pip install zkpot[bench])",
)
needs_ezkl = pytest.mark.skipif(
    not ezkl_available(), reason="ezkl is not installed (pip install zkpot[bench])"
)


def test_reference_count_matches_mlp() -> None:
    model = MLP((12, 7, 5, 4), np.random.default_rng(3))
    rng = np.random.default_rng(4)
    x = rng.random((40, 12))
    y = rng.integers(0, 4, 40)
    expected = int(np.sum(model.predict(x) == y))
    assert reference_count(model.weights, model.biases, x, y) == expected


def test_reference_count_rejects_bad_shapes() -> None:
    model = MLP((6, 3, 2), np.random.default_rng(0))
    x = np.full((4, 6), 0.5)
    with pytest.raises(ValueError, match="chain"):
        reference_count(model.weights[::-1], model.biases, x, np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="labels"):
        reference_count(model.weights, model.biases, x, np.full(4, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reference_count(model.weights, model.biases, x * 3, np.zeros(4, dtype=np.int64))


@needs_onnx
@pytest.mark.parametrize("widths", [(64, 16, 10), (20, 8, 6, 3)])
def test_onnx_graph_counts_like_numpy(tmp_path: Path, widths: tuple[int, ...]) -> None:
    import onnx

    model = MLP(widths, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    x = rng.random((30, widths[0]))
    # Labels chosen so that the count is neither 0 nor n.
    y = np.where(rng.random(30) < 0.5, model.predict(x), rng.integers(0, widths[-1], 30))
    path = tmp_path / "accuracy.onnx"
    onnx.save(build_accuracy_onnx(model.weights, model.biases, 30), str(path))
    expected = reference_count(model.weights, model.biases, x, y)
    assert 0 < expected < 30
    count, _ = onnx_count(path, x, y, use_onnxruntime=False)
    assert count == expected
    if importlib.util.find_spec("onnxruntime") is not None:
        count, evaluator = onnx_count(path, x, y, use_onnxruntime=True)
        assert count == expected
        assert evaluator.startswith("onnxruntime")


@pytest.mark.slow
@needs_ezkl
def test_ezkl_proves_digits_accuracy(tmp_path: Path) -> None:
    digits = load_dataset("digits")
    model = train_reference(digits, 16, 0)
    x_q, y = public_test_set(digits, 5, 7)
    x = x_q / 255.0
    expected = int(np.sum(model.predict(x) == y))

    result = ezkl_prove_accuracy(model.weights, model.biases, x, y, tmp_path)

    assert result["ezkl_verified"] is True
    assert result["numpy_count"] == expected
    assert result["ezkl_count"] == expected
    assert result["ezkl_param_visibility"] == "hashed"
    assert result["ezkl_prove_s"] > 0 and result["ezkl_setup_s"] > 0
    assert result["ezkl_peak_rss_mb"] > 0
    assert result["ezkl_pk_bytes"] > 0 and result["ezkl_proof_bytes"] > 0
    assert not (tmp_path / "pk.key").exists()
