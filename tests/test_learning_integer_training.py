"""The integer training rule: exact, reproducible, and the fixed-point version of the
float computation it specifies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zkpot.learning import integer_training as it
from zkpot.learning.model import MLP

F = 16


def test_shift_round_is_half_up_for_every_sign():
    a = np.array([1, 2, 3, -1, -2, -3, 5, -5], dtype=np.int64)
    # /2: 0.5→1, 1→1, 1.5→2, -0.5→0, -1→-1, -1.5→-1, 2.5→3, -2.5→-2
    assert it.shift_round(a, 1).tolist() == [1, 1, 2, 0, -1, -1, 3, -2]
    assert it.shift_round(a, 0).tolist() == a.tolist()


def test_the_schedule_visits_every_sample_once_per_epoch_and_is_fixed_by_its_inputs():
    for n in (1, 2, 50, 64, 360, 997):
        a, b = it.schedule(n, 7, 1, 2)
        assert 1 <= a <= max(n - 1, 1) and 0 <= b < n and math.gcd(a, n) == 1
        epoch = it.sample_indices(n, a, b, 3 * n + 5, n)
        assert sorted(epoch.tolist()) == list(range(n))
    base = it.schedule(360, 7, 1, 2)
    assert base == it.schedule(360, 7, 1, 2)
    others = {it.schedule(360, 8, 1, 2), it.schedule(360, 7, 2, 2), it.schedule(360, 7, 1, 3)}
    assert base not in others
    rule = it.TrainingRule(batch_shift=5, epochs=20)
    assert it.steps_per_round(360, rule) == 20 * 360 // 32
    with pytest.raises(ValueError, match="round must be an int"):
        it.schedule(5, 1, -1, 0)
    with pytest.raises(ValueError, match="at least one sample"):
        it.schedule(0, 1, 0, 0)


def _small(seed: int = 0):
    rng = np.random.default_rng(seed)
    mlp = MLP((6, 5, 3), rng)
    q = rng.integers(0, 256, size=(8, 6))
    y = rng.integers(0, 3, size=8)
    return mlp, q, y


def test_squared_loss_gradients_are_the_float_gradients_in_fixed_point():
    mlp, q, y = _small()
    rule = it.TrainingRule(frac_bits=24, loss="squared", act_bits=8, grad_bits=8)
    params = it.from_float(mlp.get_params(), 24)
    grads = it.to_float(it.gradients(params, q, y, rule), 24)
    # The same computation in float: squared error against one-hot targets, summed.
    w0, b0, w1, b1 = it.to_float(params, 24)
    x = q / 256.0
    z = x @ w0 + b0
    h = np.maximum(z, 0)
    g = h @ w1 + b1 - np.eye(3)[y]
    expected = [x.T @ ((g @ w1.T) * (z > 0)), ((g @ w1.T) * (z > 0)).sum(0), h.T @ g, g.sum(0)]
    for got, want in zip(grads, expected, strict=True):
        assert np.allclose(got, want, atol=1e-4)


def test_the_lookup_free_softmax_approximates_softmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(20, 10))
    rule = it.TrainingRule()
    approx = it.softmax(it.from_float([logits], F)[0], rule) / 2.0**F
    exact = np.exp(logits - logits.max(1, keepdims=True))
    exact /= exact.sum(1, keepdims=True)
    # (1 + d/8)^8 is within 0.06 of e^d on [-8, 0]; normalised, within 0.12 here.
    assert np.abs(approx - exact).max() < 0.12
    assert np.all(approx.argmax(1) == exact.argmax(1))
    assert np.all(np.abs(approx.sum(1) - 1) < 1e-3)


def test_training_is_bit_for_bit_reproducible_and_moves_the_model():
    mlp, q, y = _small(2)
    rule = it.TrainingRule(batch_shift=2, epochs=2)
    start = it.from_float(mlp.get_params(), F)
    a = it.train(start, q, y, rule, task_seed=1, round=0, participant=0)
    b = it.train(start, q, y, rule, task_seed=1, round=0, participant=0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert any(not np.array_equal(u, v) for u, v in zip(a, start, strict=True))
    c = it.train(start, q, y, rule, task_seed=1, round=0, participant=1)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c, strict=True))


def test_weights_stay_in_their_range_and_hidden_activations_saturate():
    mlp, q, y = _small(3)
    rule = it.TrainingRule(batch_shift=0, lr_shift=0, weight_bits=0, act_bits=0)
    params = [p * 50 for p in it.from_float(mlp.get_params(), F)]
    trained = it.train(params, q, y, rule, task_seed=0, round=0, participant=0)
    top = (1 << F) - 1
    assert all(np.abs(p).max() <= top for p in trained)


def test_bad_inputs_are_refused():
    mlp, q, y = _small()
    rule = it.TrainingRule(input_bits=4)
    with pytest.raises(ValueError, match="4-bit integers"):
        it.train(
            it.from_float(mlp.get_params(), F), q, y, rule, task_seed=0, round=0, participant=0
        )
    with pytest.raises(ValueError, match="loss must be"):
        it.TrainingRule(loss="hinge")
    with pytest.raises(ValueError, match="positive sample count"):
        it.fedavg_fixed([it.from_float(mlp.get_params(), F)], [0])


def test_fixed_point_fedavg_is_the_rounded_weighted_mean():
    a = [np.array([1, -1, 3], dtype=np.int64)]
    b = [np.array([2, -2, 0], dtype=np.int64)]
    # (1·1 + 1·2)/2 = 1.5 → 2; (-1 - 2)/2 = -1.5 → -1; (3·3 + 0)/4 = 2.25 → 2
    assert it.fedavg_fixed([a, b], [1, 1])[0].tolist()[:2] == [2, -1]
    assert it.fedavg_fixed([a, b], [3, 1])[0].tolist()[2] == 2
