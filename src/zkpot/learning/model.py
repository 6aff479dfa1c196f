"""The float multilayer perceptron every participant trains before quantising it.

``MLP`` is a plain NumPy (float64) network: fully connected layers with weights stored as
``(in, out)`` matrices, ReLU on every hidden layer and a softmax cross-entropy loss on the
logits.  Weights are He-initialised from a ``numpy.random.Generator`` and biases start at
zero.  :func:`train_sgd` is minibatch SGD with optional momentum.  Given the same seed and
data, initialisation and training are bit-identical from run to run.

Parameters are exchanged as a flat list ``[W_0, b_0, W_1, b_1, ...]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MLP", "train_sgd"]

Params = list[NDArray[np.float64]]


class MLP:
    """Fully connected ReLU network with widths such as ``(784, 32, 10)``."""

    def __init__(self, widths: Sequence[int], rng: np.random.Generator) -> None:
        self.widths = _check_widths(widths)
        self.weights: Params = []
        self.biases: Params = []
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:], strict=True):
            std = np.sqrt(2.0 / fan_in)
            self.weights.append(rng.standard_normal((fan_in, fan_out)) * std)
            self.biases.append(np.zeros(fan_out))

    @classmethod
    def from_params(cls, params: Sequence[ArrayLike]) -> MLP:
        """Build a network from ``[W_0, b_0, W_1, b_1, ...]`` (widths are inferred)."""
        arrays = [np.asarray(p, dtype=np.float64) for p in params]
        if len(arrays) < 2 or len(arrays) % 2 or any(w.ndim != 2 for w in arrays[::2]):
            raise ValueError("params must be [W_0, b_0, W_1, b_1, ...] with 2-d weights")
        widths = [arrays[0].shape[0], *(w.shape[1] for w in arrays[::2])]
        model = cls(widths, np.random.default_rng(0))
        model.set_params(arrays)
        return model

    @property
    def num_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.weights)

    def get_params(self) -> Params:
        """Copies of ``[W_0, b_0, W_1, b_1, ...]``."""
        return [p.copy() for p in self.parameters()]

    def set_params(self, params: Sequence[ArrayLike]) -> None:
        """Replace all parameters; shapes must match the network's widths."""
        if len(params) != 2 * self.num_layers:
            raise ValueError(f"expected {2 * self.num_layers} arrays, got {len(params)}")
        new = [np.array(p, dtype=np.float64) for p in params]
        for current, replacement in zip(self.parameters(), new, strict=True):
            if current.shape != replacement.shape:
                raise ValueError(f"shape {replacement.shape} does not match {current.shape}")
            if not np.all(np.isfinite(replacement)):
                raise ValueError("parameters must be finite")
        self.weights = new[0::2]
        self.biases = new[1::2]

    def parameters(self) -> Params:
        """The live parameter arrays ``[W_0, b_0, ...]`` (updated in place by training)."""
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def forward(self, x: ArrayLike) -> NDArray[np.float64]:
        """Logits of shape ``(n, widths[-1])``."""
        return self._activations(self._inputs(x))[-1]

    def predict(self, x: ArrayLike) -> NDArray[np.int64]:
        """Predicted classes (argmax of the logits, lowest index on ties)."""
        return np.argmax(self.forward(x), axis=1).astype(np.int64)

    def accuracy(self, x: ArrayLike, y: ArrayLike) -> float:
        """Fraction of samples whose prediction equals the label."""
        return float(np.mean(self.predict(x) == np.asarray(y)))

    def loss_and_grads(self, x: ArrayLike, y: ArrayLike) -> tuple[float, Params]:
        """Mean cross-entropy over the batch and its gradient, laid out like ``get_params``."""
        inputs = self._inputs(x)
        labels = np.asarray(y, dtype=np.int64)
        acts = self._activations(inputs)
        log_probs = _log_softmax(acts[-1])
        batch = inputs.shape[0]
        loss = -float(np.mean(log_probs[np.arange(batch), labels]))
        delta = np.exp(log_probs)
        delta[np.arange(batch), labels] -= 1.0
        delta /= batch
        grads: Params = [np.empty(0)] * (2 * self.num_layers)
        for layer in reversed(range(self.num_layers)):
            grads[2 * layer] = acts[layer].T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer:
                delta = (delta @ self.weights[layer].T) * (acts[layer] > 0)
        return loss, grads

    def _inputs(self, x: ArrayLike) -> NDArray[np.float64]:
        inputs = np.asarray(x, dtype=np.float64)
        if inputs.ndim != 2 or inputs.shape[1] != self.widths[0]:
            raise ValueError(f"inputs must have shape (n, {self.widths[0]}), got {inputs.shape}")
        return inputs

    def _activations(self, inputs: NDArray[np.float64]) -> Params:
        """``[x, h_1, ..., h_{L-1}, logits]``: the input of every layer, then the logits."""
        acts = [inputs]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = acts[-1] @ w + b
            acts.append(z if layer == self.num_layers - 1 else np.maximum(z, 0.0))
        return acts


def initial_model(widths: Sequence[int], seed: int) -> MLP:
    """A task's initial global model: the MLP drawn from ``seed`` (the stream ``[seed, 0]``),
    the same for the publisher, every participant and the plain-FedAvg baseline."""
    return MLP(tuple(widths), np.random.default_rng([seed, 0]))


def train_sgd(
    model: MLP,
    x: ArrayLike,
    y: ArrayLike,
    epochs: int,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
    momentum: float = 0.0,
) -> list[float]:
    """Minibatch SGD (optionally with heavy-ball momentum); returns the mean loss per epoch.

    Each epoch visits the samples in the order ``rng.permutation(n)``; the last batch may
    be smaller.  Per batch: ``v = momentum * v + g`` then ``p -= lr * v``.
    """
    inputs = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    _check_training_args(model, inputs, labels, epochs, lr, batch_size, momentum)
    params = model.parameters()
    velocity = [np.zeros_like(p) for p in params]
    history = []
    for _ in range(epochs):
        order = rng.permutation(labels.size)
        total = 0.0
        for start in range(0, labels.size, batch_size):
            batch = order[start : start + batch_size]
            loss, grads = model.loss_and_grads(inputs[batch], labels[batch])
            _momentum_step(params, grads, velocity, lr, momentum)
            total += loss * batch.size
        history.append(total / labels.size)
    return history


def _momentum_step(
    params: Params, grads: Params, velocity: Params, lr: float, momentum: float
) -> None:
    for p, g, v in zip(params, grads, velocity, strict=True):
        v *= momentum
        v += g
        p -= lr * v


def _log_softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    values = tuple(widths)
    if len(values) < 2 or any(
        isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 1 for w in values
    ):
        raise ValueError(f"widths must be at least two positive integers, got {widths!r}")
    return tuple(int(w) for w in values)


def _check_training_args(
    model: MLP,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    epochs: int,
    lr: float,
    batch_size: int,
    momentum: float,
) -> None:
    if x.ndim != 2 or x.shape[1] != model.widths[0] or y.shape != (x.shape[0],):
        raise ValueError(f"need x of shape (n, {model.widths[0]}) and n labels")
    if y.size == 0 or int(y.min()) < 0 or int(y.max()) >= model.widths[-1]:
        raise ValueError(f"need at least one sample and labels in [0, {model.widths[-1]})")
    if epochs < 0 or batch_size < 1:
        raise ValueError("epochs must be >= 0 and batch_size >= 1")
    if not lr > 0 or not 0 <= momentum < 1:
        raise ValueError("lr must be > 0 and momentum in [0, 1)")
