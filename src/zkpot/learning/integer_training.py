"""The integer training rule: fixed-point minibatch SGD that a circuit can check exactly.

Every tensor is an int64 array holding ``round(v · 2^F)`` (``F = frac_bits``), and every
product of two such tensors is brought back with :func:`rescale` (round half up by a shift).
Nothing else rounds, so the same inputs give the same bits on every machine, and a circuit
that checks each step needs only products, shifts (a range check of the remainder) and the
clamps below. docs/training.md specifies it; this module is its NumPy reference.

One step on a batch of ``B = 2^batch_shift`` samples (inputs ``q`` of ``input_bits`` bits,
entering as ``x = q · 2^(F - input_bits)``):

* forward, per layer: ``z = rescale(a @ W) + b``; a hidden layer's output is
  ``clamp(z, 0, 2^(F + act_bits) - 1)`` (ReLU, saturating at ``2^act_bits``);
* loss gradient, lookup-free: cross-entropy's ``softmax(logits) - e_y`` with the
  exponential replaced by ``(1 + d / 2^k)^(2^k)`` on ``d = logit - max logit`` clamped at
  ``-2^k`` (:func:`softmax`), or with ``loss="squared"`` the squared error against the
  one-hot target, ``clamp(logits - 2^F · e_y, ±(2^(F + grad_bits) - 1))``;
* backward, per layer from the last: ``gW = rescale(aᵀ @ g)``, ``gb = Σ_batch g``, and for the
  layer below ``g = rescale(g @ Wᵀ) · [0 < z < 2^(F + act_bits) - 1]``;
* update: with momentum ``v ← v - rescale_m(v) + g`` (``μ = 1 - 2^-momentum_shift``), then
  ``W ← clamp(W - shift_round(v, lr_shift + batch_shift), ±(2^(F + weight_bits) - 1))``:
  the learning rate ``2^-lr_shift`` times the batch mean; without momentum one rounding,
  ``W ← clamp(W - shift_round(aᵀ @ g, F + lr_shift + batch_shift), …)`` (:func:`step`).

The round visits the samples in the order :func:`schedule` gives (an affine permutation
that anyone, a circuit included, recomputes from the task, round and participant):
``floor(epochs · n / B)`` steps over consecutive positions, every ``n`` positions an epoch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_RULES",
    "IntParams",
    "TrainingRule",
    "fedavg_fixed",
    "from_float",
    "gradients",
    "rescale",
    "sample_indices",
    "schedule",
    "shift_round",
    "softmax",
    "step",
    "steps_per_round",
    "to_float",
    "train",
]

IntArray = NDArray[np.int64]
#: ``[W_0, b_0, W_1, b_1, ...]`` in fixed point, laid out like ``MLP.get_params``.
IntParams = list[IntArray]

_SCHEDULE_DOMAIN = b"zkpot/schedule/v1\x00"


@dataclass(frozen=True)
class TrainingRule:
    """Everything a task fixes about local training (docs/training.md)."""

    frac_bits: int = 16
    input_bits: int = 8
    lr_shift: int = 4
    batch_shift: int = 5
    epochs: int = 1
    momentum_shift: int | None = 3
    act_bits: int = 4
    grad_bits: int = 4
    weight_bits: int = 3
    loss: str = "softmax"
    exp_shift: int = 3

    def __post_init__(self) -> None:
        for name in ("frac_bits", "input_bits", "lr_shift", "batch_shift", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if not 8 <= self.frac_bits <= 24:
            raise ValueError(f"frac_bits must be in 8..24, got {self.frac_bits}")
        if not 1 <= self.input_bits <= min(8, self.frac_bits):
            raise ValueError(f"input_bits must be in 1..8, got {self.input_bits}")
        if not 0 <= self.lr_shift <= 24 or not 0 <= self.batch_shift <= 12:
            raise ValueError("lr_shift must be in 0..24 and batch_shift in 0..12")
        if self.epochs < 1:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.momentum_shift is not None and not 1 <= self.momentum_shift <= 16:
            raise ValueError(f"momentum_shift must be in 1..16, got {self.momentum_shift}")
        if self.loss not in ("softmax", "squared"):
            raise ValueError(f"loss must be 'softmax' or 'squared', got {self.loss!r}")
        if not 1 <= self.exp_shift <= 8:
            raise ValueError(f"exp_shift must be in 1..8, got {self.exp_shift}")
        for name in ("act_bits", "grad_bits", "weight_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8:
                raise ValueError(f"{name} must be an int in 0..8, got {value!r}")

    @property
    def batch_size(self) -> int:
        return 1 << self.batch_shift

    @property
    def momentum(self) -> float:
        """``μ`` as a float (0 without momentum)."""
        return 0.0 if self.momentum_shift is None else 1.0 - 2.0**-self.momentum_shift


def shift_round(a: IntArray, shift: int) -> IntArray:
    """``floor((a + 2^(shift-1)) / 2^shift)``: division by ``2^shift``, rounded half up."""
    if shift == 0:
        return a.copy()
    return (a + (1 << (shift - 1))) >> shift


def rescale(a: IntArray, frac_bits: int) -> IntArray:
    """A product of two fixed-point tensors back to ``F`` fractional bits."""
    return shift_round(a, frac_bits)


def from_float(params: Sequence[ArrayLike], frac_bits: int) -> IntParams:
    """``round(v · 2^F)`` of every parameter (half away from zero, as ``np.rint`` is not)."""
    scale = float(1 << frac_bits)
    out = []
    for p in params:
        v = np.asarray(p, dtype=np.float64) * scale
        out.append((np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64))
    return out


def to_float(params: Sequence[IntArray], frac_bits: int) -> list[NDArray[np.float64]]:
    """The real values of fixed-point parameters."""
    return [np.asarray(p, dtype=np.float64) / float(1 << frac_bits) for p in params]


def schedule(n: int, task_seed: int, round: int, participant: int) -> tuple[int, int]:
    """The round's sample schedule ``(a, b)``: the sample at position ``p`` of the round (the
    ``j``-th of step ``t`` is at ``p = t · B + j``) is ``(a · p + b) mod n``.

    ``h = sha256(domain || task_seed u64 || round u32 || participant u32)`` (little endian,
    ``domain = b"zkpot/schedule/v1\\0"``); ``b`` is the integer of ``h[8:16]`` mod ``n``
    and ``a`` the first integer from ``1 + (h[0:8] mod (n - 1))`` up that is coprime to
    ``n`` (1 when ``n = 1``), so each ``n`` consecutive positions visit every sample once.
    Anyone holding the four numbers recomputes it (a circuit with one division per
    sample), so a participant cannot choose its batches."""
    for name, value, bound in (
        ("n", n, 2**32),
        ("task_seed", task_seed, 2**64),
        ("round", round, 2**32),
        ("participant", participant, 2**32),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            raise ValueError(f"{name} must be an int in [0, {bound}), got {value!r}")
    if n == 0:
        raise ValueError("a schedule needs at least one sample")
    h = hashlib.sha256(
        _SCHEDULE_DOMAIN
        + task_seed.to_bytes(8, "little")
        + round.to_bytes(4, "little")
        + participant.to_bytes(4, "little")
    ).digest()
    if n == 1:
        return 1, 0
    a = 1 + int.from_bytes(h[:8], "little") % (n - 1)
    while math.gcd(a, n) != 1:
        a += 1
    return a, int.from_bytes(h[8:16], "little") % n


def sample_indices(n: int, a: int, b: int, start: int, count: int) -> IntArray:
    """The samples at positions ``start .. start + count`` of a schedule ``(a, b)``."""
    p = np.arange(start, start + count, dtype=object)
    return np.array([(a * int(x) + b) % n for x in p], dtype=np.int64)


def steps_per_round(n: int, rule: TrainingRule) -> int:
    """SGD steps of a round on ``n`` samples: ``floor(epochs · n / B)`` (positions past the
    last full batch are not visited)."""
    return rule.epochs * n // rule.batch_size


def _clamp(a: IntArray, bits: int, rule: TrainingRule, low: int | None = None) -> IntArray:
    top = (1 << (rule.frac_bits + bits)) - 1
    return np.clip(a, -top if low is None else low, top)


def _forward(params: IntParams, x: IntArray, rule: TrainingRule) -> tuple[list[IntArray], IntArray]:
    """Every layer's input and every hidden pre-activation: ``([x, h_1, ...], [z_1, ...])``."""
    acts, pre = [x], []
    layers = len(params) // 2
    for layer in range(layers):
        z = rescale(acts[-1] @ params[2 * layer], rule.frac_bits) + params[2 * layer + 1]
        if layer == layers - 1:
            acts.append(z)
        else:
            pre.append(z)
            acts.append(_clamp(z, rule.act_bits, rule, low=0))
    return acts, pre


def softmax(logits: IntArray, rule: TrainingRule) -> IntArray:
    """Softmax of fixed-point logits without a lookup table: ``exp(d)`` for
    ``d = max(z - max z, -2^exp_shift)`` is ``(1 + d / 2^exp_shift)^(2^exp_shift)`` (a
    product of ``exp_shift`` squarings, each rescaled), and each probability is
    ``floor(e_j · 2^F / Σ e)``."""
    f, k = rule.frac_bits, rule.exp_shift
    d = logits - logits.max(axis=1, keepdims=True)
    d = np.maximum(d, -(1 << (f + k)))
    e = (1 << f) + shift_round(d, k)
    for _ in range(k):
        e = rescale(e * e, f)
    return (e << f) // e.sum(axis=1, keepdims=True)


def gradients(
    params: IntParams, q: IntArray, y: IntArray, rule: TrainingRule, *, rescaled: bool = True
) -> IntParams:
    """The summed gradient of one batch (inputs ``q``, labels ``y``), like ``params``; with
    ``rescaled=False`` the weight gradients are the sums ``aᵀ · g`` before their rescale (at
    ``2F`` fractional bits)."""
    f = rule.frac_bits
    x = q.astype(np.int64) << (f - rule.input_bits)
    acts, pre = _forward(params, x, rule)
    logits = acts.pop()
    target = np.zeros_like(logits)
    target[np.arange(len(y)), y] = 1 << f
    if rule.loss == "softmax":
        g = softmax(logits, rule) - target
    else:
        g = _clamp(logits - target, rule.grad_bits, rule)
    layers = len(params) // 2
    grads: IntParams = [np.empty(0, dtype=np.int64)] * len(params)
    for layer in reversed(range(layers)):
        gw = acts[layer].T @ g
        grads[2 * layer] = rescale(gw, f) if rescaled else gw
        grads[2 * layer + 1] = g.sum(axis=0)
        if layer:
            z = pre[layer - 1]
            live = (z > 0) & (z < (1 << (f + rule.act_bits)) - 1)
            g = rescale(g @ params[2 * layer].T, f) * live
    return grads


def train(
    params: Sequence[ArrayLike],
    q: ArrayLike,
    y: ArrayLike,
    rule: TrainingRule,
    *,
    task_seed: int,
    round: int,
    participant: int,
) -> IntParams:
    """Local training by the rule from fixed-point ``params`` on inputs ``q`` (``n x d``,
    ``input_bits``-bit integers) and labels ``y``; returns the last checkpoint."""
    current = [np.array(p, dtype=np.int64) for p in params]
    inputs = np.asarray(q)
    labels = np.asarray(y, dtype=np.int64)
    if inputs.ndim != 2 or inputs.shape[0] != labels.shape[0]:
        raise ValueError("q must be n x d with one label per row")
    if inputs.size and (inputs.min() < 0 or inputs.max() >= 1 << rule.input_bits):
        raise ValueError(f"inputs must be {rule.input_bits}-bit integers")
    velocity = [np.zeros_like(p) for p in current]
    b = rule.batch_size
    a, offset = schedule(len(labels), task_seed, round, participant)
    for t in range(steps_per_round(len(labels), rule)):
        batch = sample_indices(len(labels), a, offset, t * b, b)
        step(current, velocity, inputs[batch], labels[batch], rule)
    return current


def step(
    params: IntParams, velocity: IntParams, q: IntArray, y: IntArray, rule: TrainingRule
) -> None:
    """One SGD step on the batch ``(q, y)``, in place. With momentum: ``v ← v -
    shift_round(v, m) + g``, then ``W ← clamp(W - shift_round(v, lr_shift + batch_shift),
    ±(2^(F + weight_bits) - 1))``. Without: one rounding per parameter, ``W ← clamp(W -
    shift_round(aᵀ · g, F + lr_shift + batch_shift))`` for a weight and ``b ← clamp(b -
    shift_round(Σ g, lr_shift + batch_shift))`` for a bias (``velocity`` is not used)."""
    shift = rule.lr_shift + rule.batch_shift
    top = (1 << (rule.frac_bits + rule.weight_bits)) - 1
    momentum = rule.momentum_shift is not None
    grads = gradients(params, q, y, rule, rescaled=momentum)
    for t, (p, g) in enumerate(zip(params, grads, strict=True)):
        if momentum:
            v = velocity[t]
            v -= shift_round(v, rule.momentum_shift)
            v += g
            p -= shift_round(v, shift)
        else:
            p -= shift_round(g, shift + (rule.frac_bits if t % 2 == 0 else 0))
        np.clip(p, -top, top, out=p)


def fedavg_fixed(models: Sequence[Sequence[IntArray]], counts: Sequence[int]) -> IntParams:
    """The sample-weighted mean of fixed-point parameters, ``floor((2 Σ n_k p_k + N) / 2N)``
    coordinate-wise: the exact average, rounded half up."""
    if not models or len(models) != len(counts) or any(int(n) <= 0 for n in counts):
        raise ValueError("one positive sample count per model")
    total = sum(int(n) for n in counts)
    out = []
    for k in range(len(models[0])):
        acc = sum(
            int(n) * np.asarray(m[k], dtype=np.int64) for m, n in zip(models, counts, strict=True)
        )
        out.append((2 * acc + total) // (2 * total))
    return out


def _rule(
    input_bits: int, lr_shift: int, batch_shift: int, epochs: int, momentum_shift: int | None
) -> TrainingRule:
    return TrainingRule(
        input_bits=input_bits,
        lr_shift=lr_shift,
        batch_shift=batch_shift,
        epochs=epochs,
        momentum_shift=momentum_shift,
    )


#: The rule per dataset. MNIST and Fashion-MNIST: the float defaults of a run
#: (zkpot.defaults) in fixed point, learning rate 2^-4 for 0.05, momentum 1 - 2^-3 for 0.9,
#: batches of 64. Digits: plain SGD at 2^-1, batches of 32, 20 epochs, as accurate as
#: momentum there (docs/training.md) and cheaper to prove (no velocity, one rounding per
#: parameter).
DEFAULT_RULES: dict[str, TrainingRule] = {
    "digits": _rule(8, 1, 5, 20, None),
    "mnist": _rule(8, 4, 6, 1, 3),
    "fashion-mnist": _rule(8, 4, 6, 1, 3),
}
