"""Model inversion: what each observer of a federation can reconstruct of a class.

The attack (Fredrikson et al.'s MI-FACE, for an MLP): starting from a prior image, descend
the gradient of the cross-entropy of class ``c`` with respect to the *input*, projected on
``[0, 1]`` and with an L2 pull back towards the prior. The prior is the mean image of the
task's public test set, which every observer has. The result is the model's
representative of ``c``; it is scored against the class mean of the training split, the
class representative the participants' data would reveal: by MSE, by SSIM, and by whether
its nearest class mean is its own class (chance: one class in ten).

Each observer attacks what it holds, in the same small federation as the
membership-inference experiment (:mod:`zkpot.attacks.privacy`):

* the plain-FL server and the ZKPoT round leader hold every participant's local model
  (the leader decrypts the packages to aggregate them);
* any participant holds the global model;
* an outside observer of ZKPoT holds only commitments (salted Poseidon hashes), proven
  counts and zero-knowledge proofs. None of them can be evaluated on an input, so there is
  no gradient to follow: its best reconstruction is one that uses no model, the mean of
  the public test set the task publishes, the same image for every class. The public test
  set's own class means are shown too: what every task reveals by design.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from zkpot.attacks.privacy import PrivacyConfig, _Setup
from zkpot.learning.integer_model import input_scale
from zkpot.learning.model import MLP

__all__ = [
    "InversionResult",
    "InversionRow",
    "inversion_markdown",
    "inversion_table",
    "invert",
    "plot_inversion",
    "run_inversion",
    "ssim",
]

Images = NDArray[np.float64]


def _input_gradient(model: MLP, x: Images, classes: NDArray[np.int64]) -> Images:
    """d cross-entropy(model(x), classes) / d x, for a batch."""
    activations, pre = [x], []
    for layer, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        z = activations[-1] @ w + b
        pre.append(z)
        activations.append(np.maximum(z, 0.0) if layer < model.num_layers - 1 else z)
    logits = activations[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = p
    grad[np.arange(classes.size), classes] -= 1.0
    for layer in range(model.num_layers - 1, -1, -1):
        if layer < model.num_layers - 1:
            grad = grad * (pre[layer] > 0)
        grad = grad @ model.weights[layer].T
    return grad


def invert(
    model: MLP, prior: Images, steps: int = 200, lr: float = 0.05, l2: float = 0.1
) -> Images:
    """One reconstruction per class (rows) from ``prior``, each pixel in [0, 1]."""
    classes = np.arange(model.widths[-1], dtype=np.int64)
    x = np.repeat(prior[None, :], classes.size, axis=0)
    for _ in range(steps):
        step = _input_gradient(model, x, classes) + l2 * (x - prior)
        x = np.clip(x - lr * step, 0.0, 1.0)
    return x


def ssim(a: Images, b: Images) -> float:
    """Structural similarity of two images in [0, 1], one window over the whole image."""
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = a.mean(), b.mean()
    cov = ((a - mu_a) * (b - mu_b)).mean()
    return float(
        (2 * mu_a * mu_b + c1)
        * (2 * cov + c2)
        / ((mu_a**2 + mu_b**2 + c1) * (a.var() + b.var() + c2))
    )


@dataclass(frozen=True)
class InversionRow:
    """One observer's reconstructions, against the class means: mean over classes."""

    setting: str
    observer: str
    holds: str
    mse: float
    ssim: float
    #: Share of classes whose reconstruction is nearest (MSE) to its own class mean.
    identified: float


@dataclass
class InversionResult:
    config: PrivacyConfig
    rows: list[InversionRow]
    class_means: Images
    #: Reconstructions per row (classes x pixels), in row order, for the figure.
    images: list[Images]

    def row(self, setting: str, observer_prefix: str) -> InversionRow:
        for r in self.rows:
            if r.setting == setting and r.observer.startswith(observer_prefix):
                return r
        raise KeyError(f"no row for {setting!r} / {observer_prefix!r}")

    def to_json(self) -> list[dict[str, object]]:
        return [vars(r) for r in self.rows]


def _score(images: Sequence[Images], means: Images) -> tuple[float, float, float]:
    """Mean MSE, SSIM and identification rate over models and classes."""
    classes = range(len(means))
    mse = [float(np.mean((x[c] - means[c]) ** 2)) for x in images for c in classes]
    sim = [ssim(x[c], means[c]) for x in images for c in classes]
    nearest = [((x[:, None, :] - means[None]) ** 2).mean(axis=2).argmin(axis=1) for x in images]
    hits = [float(np.mean(n == np.arange(len(means)))) for n in nearest]
    return float(np.mean(mse)), float(np.mean(sim)), float(np.mean(hits))


def run_inversion(config: PrivacyConfig) -> InversionResult:
    """Train the federation as plain FL and as ZKPoT; invert what each observer holds."""
    setup = _Setup(config)
    classes = setup.task.spec.widths[-1]
    x_train, y_train = setup.data.x_train.astype(np.float64), setup.data.y_train
    means = np.stack([x_train[y_train == c].mean(axis=0) for c in range(classes)])
    plain = setup.federate(config.training, zkpot=False)
    zk = setup.federate(config.training, zkpot=True)
    opened = [MLP.from_params(q.dequantize()) for q in zk.quantised]
    public_x = setup.task.test_x * input_scale(setup.task.spec)
    public_y = setup.task.test_y
    prior = public_x.mean(axis=0)
    blind = np.repeat(prior[None, :], classes, axis=0)
    public_means = np.stack(
        [public_x[public_y == c].mean(axis=0) if np.any(public_y == c) else blind[0]
         for c in range(classes)]
    )  # fmt: skip
    entries: list[tuple[str, str, str, list[Images]]] = [
        ("plain FL", "server", "every local model", [invert(m, prior) for m in plain.local]),
        ("plain FL", "any participant", "the global model",
         [invert(MLP.from_params(plain.global_params), prior)]),
        ("ZKPoT", "round leader", "every local model (opened packages)",
         [invert(m, prior) for m in opened]),
        ("ZKPoT", "any participant", "the global model",
         [invert(MLP.from_params(zk.global_params), prior)]),
        ("ZKPoT", "outside observer", "commitments, counts, proofs: no model to invert",
         [blind]),
        ("any task", "anyone", "the public test set's class means (published)", [public_means]),
    ]  # fmt: skip
    rows = [
        InversionRow(setting, observer, holds, *_score(images, means))
        for setting, observer, holds, images in entries
    ]
    return InversionResult(config, rows, means, [images[0] for *_, images in entries])


def inversion_markdown(result: InversionResult) -> str:
    lines = [
        "| setting | observer | what it inverts | MSE to class mean | SSIM to class mean "
        "| nearest mean is its class |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.setting} | {r.observer} | {r.holds} | {r.mse:.4f} | {r.ssim:.3f} "
        f"| {100 * r.identified:.0f}% |"
        for r in result.rows
    ]
    return "\n".join(lines) + "\n"


def inversion_table(result: InversionResult) -> object:
    from rich.table import Table

    table = Table(title="Model inversion against the class means", header_style="bold")
    numbers = ("MSE", "SSIM", "identified")
    for name in ("setting", "observer", "what it inverts", *numbers):
        table.add_column(name, justify="right" if name in numbers else "left")
    for r in result.rows:
        scores = (f"{r.mse:.4f}", f"{r.ssim:.3f}", f"{100 * r.identified:.0f}%")
        table.add_row(r.setting, r.observer, r.holds, *scores)
    return table


def plot_inversion(result: InversionResult, path: Path) -> Path:
    """The class means (top row) and each observer's reconstructions below them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = math.isqrt(result.class_means.shape[1])
    rows = [("class mean", result.class_means)] + [
        (f"{r.setting}: {r.observer}", img)
        for r, img in zip(result.rows, result.images, strict=True)
    ]
    fig, axes = plt.subplots(len(rows), result.class_means.shape[0], figsize=(10, 1.1 * len(rows)))
    for k, (label, images) in enumerate(rows):
        for c, ax in enumerate(axes[k]):
            ax.imshow(images[c].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[k][0].set_ylabel(label, fontsize=6, rotation=0, ha="right", va="center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
