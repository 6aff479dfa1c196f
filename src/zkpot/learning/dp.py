"""DP-SGD for the NumPy MLP, and its privacy accounting.

:func:`train_dp_sgd` is the Gaussian mechanism of Abadi et al. applied to minibatch SGD:
each step draws a Poisson sample (every example independently with probability
``q = batch_size / n``), computes one gradient per example, clips each to L2 norm
``clip_norm`` (over all parameters at once), sums them, adds ``N(0, (noise_multiplier *
clip_norm)^2)`` to every coordinate and divides by the expected batch size ``q * n``.
Momentum is applied to the noisy gradient (post-processing). An epoch is
``round(n / batch_size)`` steps.

The privacy guarantee is per training example of one participant, over everything that
participant ever releases (all rounds): the releases are an adaptive composition of
``steps`` Poisson-subsampled Gaussian mechanisms. :func:`dp_epsilon` and
:func:`noise_for_epsilon` compute it with the RDP accountant of Google's ``dp-accounting``
package (``pip install zkpot[privacy]``); nothing here implements its own accountant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zkpot.learning.model import MLP

__all__ = [
    "DPConfig",
    "dp_epsilon",
    "dp_steps",
    "noise_for_epsilon",
    "per_example_grads",
    "sample_rate",
    "train_dp_sgd",
]

Params = list[NDArray[np.float64]]

#: Integer Renyi orders for the accountant (fractional orders of the default list do not
#: always converge for large sampling rates).
RDP_ORDERS: tuple[float, ...] = (*range(2, 129), 160.0, 192.0, 256.0, 512.0, 1024.0)


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD parameters: the Gaussian noise multiplier and the per-example clipping norm."""

    noise_multiplier: float
    clip_norm: float = 1.0

    def __post_init__(self) -> None:
        if not self.noise_multiplier >= 0 or not math.isfinite(self.noise_multiplier):
            raise ValueError("noise_multiplier must be finite and >= 0")
        if not self.clip_norm > 0 or not math.isfinite(self.clip_norm):
            raise ValueError("clip_norm must be finite and > 0")


def sample_rate(n: int, batch_size: int) -> float:
    """Poisson sampling probability of one example in one step."""
    if n < 1 or batch_size < 1:
        raise ValueError("need n >= 1 and batch_size >= 1")
    return min(1.0, batch_size / n)


def dp_steps(n: int, epochs: int, batch_size: int) -> int:
    """DP-SGD steps for ``epochs`` epochs over ``n`` examples."""
    if epochs < 0:
        raise ValueError("epochs must be >= 0")
    return epochs * max(1, round(n / batch_size))


def per_example_grads(model: MLP, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], Params]:
    """Cross-entropy loss of every example and its gradient, each array with a leading
    example axis, laid out like ``model.get_params()``."""
    inputs = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    acts = [inputs]
    for layer, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        z = acts[-1] @ w + b
        acts.append(z if layer == model.num_layers - 1 else np.maximum(z, 0.0))
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(labels.size)
    losses = -log_probs[rows, labels]
    delta = np.exp(log_probs)
    delta[rows, labels] -= 1.0
    grads: Params = [np.empty(0)] * (2 * model.num_layers)
    for layer in reversed(range(model.num_layers)):
        grads[2 * layer] = np.einsum("bi,bj->bij", acts[layer], delta)
        grads[2 * layer + 1] = delta.copy()
        if layer:
            delta = (delta @ model.weights[layer].T) * (acts[layer] > 0)
    return losses, grads


def train_dp_sgd(
    model: MLP,
    x: ArrayLike,
    y: ArrayLike,
    epochs: int,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
    dp: DPConfig,
    momentum: float = 0.0,
) -> list[float]:
    """DP-SGD with Poisson sampling; returns the mean (non-private) loss per epoch.

    The guarantee of a whole training is ``dp_epsilon(dp.noise_multiplier,
    sample_rate(n, batch_size), dp_steps(n, epochs, batch_size), delta)``.
    """
    inputs = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    n = labels.size
    if inputs.ndim != 2 or inputs.shape[0] != n or n == 0:
        raise ValueError("need x of shape (n, d) with n >= 1 and n labels")
    if not lr > 0 or not 0 <= momentum < 1 or batch_size < 1 or epochs < 0:
        raise ValueError("need lr > 0, momentum in [0, 1), batch_size >= 1, epochs >= 0")
    q = sample_rate(n, batch_size)
    per_epoch = dp_steps(n, 1, batch_size)
    params = model.parameters()
    velocity = [np.zeros_like(p) for p in params]
    sigma = dp.noise_multiplier * dp.clip_norm
    history = []
    for _ in range(epochs):
        total, seen = 0.0, 0
        for _ in range(per_epoch):
            batch = np.flatnonzero(rng.random(n) < q)
            noisy = [np.zeros_like(p) for p in params]
            if batch.size:
                losses, grads = per_example_grads(model, inputs[batch], labels[batch])
                total += float(losses.sum())
                seen += batch.size
                squares = [np.square(g).reshape(batch.size, -1).sum(axis=1) for g in grads]
                norms = np.sqrt(np.sum(squares, axis=0))
                factors = 1.0 / np.maximum(1.0, norms / dp.clip_norm)
                for acc, g in zip(noisy, grads, strict=True):
                    acc += np.tensordot(factors, g, axes=1)
            for acc in noisy:
                acc += rng.normal(0.0, sigma, size=acc.shape)
                acc /= q * n
            for p, g, v in zip(params, noisy, velocity, strict=True):
                v *= momentum
                v += g
                p -= lr * v
        history.append(total / max(seen, 1))
    return history


def _accounting() -> Any:
    try:
        import dp_accounting
    except ImportError as exc:  # pragma: no cover - the privacy extra is not installed
        raise ImportError(
            "privacy accounting needs Google's dp-accounting: pip install 'zkpot[privacy]'"
        ) from exc
    return dp_accounting


def _event(noise_multiplier: float, q: float, steps: int) -> Any:
    dpa = _accounting()
    return dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(noise_multiplier)), steps
    )


def dp_epsilon(noise_multiplier: float, q: float, steps: int, delta: float) -> float:
    """(epsilon, delta)-DP of ``steps`` Poisson-sampled Gaussian steps (RDP accountant)."""
    if not 0 < delta < 1:
        raise ValueError("delta must lie in (0, 1)")
    if steps == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    dpa = _accounting()
    accountant = dpa.rdp.RdpAccountant(orders=list(RDP_ORDERS))
    return float(accountant.compose(_event(noise_multiplier, q, steps)).get_epsilon(delta))


def noise_for_epsilon(target_epsilon: float, q: float, steps: int, delta: float) -> float:
    """The smallest noise multiplier whose training meets ``(target_epsilon, delta)``."""
    if not target_epsilon > 0:
        raise ValueError("target_epsilon must be > 0")
    dpa = _accounting()
    sigma = dpa.calibrate_dp_mechanism(
        lambda: dpa.rdp.RdpAccountant(orders=list(RDP_ORDERS)),
        lambda s: _event(s, q, steps),
        target_epsilon,
        delta,
        dpa.LowerEndpointAndGuess(1e-3, 1.0),
    )
    return float(sigma)
