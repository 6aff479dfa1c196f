"""Membership inference against what each federated-learning setting exposes.

The question is the paper's privacy claim: who can tell, from what a setting shows them,
whether a given sample was in a participant's training set? One small, deliberately
overfit federation (few samples per participant, many local epochs) is trained three
ways from the same data, initial model and seeds:

* **plain FL**: the server receives every participant's local model each round (and
  every participant receives the global model);
* **DP-SGD FL** at several epsilon: the same with per-example clipping and Gaussian noise
  (:mod:`zkpot.learning.dp`), epsilon from the RDP accountant of ``dp-accounting``;
* **ZKPoT**: each participant quantises its model; the chain shows only its commitment
  (salted Poseidon), its proven count on the public test set and the Groth16 proof (zero
  knowledge: it is simulatable from those public inputs, so it adds nothing); the round
  leader opens every package; every participant receives the global model.

Attacks, each scored over members (the participant's samples) and as many non-members
(unused training samples of the same distribution), pooled over participants, by the ROC
AUC and, as the field reports them since LiRA, by the true-positive rate at 1 % and 0.1 %
false positives and a log-log ROC curve:

* **loss threshold** (Yeom et al.): score ``-loss(model, x, y)`` on a model the observer
  holds;
* **LiRA** (Carlini et al., fixed-variance online variant): the observer trains
  ``shadows`` models from the same global model on random halves of the candidate set and,
  per candidate, compares the target's statistic with Gaussians fitted to the shadows that
  did and did not train on it. The statistic is the logit-scaled confidence for a model
  holder, and the *count* or the *commitment* for an observer of ZKPoT's public artefacts
  (which is as much per-sample signal as those artefacts can carry). The ZKPoT observer is
  given the global model to train its shadows: stronger than an outsider, who never sees
  it.

The figures of each run are measured, nothing is assumed: ZKPoT's count and commitment are
those of the participants' real quantised models (proven with Groth16 when ``prove``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from zkpot import proving
from zkpot.learning.datasets import Dataset, load_dataset
from zkpot.learning.dp import DPConfig, dp_epsilon, dp_steps, noise_for_epsilon, sample_rate
from zkpot.learning.fedavg import fedavg
from zkpot.learning.inference import correct_count
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.model import MLP, initial_model, train_sgd
from zkpot.learning.partition import iid
from zkpot.learning.quantize import quantize
from zkpot.participant import Identity, Participant, Training
from zkpot.protocol import Task

__all__ = [
    "MembershipScores",
    "PrivacyConfig",
    "PrivacyResult",
    "PrivacyRow",
    "lira_scores",
    "membership_auc",
    "per_example_loss",
    "plot_privacy",
    "plot_roc",
    "privacy_markdown",
    "privacy_table",
    "run_privacy",
]

Params = list[NDArray[np.float64]]
Progress = Callable[[str, int, int], None]

#: A shadow's training randomness: (seed, SHADOW_STREAM, participant, shadow).
SHADOW_STREAM = 100


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class PrivacyConfig:
    """A small, overfit federation and the attacks run on it."""

    dataset: str = "digits"
    hidden: int = 32
    test_samples: int = 64
    participants: int = 4
    #: Training samples per participant: few, so that local models overfit.
    shard: int = 32
    rounds: int = 2
    training: Training = field(default_factory=lambda: Training(epochs=30, lr=0.05, batch_size=16))
    shadows: int = 16
    epsilons: tuple[float, ...] = (1.0, 8.0, 64.0)
    delta: float = 1e-5
    clip_norm: float = 1.0
    seed: int = 0
    #: Prove every final ZKPoT model with Groth16 and take count and commitment from the proof.
    prove: bool = True

    def __post_init__(self) -> None:
        if self.participants < 1 or self.shard < 2 or self.rounds < 1 or self.shadows < 4:
            raise ValueError("need participants >= 1, shard >= 2, rounds >= 1, shadows >= 4")
        if not 0 < self.delta < 1:
            raise ValueError("delta must lie in (0, 1)")


#: The false-positive rates at which the true-positive rate is reported.
LOW_FPRS = (0.01, 0.001)


@dataclass(frozen=True)
class MembershipScores:
    """An attack's scores (higher means 'member') on members and on non-members."""

    members: NDArray[np.float64]
    non_members: NDArray[np.float64]

    @property
    def auc(self) -> float:
        return membership_auc(self.members, self.non_members)

    def roc(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(false-positive rates, true-positive rates) over every threshold."""
        from sklearn.metrics import roc_curve

        labels = np.r_[np.ones(self.members.size), np.zeros(self.non_members.size)]
        fpr, tpr, _ = roc_curve(labels, np.r_[self.members, self.non_members])
        return fpr, tpr

    def tpr_at(self, fpr_bound: float) -> float:
        """The best true-positive rate at a false-positive rate of at most ``fpr_bound``.

        With ``m`` non-members the smallest positive FPR is ``1/m``: below it this is the
        TPR at no false positive at all."""
        fpr, tpr = self.roc()
        return float(tpr[fpr <= fpr_bound].max())


@dataclass(frozen=True)
class PrivacyRow:
    """One attack on one setting: who attacks, what it sees, how well it does."""

    setting: str
    observer: str
    attack: str
    scores: MembershipScores
    accuracy: float
    epsilon: float

    @property
    def auc(self) -> float:
        return self.scores.auc

    @property
    def tpr_low_fpr(self) -> tuple[float, ...]:
        """TPR at each of :data:`LOW_FPRS`."""
        return tuple(self.scores.tpr_at(f) for f in LOW_FPRS)


@dataclass
class PrivacyResult:
    config: PrivacyConfig
    rows: list[PrivacyRow]
    #: The noise multiplier used for each target epsilon.
    noise: dict[float, float]

    def row(self, setting: str, attack: str, observer: str | None = None) -> PrivacyRow:
        """The first row with this setting and attack (and observer, if given)."""
        for r in self.rows:
            if r.setting == setting and r.attack == attack and observer in (None, r.observer):
                return r
        raise KeyError(f"no row for {setting!r} / {attack!r}")

    def to_json(self) -> dict[str, Any]:
        config = asdict(self.config)
        return {
            "config": config,
            "noise_multipliers": {str(k): v for k, v in self.noise.items()},
            "rows": [
                {
                    "setting": r.setting,
                    "observer": r.observer,
                    "attack": r.attack,
                    "auc": r.auc,
                    **{
                        f"tpr_at_fpr_{f:g}": t for f, t in zip(LOW_FPRS, r.tpr_low_fpr, strict=True)
                    },
                    "members": int(r.scores.members.size),
                    "non_members": int(r.scores.non_members.size),
                    "accuracy": r.accuracy,
                    "epsilon": None if math.isinf(r.epsilon) else r.epsilon,
                }
                for r in self.rows
            ],
        }


# ----------------------------------------------------------------------------- statistics


def per_example_loss(
    model: MLP, x: NDArray[np.float64], y: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Cross-entropy of every example."""
    return -_log_probs(model, x)[np.arange(y.size), y]


def _log_probs(model: MLP, x: NDArray[np.float64]) -> NDArray[np.float64]:
    logits = model.forward(x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _confidence(model: MLP, x: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.float64]:
    """LiRA's statistic: the logit of the probability of the true class."""
    log_p = _log_probs(model, x)[np.arange(y.size), y]
    log_p = np.minimum(log_p, -1e-12)
    return log_p - np.log(-np.expm1(log_p))


def membership_auc(members: NDArray[np.float64], non_members: NDArray[np.float64]) -> float:
    """ROC AUC of a membership score (higher means 'member')."""
    labels = np.r_[np.ones(members.size), np.zeros(non_members.size)]
    return float(roc_auc_score(labels, np.r_[members, non_members]))


def lira_scores(
    target: NDArray[np.float64], shadows: NDArray[np.float64], inside: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Fixed-variance LiRA: per candidate, the log-likelihood ratio of the target's
    statistic under Gaussians fitted to the shadows that trained on it and to those that
    did not (one pooled variance each).

    ``target``: (candidates,) statistic of the target model; ``shadows``: (shadows,
    candidates); ``inside``: (shadows, candidates), True where the shadow trained on the
    candidate.
    """
    if not (inside.any(axis=0).all() and (~inside).any(axis=0).all()):
        raise ValueError("every candidate needs shadows with and without it")
    counts_in, counts_out = inside.sum(axis=0), (~inside).sum(axis=0)
    mean_in = np.where(inside, shadows, 0.0).sum(axis=0) / counts_in
    mean_out = np.where(~inside, shadows, 0.0).sum(axis=0) / counts_out
    var_in = np.where(inside, (shadows - mean_in) ** 2, 0.0).sum() / max(inside.sum() - 1, 1)
    var_out = np.where(~inside, (shadows - mean_out) ** 2, 0.0).sum() / max((~inside).sum() - 1, 1)
    var_in, var_out = max(var_in, 1e-12), max(var_out, 1e-12)
    log_in = -((target - mean_in) ** 2) / (2 * var_in) - 0.5 * math.log(var_in)
    log_out = -((target - mean_out) ** 2) / (2 * var_out) - 0.5 * math.log(var_out)
    return log_in - log_out


# ----------------------------------------------------------------------------- the federation


@dataclass
class _Federated:
    """One training of the small federation: what each observer could hold."""

    start: Params  # the global model at the start of the last round
    local: list[MLP]  # last-round local models (float)
    quantised: list[QuantizedModel]  # ZKPoT only: the models committed and proven
    global_params: Params


class _Setup:
    """The data split shared by every setting."""

    def __init__(self, config: PrivacyConfig) -> None:
        self.config = config
        self.data: Dataset = load_dataset(config.dataset)
        self.task = Task.create(
            config.dataset, config.hidden, config.test_samples, 0.0, config.rounds, seed=config.seed
        )
        rng = np.random.default_rng([config.seed, 90])
        y = self.data.y_train
        parts = iid(y, config.participants, config.seed)
        if min(len(p) for p in parts) < config.shard:
            raise ValueError("shard is larger than a participant's partition")
        self.members = [np.sort(rng.choice(p, config.shard, replace=False)) for p in parts]
        used = np.concatenate(self.members)
        pool = np.setdiff1d(np.arange(y.size), used)
        if pool.size < config.shard:
            raise ValueError("not enough unused training samples for the non-members")
        self.non_members = [np.sort(rng.choice(pool, config.shard, replace=False)) for _ in parts]
        self.x = self.data.x_train.astype(np.float64)
        self.y = y.astype(np.int64)
        self.x_test = self.data.x_test.astype(np.float64)
        self.y_test = self.data.y_test

    def federate(self, training: Training, zkpot: bool) -> _Federated:
        """FedAvg over the shards; with ``zkpot``, the leader averages the dequantised
        committed models, as :meth:`zkpot.participant.machine.RoundMachine.aggregate` does."""
        c = self.config
        participants = [
            Participant(
                f"P{i}", i, Identity.generate(), self.x[m], self.y[m], self.task, c.seed, training
            )
            for i, m in enumerate(self.members)
        ]
        params = initial_model(self.task.spec.widths, c.seed).get_params()
        start, quantised = params, []
        for r in range(c.rounds):
            start = params
            for p in participants:
                p.train(r, params)
            if zkpot:
                quantised = [
                    quantize(p.model, self.task.spec, self.task.test_x) for p in participants
                ]
                models = [q.dequantize() for q in quantised]
            else:
                models = [p.model.get_params() for p in participants]
            params = fedavg(models, [p.num_samples for p in participants])
        local = [MLP.from_params(p.model.get_params()) for p in participants]
        return _Federated(start, local, quantised, params)

    def accuracy(self, params: Params) -> float:
        return float(MLP.from_params(params).accuracy(self.x_test, self.y_test))

    def candidates(self, i: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Participant ``i``'s candidate samples and which of them are members."""
        idx = np.r_[self.members[i], self.non_members[i]]
        return idx, np.r_[np.ones(self.config.shard, bool), np.zeros(self.config.shard, bool)]


def _threshold_scores(setup: _Setup, models: Sequence[MLP]) -> MembershipScores:
    """Loss-threshold scores, pooled: model ``i`` attacked on participant ``i``'s candidates."""
    members, non_members = [], []
    for i, model in enumerate(models):
        idx, member = setup.candidates(i)
        score = -per_example_loss(model, setup.x[idx], setup.y[idx])
        members.append(score[member])
        non_members.append(score[~member])
    return MembershipScores(np.concatenate(members), np.concatenate(non_members))


@dataclass
class _Shadows:
    inside: NDArray[np.bool_]  # (shadows, candidates)
    confidence: NDArray[np.float64]  # (shadows, candidates)
    count: NDArray[np.float64]  # (shadows,)
    commitment: NDArray[np.float64]  # (shadows,) as a fraction of the field order


def _shadows(setup: _Setup, i: int, start: Params, training: Training) -> _Shadows:
    """Shadow models of participant ``i``'s last round, each on a random half of its
    candidates, trained like the target from the global model the observer knows."""
    c = setup.config
    idx, _ = setup.candidates(i)
    inside = np.zeros((c.shadows, idx.size), dtype=bool)
    # Balanced halves: every candidate is inside exactly half of the shadows.
    rng = np.random.default_rng([c.seed, SHADOW_STREAM, i])
    for pair in range(0, c.shadows - 1, 2):
        half = rng.permutation(idx.size) < idx.size // 2
        inside[pair], inside[pair + 1] = half, ~half
    if c.shadows % 2:
        inside[-1] = rng.permutation(idx.size) < idx.size // 2
    confidence = np.empty((c.shadows, idx.size))
    count = np.empty(c.shadows)
    commitment = np.empty(c.shadows)
    for s in range(c.shadows):
        model = MLP.from_params(start)
        chosen = idx[inside[s]]
        t = training
        rng_s = np.random.default_rng([c.seed, SHADOW_STREAM, i, s])
        train_sgd(
            model, setup.x[chosen], setup.y[chosen], t.epochs, t.lr, t.batch_size, rng_s, t.momentum
        )
        confidence[s] = _confidence(model, setup.x[idx], setup.y[idx])
        q = quantize(model, setup.task.spec, setup.task.test_x)
        count[s] = correct_count(q, setup.task.test_x, setup.task.test_y)
        commitment[s] = proving.commit(q, proving.new_salt()) / proving.FIELD_ORDER
    return _Shadows(inside, confidence, count, commitment)


def _pooled_lira(
    setup: _Setup, targets: Sequence[NDArray[np.float64]], shadows: Sequence[_Shadows], stat: str
) -> MembershipScores:
    members, non_members = [], []
    for i, (target, sh) in enumerate(zip(targets, shadows, strict=True)):
        _, member = setup.candidates(i)
        stats = getattr(sh, stat)
        if stats.ndim == 1:  # one value per model: the same for every candidate
            stats = np.repeat(stats[:, None], member.size, axis=1)
        score = lira_scores(target, stats, sh.inside)
        members.append(score[member])
        non_members.append(score[~member])
    return MembershipScores(np.concatenate(members), np.concatenate(non_members))


def _public_artefacts(
    setup: _Setup, models: Sequence[QuantizedModel], prove: bool, progress: Progress
) -> tuple[list[int], list[int]]:
    """Each participant's (count, commitment) as the chain shows them."""
    counts, commitments = [], []
    pk = vk = None
    if prove:
        progress("ZKPoT: setup", 0, 1)
        pk, vk = proving.setup(setup.task.circuit)
        progress("ZKPoT: setup", 1, 1)
    for i, q in enumerate(models):
        salt = proving.new_salt()
        if pk is None or vk is None:
            counts.append(correct_count(q, setup.task.test_x, setup.task.test_y))
            commitments.append(proving.commit(q, salt))
            continue
        progress("ZKPoT: prove", i, len(models))
        tag = proving.new_salt()  # any binding tag: it does not depend on the data
        proven = proving.prove(pk, q, salt, tag)
        if not proving.verify(vk, proven.commitment, proven.count, tag, proven.proof):
            raise RuntimeError("a ZKPoT proof did not verify")
        counts.append(proven.count)
        commitments.append(proven.commitment)
    return counts, commitments


# ----------------------------------------------------------------------------- the experiment


def run_privacy(config: PrivacyConfig, progress: Progress = _no_progress) -> PrivacyResult:
    """Train the federation each way and attack what each observer sees."""
    setup = _Setup(config)
    c = config
    rows: list[PrivacyRow] = []
    total = len(c.epsilons) + 3
    done = 0

    def step(what: str) -> None:
        nonlocal done
        progress(what, done, total)
        done += 1

    # Plain FL: the server holds every local model; every participant the global model.
    step("plain FL")
    plain = setup.federate(c.training, zkpot=False)
    plain_acc = setup.accuracy(plain.global_params)
    rows.append(
        PrivacyRow(
            "plain FL",
            "server (local models)",
            "loss threshold",
            _threshold_scores(setup, plain.local),
            plain_acc,
            math.inf,
        )
    )
    step("plain FL: shadows")
    plain_shadows = [_shadows(setup, i, plain.start, c.training) for i in range(c.participants)]
    confidences = [
        _confidence(m, setup.x[setup.candidates(i)[0]], setup.y[setup.candidates(i)[0]])
        for i, m in enumerate(plain.local)
    ]
    rows.append(
        PrivacyRow(
            "plain FL",
            "server (local models)",
            f"LiRA loss, {c.shadows} shadows",
            _pooled_lira(setup, confidences, plain_shadows, "confidence"),
            plain_acc,
            math.inf,
        )
    )
    global_model = MLP.from_params(plain.global_params)
    rows.append(
        PrivacyRow(
            "plain FL",
            "any participant (global model)",
            "loss threshold",
            _threshold_scores(setup, [global_model] * c.participants),
            plain_acc,
            math.inf,
        )
    )

    # DP-SGD FL at each epsilon.
    q = sample_rate(c.shard, c.training.batch_size)
    total_steps = c.rounds * dp_steps(c.shard, c.training.epochs, c.training.batch_size)
    noise: dict[float, float] = {}
    for eps in c.epsilons:
        step(f"DP-SGD FL, epsilon {eps:g}")
        sigma = noise_for_epsilon(eps, q, total_steps, c.delta)
        noise[eps] = sigma
        achieved = dp_epsilon(sigma, q, total_steps, c.delta)
        dp_training = replace(c.training, dp=DPConfig(sigma, c.clip_norm))
        private = setup.federate(dp_training, zkpot=False)
        rows.append(
            PrivacyRow(
                f"DP-SGD FL (eps={eps:g})",
                "server (local models)",
                "loss threshold",
                _threshold_scores(setup, private.local),
                setup.accuracy(private.global_params),
                achieved,
            )
        )

    # ZKPoT: the chain shows count and commitment; the leader opens the packages.
    step("ZKPoT")
    zk = setup.federate(c.training, zkpot=True)
    zk_acc = setup.accuracy(zk.global_params)
    counts, commitments = _public_artefacts(setup, zk.quantised, c.prove, progress)
    zk_shadows = [_shadows(setup, i, zk.start, c.training) for i in range(c.participants)]
    for stat, values, scale in (
        ("count", counts, 1.0),
        ("commitment", commitments, 1.0 / proving.FIELD_ORDER),
    ):
        targets = [np.full(2 * c.shard, v * scale, dtype=np.float64) for v in values]
        rows.append(
            PrivacyRow(
                "ZKPoT",
                "observer (count, commitment, proof)",
                f"LiRA {stat}, {c.shadows} shadows",
                _pooled_lira(setup, targets, zk_shadows, stat),
                zk_acc,
                math.inf,
            )
        )
    opened = [MLP.from_params(m.dequantize()) for m in zk.quantised]
    rows.append(
        PrivacyRow(
            "ZKPoT",
            "round leader (opens the packages)",
            "loss threshold",
            _threshold_scores(setup, opened),
            zk_acc,
            math.inf,
        )
    )
    rows.append(
        PrivacyRow(
            "ZKPoT",
            "any participant (global model)",
            "loss threshold",
            _threshold_scores(setup, [MLP.from_params(zk.global_params)] * c.participants),
            zk_acc,
            math.inf,
        )
    )
    progress("done", total, total)
    return PrivacyResult(config, rows, noise)


# ----------------------------------------------------------------------------- report


def privacy_table(result: PrivacyResult) -> Any:
    """A Rich table: one row per attack, with the setting's global accuracy and epsilon."""
    from rich.table import Table

    c = result.config
    table = Table(
        title=(
            f"Membership inference: {c.dataset}, {c.participants} participants x {c.shard} "
            f"samples, {c.rounds} rounds x {c.training.epochs} epochs, delta {c.delta:g}"
        ),
        show_header=True,
        header_style="bold",
    )
    for name, justify in (
        ("setting", "left"),
        ("observer (what it sees)", "left"),
        ("attack", "left"),
        ("AUC", "right"),
        ("TPR @ 1% FPR", "right"),
        ("TPR @ 0.1% FPR", "right"),
        ("global accuracy", "right"),
        ("epsilon", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in result.rows:
        eps = "inf" if math.isinf(r.epsilon) else f"{r.epsilon:.3g}"
        low = [f"{100 * t:.1f}%" for t in r.tpr_low_fpr]
        table.add_row(
            r.setting, r.observer, r.attack, f"{r.auc:.3f}", *low, f"{100 * r.accuracy:.1f}%", eps
        )
    return table


def privacy_markdown(result: PrivacyResult) -> str:
    """The rows of :func:`privacy_table` as Markdown."""
    lines = [
        "| setting | observer (what it sees) | attack | AUC | TPR @ 1% FPR | TPR @ 0.1% FPR "
        "| global accuracy | ε |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        eps = "∞" if math.isinf(r.epsilon) else f"{r.epsilon:.3g}"
        low = " | ".join(f"{100 * t:.1f}%" for t in r.tpr_low_fpr)
        lines.append(
            f"| {r.setting} | {r.observer} | {r.attack} | {r.auc:.3f} | {low} | "
            f"{100 * r.accuracy:.1f}% | {eps} |"
        )
    return "\n".join(lines) + "\n"


def plot_privacy(result: PrivacyResult, path: Path) -> Path:
    """Attack AUC of every row (left) and the privacy-utility trade-off (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = [f"{r.setting}\n{r.observer}\n{r.attack}" for r in result.rows]
    colours = [
        "C2" if r.setting == "ZKPoT" else "C1" if r.setting.startswith("DP") else "C0"
        for r in result.rows
    ]
    left.barh(range(len(result.rows)), [r.auc for r in result.rows], color=colours)
    left.axvline(0.5, color="k", linestyle=":", linewidth=1)
    left.set_yticks(range(len(result.rows)), labels, fontsize=6)
    left.invert_yaxis()
    left.set_xlim(0.3, 1.0)
    left.set_xlabel("membership-inference AUC (0.5: chance)")
    left.set_title("attack AUC by observer")
    shown = [
        r
        for r in result.rows
        if ("threshold" in r.attack and "local" in r.observer) or r.observer.startswith("observer")
    ]
    for k, r in enumerate(shown):
        zk, dp = r.setting == "ZKPoT", r.setting.startswith("DP")
        right.scatter(
            r.auc,
            r.accuracy,
            marker="o" if zk else "s" if dp else "^",
            color="C2" if zk else "C1" if dp else "C0",
            s=40,
        )
        right.annotate(
            f"{r.setting}: {r.attack.split(',')[0]}",
            (r.auc, r.accuracy),
            fontsize=7,
            xytext=(5, 4 - 12 * (k % 2)),
            textcoords="offset points",
        )
    right.axvline(0.5, color="k", linestyle=":", linewidth=1)
    right.set_xlabel("attack AUC on what the observer sees")
    right.set_ylabel("global model accuracy")
    right.set_title("privacy against utility")
    right.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_roc(result: PrivacyResult, path: Path) -> Path:
    """Every attack's ROC curve on log-log axes (as in LiRA), chance as the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    floor = 1.0 / max(r.scores.non_members.size for r in result.rows)
    for k, r in enumerate(result.rows):
        fpr, tpr = r.scores.roc()
        style = "-" if r.setting == "plain FL" else "--" if r.setting == "ZKPoT" else ":"
        ax.plot(
            np.maximum(fpr, floor / 2),
            np.maximum(tpr, floor / 2),
            style,
            color=f"C{k % 10}",
            label=f"{r.setting}, {r.observer.split(' (')[0]}: {r.attack} (AUC {r.auc:.2f})",
        )
    ax.plot([floor / 2, 1], [floor / 2, 1], color="k", linewidth=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"false-positive rate (smallest non-zero: {floor:.2g})")
    ax.set_ylabel("true-positive rate")
    ax.set_title("membership inference ROC (log-log)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=5.5, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
