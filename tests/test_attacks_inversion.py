"""Model inversion by each observer, and membership inference at low false-positive rates."""

from __future__ import annotations

import numpy as np
import pytest

from zkpot.attacks.inversion import _input_gradient, run_inversion, ssim
from zkpot.attacks.privacy import MembershipScores, PrivacyConfig
from zkpot.learning.model import MLP


def test_tpr_at_low_fpr_on_known_scores() -> None:
    separated = MembershipScores(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert separated.tpr_at(0.01) == 1.0 and separated.auc == 1.0
    # The most confident guess is a non-member: no member is found before a false positive.
    inverted = MembershipScores(np.array([1.0, 2.0, 3.0]), np.array([4.0, 0.0, 0.5]))
    assert inverted.tpr_at(0.001) == 0.0
    assert inverted.tpr_at(1 / 3) == 1.0


def test_input_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    model = MLP((6, 5, 4, 3), rng)
    x, classes = rng.random((2, 6)), np.array([0, 2])

    def loss(z: np.ndarray) -> float:
        logits = model.forward(z)
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(2), classes].sum())

    grad = _input_gradient(model, x, classes)
    eps = 1e-6
    for i, j in [(0, 0), (0, 3), (1, 5)]:
        bumped = x.copy()
        bumped[i, j] += eps
        assert grad[i, j] == pytest.approx((loss(bumped) - loss(x)) / eps, rel=1e-3, abs=1e-6)


def test_ssim_is_one_for_equal_images_and_lower_otherwise() -> None:
    a = np.linspace(0, 1, 64)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, a[::-1]) < 0


def test_model_holders_reconstruct_classes_and_the_outsider_cannot() -> None:
    result = run_inversion(PrivacyConfig(prove=False))
    outsider = result.row("ZKPoT", "outside observer")
    assert outsider.identified == pytest.approx(0.1)  # one image for all ten classes
    for setting, observer in [
        ("plain FL", "server"),
        ("ZKPoT", "round leader"),
        ("ZKPoT", "any participant"),
    ]:
        row = result.row(setting, observer)
        assert row.identified >= 0.8
        assert row.mse < outsider.mse and row.ssim > outsider.ssim
