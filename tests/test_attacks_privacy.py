"""Membership inference against plain FL, DP-SGD FL and ZKPoT's public artefacts, and the
DP-SGD training and accounting underneath (epsilon from Google's dp-accounting)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from zkpot.attacks.privacy import (
    PrivacyConfig,
    lira_scores,
    membership_auc,
    run_privacy,
)
from zkpot.learning.dp import (
    DPConfig,
    dp_epsilon,
    dp_steps,
    noise_for_epsilon,
    per_example_grads,
    sample_rate,
    train_dp_sgd,
)
from zkpot.learning.model import MLP, train_sgd
from zkpot.participant import Training

pytest.importorskip("dp_accounting")

# ----------------------------------------------------------------------------- DP-SGD


def _toy(n: int = 40, seed: int = 0) -> tuple[MLP, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6))
    y = (x[:, 0] > x[:, 1]).astype(np.int64) + (x[:, 2] > 0.5)
    return MLP((6, 5, 3), np.random.default_rng(seed + 1)), x, y


def test_per_example_gradients_average_to_the_batch_gradient():
    model, x, y = _toy()
    losses, grads = per_example_grads(model, x, y)
    loss, batch = model.loss_and_grads(x, y)
    assert losses.mean() == pytest.approx(loss)
    for g, b in zip(grads, batch, strict=True):
        assert g.shape == (len(y), *b.shape)
        np.testing.assert_allclose(g.mean(axis=0), b, atol=1e-12)


def test_dp_sgd_steps_are_bounded_by_the_clip_norm_without_noise():
    model, x, y = _toy()
    before = [p.copy() for p in model.get_params()]
    # One step over every example (q = 1), no noise, no momentum: the update is
    # lr * mean of clipped gradients, whose norm is at most lr * clip_norm.
    train_dp_sgd(model, x, y, 1, 0.1, len(y), np.random.default_rng(0), DPConfig(0.0, 0.01))
    step = np.sqrt(
        sum(np.sum((a - b) ** 2) for a, b in zip(model.get_params(), before, strict=False))
    )
    assert 0 < step <= 0.1 * 0.01 + 1e-12


def test_dp_sgd_with_large_clip_and_no_noise_is_sgd():
    model_a, x, y = _toy()
    model_b = MLP.from_params(model_a.get_params())
    # q = 1 (the whole set each step), one step per epoch: full-batch gradient descent.
    train_dp_sgd(model_a, x, y, 3, 0.1, len(y), np.random.default_rng(0), DPConfig(0.0, 1e9))
    train_sgd(model_b, x, y, 3, 0.1, len(y), np.random.default_rng(0))
    for a, b in zip(model_a.get_params(), model_b.get_params(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_noise_is_calibrated_with_the_rdp_accountant():
    q, steps, delta = sample_rate(32, 16), dp_steps(32, 30, 16) * 2, 1e-5
    assert (q, steps) == (0.5, 120)
    previous = math.inf
    for eps in (1.0, 8.0, 64.0):
        sigma = noise_for_epsilon(eps, q, steps, delta)
        assert sigma < previous  # more budget, less noise
        previous = sigma
        assert dp_epsilon(sigma, q, steps, delta) == pytest.approx(eps, rel=1e-3)
        assert dp_epsilon(sigma, q, steps, delta) <= eps * (1 + 1e-6)
        assert dp_epsilon(sigma * 0.9, q, steps, delta) > eps
    assert dp_epsilon(1.0, q, 0, delta) == 0.0
    assert math.isinf(dp_epsilon(0.0, q, steps, delta))


def test_dp_config_rejects_nonsense():
    with pytest.raises(ValueError):
        DPConfig(-1.0)
    with pytest.raises(ValueError):
        DPConfig(1.0, 0.0)


# ----------------------------------------------------------------------------- attacks


def test_auc_and_lira_on_known_signals():
    assert membership_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert membership_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    inside = np.array([[True, False], [False, True], [True, False], [False, True]])
    shadows = np.where(inside, 1.0, 0.0) + np.array([[0.1], [-0.1], [0.05], [-0.05]])
    scores = lira_scores(np.array([1.0, 0.0]), shadows, inside)
    assert scores[0] > 0 > scores[1]  # member-like on the first, not on the second


@pytest.fixture(scope="module")
def privacy():
    """A small overfit federation: 4 participants x 32 digits, 2 rounds x 30 epochs, with
    real Groth16 proofs of the final ZKPoT models."""
    return run_privacy(PrivacyConfig(epsilons=(1.0, 64.0), prove=True))


def test_plain_fl_leaks_membership_and_zkpots_public_artefacts_do_not(privacy):
    plain = privacy.row("plain FL", "loss threshold", "server (local models)").auc
    count = privacy.row("ZKPoT", "LiRA count, 16 shadows").auc
    commitment = privacy.row("ZKPoT", "LiRA commitment, 16 shadows").auc
    assert plain > 0.65
    assert plain > count + 0.05 and plain > commitment + 0.05
    assert abs(count - 0.5) < 0.1 and abs(commitment - 0.5) < 0.1
    # The same shadows against the model itself: the attack works, the artefact is empty.
    lira = privacy.row("plain FL", "LiRA loss, 16 shadows").auc
    assert lira > count + 0.1


def test_at_low_false_positive_rates_only_lira_on_the_local_models_finds_members(privacy):
    # 128 non-members: "1 % FPR" allows one false positive; one member is 0.8 % TPR.
    lira = privacy.row("plain FL", "LiRA loss, 16 shadows")
    assert lira.tpr_low_fpr[0] > 0.2
    for attack in ("LiRA count, 16 shadows", "LiRA commitment, 16 shadows"):
        assert privacy.row("ZKPoT", attack).tpr_low_fpr[0] < 0.08
    data = privacy.to_json()["rows"][0]
    assert {"tpr_at_fpr_0.01", "tpr_at_fpr_0.001"} <= set(data)


def test_the_zkpot_leader_sees_what_a_plain_fl_server_sees(privacy):
    leader = privacy.row("ZKPoT", "loss threshold", "round leader (opens the packages)")
    server = privacy.row("plain FL", "loss threshold", "server (local models)")
    assert abs(leader.auc - server.auc) < 0.05
    assert abs(leader.accuracy - server.accuracy) <= 0.03


def test_dp_sgd_trades_accuracy_for_privacy(privacy):
    strong = privacy.row("DP-SGD FL (eps=1)", "loss threshold")
    weak = privacy.row("DP-SGD FL (eps=64)", "loss threshold")
    plain = privacy.row("plain FL", "loss threshold", "server (local models)")
    assert strong.epsilon == pytest.approx(1.0, rel=1e-3)
    assert weak.epsilon == pytest.approx(64.0, rel=1e-3)
    assert abs(strong.auc - 0.5) < 0.1
    assert strong.auc < plain.auc - 0.1
    assert strong.accuracy < weak.accuracy <= plain.accuracy + 0.02
    assert privacy.noise[1.0] > privacy.noise[64.0]


def test_privacy_config_checks():
    with pytest.raises(ValueError):
        PrivacyConfig(shadows=2)
    with pytest.raises(ValueError):
        run_privacy(replace(PrivacyConfig(prove=False), shard=10_000))
    assert Training().dp is None
