"""Tests for zkpot.learning.model (MLP, SGD) and zkpot.learning.fedavg."""

from __future__ import annotations

import numpy as np
import pytest

from zkpot.learning.datasets import Dataset, load_digits
from zkpot.learning.fedavg import fedavg
from zkpot.learning.model import MLP, train_sgd


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


def _train(digits: Dataset, seed: int, momentum: float = 0.9) -> MLP:
    rng = np.random.default_rng(seed)
    model = MLP((64, 16, 10), rng)
    train_sgd(model, digits.x_train, digits.y_train, 3, 0.02, 32, rng, momentum=momentum)
    return model


def test_init_shapes_and_he_scale() -> None:
    model = MLP((784, 64, 10), np.random.default_rng(0))
    shapes = [p.shape for p in model.get_params()]
    assert shapes == [(784, 64), (64,), (64, 10), (10,)]
    assert model.num_layers == 2
    assert np.all(model.biases[0] == 0) and np.all(model.biases[1] == 0)
    assert abs(model.weights[0].std() - np.sqrt(2 / 784)) < 0.002
    assert abs(model.weights[1].std() - np.sqrt(2 / 64)) < 0.02


@pytest.mark.parametrize("widths", [(5,), (5, 0, 3), (5, 2.0, 3), (True, 3)])
def test_invalid_widths(widths: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="widths"):
        MLP(widths, np.random.default_rng(0))


def test_training_is_bit_identical_per_seed(digits: Dataset) -> None:
    a = _train(digits, seed=5).get_params()
    b = _train(digits, seed=5).get_params()
    c = _train(digits, seed=6).get_params()
    assert [p.tobytes() for p in a] == [p.tobytes() for p in b]
    assert not np.array_equal(a[0], c[0])


def test_training_learns_digits(digits: Dataset) -> None:
    rng = np.random.default_rng(0)
    model = MLP((64, 32, 10), rng)
    before = model.accuracy(digits.x_test, digits.y_test)
    history = train_sgd(model, digits.x_train, digits.y_train, 10, 0.01, 32, rng, momentum=0.9)
    assert len(history) == 10 and history[-1] < history[0] / 5
    assert before < 0.3 and model.accuracy(digits.x_test, digits.y_test) > 0.88


def test_plain_sgd_step_matches_gradient() -> None:
    rng = np.random.default_rng(1)
    model = MLP((3, 4, 2), rng)
    x = rng.random((5, 3))
    y = np.array([0, 1, 1, 0, 1])
    start = model.get_params()
    _, grads = model.loss_and_grads(x, y)
    train_sgd(model, x, y, 1, 0.1, 5, np.random.default_rng(0))
    for before, after, g in zip(start, model.get_params(), grads, strict=True):
        assert np.allclose(after, before - 0.1 * g, rtol=1e-12, atol=1e-15)


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(2)
    model = MLP((4, 5, 3, 3), rng)
    for b in model.biases:
        b += rng.normal(0, 0.1, b.shape)  # move pre-activations away from ReLU kinks
    x = rng.random((6, 4))
    y = np.array([0, 1, 2, 2, 1, 0])
    _, grads = model.loss_and_grads(x, y)
    params = model.parameters()
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        for index in np.ndindex(p.shape):
            saved = p[index]
            p[index] = saved + eps
            up, _ = model.loss_and_grads(x, y)
            p[index] = saved - eps
            down, _ = model.loss_and_grads(x, y)
            p[index] = saved
            assert abs((up - down) / (2 * eps) - g[index]) < 1e-6


def test_params_round_trip_and_from_params() -> None:
    model = MLP((6, 4, 3), np.random.default_rng(3))
    params = model.get_params()
    params[0][0, 0] = 123.0
    assert model.weights[0][0, 0] != 123.0  # get_params returns copies
    model.set_params(params)
    assert model.weights[0][0, 0] == 123.0
    clone = MLP.from_params(params)
    assert clone.widths == (6, 4, 3)
    x = np.random.default_rng(4).random((7, 6))
    assert np.array_equal(clone.forward(x), model.forward(x))


def test_set_params_validation() -> None:
    model = MLP((6, 4, 3), np.random.default_rng(3))
    params = model.get_params()
    with pytest.raises(ValueError, match="expected 4 arrays"):
        model.set_params(params[:3])
    with pytest.raises(ValueError, match="shape"):
        model.set_params([params[0].T, *params[1:]])
    params[1][0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model.set_params(params)


def test_predict_breaks_ties_to_lowest_index() -> None:
    model = MLP((2, 3), np.random.default_rng(0))
    model.set_params([np.zeros((2, 3)), np.array([1.0, 2.0, 2.0])])
    assert model.predict(np.zeros((4, 2))).tolist() == [1, 1, 1, 1]
    assert model.accuracy(np.zeros((2, 2)), np.array([1, 2])) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"y": np.array([0, 5])}, "labels"),
        ({"x": np.zeros((2, 3))}, "shape"),
    ],
)
def test_train_sgd_validation(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "x": np.zeros((2, 2)),
        "y": np.array([0, 1]),
        "epochs": 1,
        "lr": 0.1,
        "batch_size": 1,
        "momentum": 0.0,
    }
    args.update(kwargs)
    model = MLP((2, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        train_sgd(model, rng=np.random.default_rng(0), **args)  # type: ignore[arg-type]


def test_fedavg_weighted_mean() -> None:
    a = [np.array([[1.0, 2.0]]), np.array([0.0])]
    b = [np.array([[3.0, 6.0]]), np.array([4.0])]
    avg = fedavg([a, b], [1, 3])
    assert np.array_equal(avg[0], np.array([[2.5, 5.0]]))
    assert np.array_equal(avg[1], np.array([3.0]))
    assert all(p.dtype == np.float64 for p in avg)


def test_fedavg_of_one_model_and_of_identical_models() -> None:
    params = MLP((5, 3, 2), np.random.default_rng(0)).get_params()
    assert all(np.array_equal(x, y) for x, y in zip(fedavg([params], [7]), params, strict=True))
    twice = fedavg([params, params, params], [1, 1, 1])
    assert all(np.allclose(x, y, rtol=1e-15) for x, y in zip(twice, params, strict=True))


def test_fedavg_is_deterministic_and_order_defined() -> None:
    rng = np.random.default_rng(9)
    models = [MLP((8, 4, 3), rng).get_params() for _ in range(4)]
    counts = [13, 7, 21, 2]
    first = fedavg(models, counts)
    second = fedavg(models, counts)
    assert [p.tobytes() for p in first] == [p.tobytes() for p in second]
    reordered = fedavg(models[::-1], counts[::-1])
    assert all(np.allclose(x, y, rtol=1e-12) for x, y in zip(first, reordered, strict=True))
    expected = sum(c * m[0] for c, m in zip(counts, models, strict=True)) / sum(counts)
    assert np.allclose(first[0], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("models", "weights", "message"),
    [
        ([], [], "at least one"),
        ([[np.zeros(2)]], [1, 2], "weights"),
        ([[np.zeros(2)], [np.zeros(3)]], [1, 1], "layout"),
        ([[np.zeros(2)], [np.zeros(2), np.zeros(1)]], [1, 1], "layout"),
        ([[np.zeros(2)]], [0], "positive"),
        ([[np.zeros(2)]], [1.5], "positive"),
        ([[np.array([np.inf, 0.0])]], [1], "non-finite"),
    ],
)
def test_fedavg_validation(
    models: list[list[np.ndarray]], weights: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fedavg(models, weights)
