"""Byzantine participant strategies, one :class:`~zkpot.participant.Behaviour` each.

Each class overrides the steps of the honest protocol it deviates in; a federation takes
them per participant (``Federation(..., behaviours={index: behaviour})``). What stops each
one (see ``docs/security.md``):

============================  ==============================================================
behaviour                     stopped by
============================  ==============================================================
:class:`InflatedClaim`        on-chain verification (``InvalidProof``): the count is a public
                              input of the proof
:class:`ForgedProof`          on-chain verification (``InvalidProof``): random words are no
                              proof; a proof for another circuit fails this task's key
:class:`Replay`               on-chain verification (``InvalidProof``): the binding tag names
                              the round and the sender
:class:`SubstituteModel`      the leader's commitment check (its package does not open the
                              on-chain commitment), unless it leads itself: then nothing
:class:`LabelFlip`            the threshold (``BelowThreshold``): its proven accuracy is low
:class:`FreeRider`            the threshold only while the copied global model is below it;
                              afterwards **nothing**: a true proof about a copied model
:class:`Withholder`           the leader (no key was handed over): never aggregated
:class:`GarbledHandOver`      the leader contests its hand-over (the box does not open) and,
                              unanswered, excludes it without a key (``ExclusionNotShown``
                              guards the wait): never aggregated, and the round goes on
:class:`DishonestLeader`      the contract's leader rule refuses it while it is not the
                              leader (``NotLeader``); once it leads (training on the public
                              test set wins the count): leaving a handed-over submission out
                              is refused (``HandOverLeftOut``), an altered aggregate is
                              refused (``GlobalBelowThreshold`` or
                              ``InvalidAggregationProof``); excluding honest submissions by
                              showing their keys (``exclude``) is **not** stopped on chain:
                              the keys are then public and :func:`audit_rejection` proves
                              the exclusion false
============================  ==============================================================

Every adversary sets ``checks_threshold = False``: it submits whatever it has and lets the
ledger decide, so that the rule that stops it is the ledger's, not its own courtesy.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from zkpot import proving
from zkpot.exchange import global_commitment, open_global, open_package
from zkpot.learning.datasets import quantize_inputs
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.model import MLP
from zkpot.learning.quantize import quantize
from zkpot.ledger import Ledger
from zkpot.participant import (
    COMMITMENT_MISMATCH,
    Behaviour,
    Claim,
    Contribution,
    Participant,
    SubmissionContext,
    average,
    in_format,
)
from zkpot.protocol import Exclusion, Rejection
from zkpot.protocol.hashes import BASE_FIELD
from zkpot.store import ContentStore

__all__ = [
    "BEHAVIOURS",
    "Absent",
    "DishonestLeader",
    "ForgedProof",
    "FreeRider",
    "GarbledHandOver",
    "InflatedClaim",
    "LabelFlip",
    "Replay",
    "SubstituteModel",
    "Withholder",
    "audit_aggregate",
    "audit_rejection",
    "chain_claims",
    "flip_labels",
    "make_behaviour",
]

Params = list[NDArray[np.float64]]

#: Random stream of the poisoned model B of :class:`SubstituteModel` (honest training is 2).
SUBSTITUTE_STREAM = 7


def flip_labels(y: NDArray[np.int64], classes: int) -> NDArray[np.int64]:
    """The label-flip map ``y -> classes - 1 - y`` (every sample gets a wrong label)."""
    return (classes - 1 - np.asarray(y, dtype=np.int64)).astype(np.int64)


def chain_claims(ledger: Ledger, task_id: int, round: int) -> dict[str, Claim]:
    """Every accepted submission of a round as anyone reads it from the chain: the
    ``Submitted`` events, with the proof words taken from their transactions' calldata."""
    logs = ledger.contract.events.Submitted().get_logs(
        from_block=0, argument_filters={"taskId": task_id, "round": round}
    )
    claims: dict[str, Claim] = {}
    for log in logs:
        tx = ledger.w3.eth.get_transaction(log["transactionHash"])
        _, args = ledger.contract.decode_function_input(tx["input"])
        claims[log["args"]["submitter"]] = Claim(
            int(args["commitment"]),
            int(args["count"]),
            tuple(int(w) for w in args["proof"]),
            str(args["modelCid"]),
        )
    return claims


class Absent(Behaviour):
    """Takes no part at all: the honest-only reference runs leave the Byzantine slots empty."""

    name = "absent"

    def takes_part(self, p: Participant, round: int) -> bool:
        return False


class InflatedClaim(Behaviour):
    """Proves its model honestly, then claims ``extra`` more correct samples with that proof.

    The circuit computes the count from the witness, so the prover cannot be asked for a
    count the model does not have (a modified prover has no satisfying witness, see
    ``prover/tests/soundness.rs``); reusing a real proof with another count is the attempt
    left. If the inflated count would exceed the test set, it claims the largest count
    above its own, or one below when its count is already perfect: any other count fails.
    """

    name = "inflated-claim"
    checks_threshold = False

    def __init__(self, extra: int = 10) -> None:
        if extra < 1:
            raise ValueError("an inflated claim adds at least one sample")
        self.extra = extra

    def claim(self, p: Participant, honest: Claim, ctx: SubmissionContext) -> Claim:
        claimed = min(honest.count + self.extra, p.task.num_samples)
        if claimed == honest.count:
            claimed -= 1
        return replace(honest, count=claimed)


class ForgedProof(Behaviour):
    """Submits a proof it did not make for this task's statement.

    ``kind="random"``: eight random words (below the base field, so the client sends them)
    with a perfect count. ``kind="other_task"``: a real Groth16 proof, bound to the right
    tag, but for a circuit over a test set of the attacker's choosing (training samples its
    model classifies correctly) on which it claims its score there; it runs that circuit's
    setup itself, once. ``made`` keeps those proofs by round.
    """

    name = "forged-proof"
    checks_threshold = False

    def __init__(self, kind: Literal["random", "other_task"] = "random") -> None:
        if kind not in ("random", "other_task"):
            raise ValueError("kind is 'random' or 'other_task'")
        self.kind = kind
        self.name = f"forged-{kind.replace('_', '-')}"
        self.circuit: proving.AccuracyCircuit | None = None
        self.keys: tuple[proving.ProvingKey, proving.VerifyingKey] | None = None
        self.made: dict[int, proving.Proven] = {}

    def claim(self, p: Participant, honest: Claim, ctx: SubmissionContext) -> Claim:
        if self.kind == "random":
            words = tuple(secrets.randbelow(BASE_FIELD) for _ in range(8))
            return replace(honest, count=p.task.num_samples, proof=words)
        circuit, (pk, _) = self._other_circuit(p)
        model = quantize(p.model, circuit.spec, circuit.test_x)
        proven = proving.prove(pk, model, ctx.salt, ctx.tag)
        self.made[ctx.round] = proven
        return replace(
            honest,
            commitment=proven.commitment,
            count=proven.count,
            proof=tuple(proven.proof.to_evm()),
        )

    def _other_circuit(
        self, p: Participant
    ) -> tuple[proving.AccuracyCircuit, tuple[proving.ProvingKey, proving.VerifyingKey]]:
        if self.circuit is None or self.keys is None:
            n = p.task.num_samples
            right = p.model.predict(p.x) == p.y
            chosen = np.concatenate([np.flatnonzero(right), np.flatnonzero(~right)])[:n]
            self.circuit = proving.AccuracyCircuit(
                p.task.spec,
                quantize_inputs(p.x[chosen], p.task.spec.input_bits),
                p.y[chosen].copy(),
            )
            self.keys = proving.setup(self.circuit)
        return self.circuit, self.keys


class Replay(Behaviour):
    """Resubmits a proof that the ledger has already accepted.

    ``source="other_address"``: the best claim another participant made in this round
    (commitment, count, proof and CID, read from the chain), under its own address.
    ``source="earlier_round"``: its own most recent accepted claim from an earlier round,
    unchanged (same sender, later round); in its first round it has none and is honest.
    With nothing to replay it submits nothing.
    """

    name = "replay"
    checks_threshold = False

    def __init__(self, source: Literal["other_address", "earlier_round"] = "other_address") -> None:
        if source not in ("other_address", "earlier_round"):
            raise ValueError("source is 'other_address' or 'earlier_round'")
        self.source = source
        self.name = "replay-other" if source == "other_address" else "replay-later"

    def claim(self, p: Participant, honest: Claim, ctx: SubmissionContext) -> Claim | None:
        if self.source == "other_address":
            seen = chain_claims(ctx.ledger, ctx.task_id, ctx.round)
            others = [c for a, c in seen.items() if a != p.address]
            return max(others, key=lambda c: c.count) if others else None
        for earlier in range(ctx.round - 1, -1, -1):
            own = chain_claims(ctx.ledger, ctx.task_id, earlier).get(p.address)
            if own is not None:
                return own
        return honest if ctx.round == 0 else None


class LabelFlip(Behaviour):
    """Data poisoning: trains on its samples with every label flipped (``y -> C-1-y``) and
    proves the poisoned model's real accuracy."""

    name = "label-flip"
    checks_threshold = False

    def training_data(
        self, p: Participant, round: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        return p.x, flip_labels(p.y, p.task.spec.widths[-1])


class FreeRider(Behaviour):
    """Does no work: submits (and proves) the global model it received as its own."""

    name = "free-rider"
    checks_threshold = False

    def training_data(self, p: Participant, round: int) -> None:
        return None


class SubstituteModel(Behaviour):
    """Proves an honestly trained model A and hands the leader a package with model B,
    trained from the same global model on flipped labels (a poisoned model), under the
    salt of A's commitment.

    An honest leader's commitment check rejects B. When the substituter itself leads (A's
    count can be the best), it is the one running the check: it aggregates B anyway, and
    nothing stops it (the dishonest-leader case).
    """

    name = "substitution"
    checks_threshold = False

    def __init__(self) -> None:
        self._start: dict[int, Params] = {}
        self._handed: dict[int, MLP] = {}

    def training_data(
        self, p: Participant, round: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        self._start[round] = p.model.get_params()
        return p.x, p.y

    def handed_model(self, p: Participant, round: int) -> MLP:
        poisoned = MLP.from_params(self._start[round])
        flipped = flip_labels(p.y, p.task.spec.widths[-1])
        p.fit(poisoned, p.x, flipped, round, stream=SUBSTITUTE_STREAM)
        self._handed[round] = poisoned
        return poisoned

    def aggregate(
        self,
        p: Participant,
        round: int,
        contributions: Sequence[Contribution],
        rejected: Sequence[Rejection],
    ) -> tuple[QuantizedModel, list[Contribution], list[Rejection]]:
        # Its poisoned model B in its own slot, under its commitment to A: the salt does
        # not matter, no salt opens A's commitment with B.
        poisoned = p.task.quantize(self._handed[round])
        own = Contribution(p.address, poisoned, proving.new_salt(), p.num_samples)
        kept = [x for x in rejected if x.submitter != p.address]
        others = [c for c in contributions if c.address != p.address]
        return super().aggregate(p, round, [*others, own], kept)


class Withholder(Behaviour):
    """Submits a valid proof but never hands its package key to the leader."""

    name = "withholder"
    checks_threshold = False

    def handed_key(self, p: Participant, round: int, key: bytes) -> None:
        return None


class GarbledHandOver(Behaviour):
    """Submits a valid proof, then hands the leader a sealed box that does not open (random
    bytes under the hash of its true key) and never answers the leader's contest: it tries
    to stall the round, since a leader may not simply leave a hand-over out."""

    name = "garbled-hand-over"
    checks_threshold = False

    def sealed_key(self, p: Participant, round: int, key: bytes, leader_key: bytes) -> bytes:
        return secrets.token_bytes(len(super().sealed_key(p, round, key, leader_key)))

    def answers_contest(self, p: Participant, round: int) -> bool:
        return False


class DishonestLeader(Behaviour):
    """A participant that subverts aggregation when it leads.

    To lead it needs the best proven count; with ``capture`` it trains on its samples
    plus ``boost`` copies of the task's public test set (which every participant has), a
    true proof the protocol cannot tell from skill. When it leads:

    * ``mode="skip"``: aggregates its own model only and leaves every other submission
      out of its block, rejected with a false reason (the leader's commitment-mismatch
      reason) in its own report only: the ledger refuses a block that does not account for
      a hand-over (``HandOverLeftOut``) and the turn passes;
    * ``mode="exclude"``: the same, but the block excludes them by showing their keys, as
      if their packages did not open: the block stands, and the keys (with the models)
      become public, so that anyone can prove the exclusions false;
    * ``mode="alter"``: accepts everyone but publishes an altered global model (the
      FedAvg with its output classes rotated by one, so every prediction is wrong) and
      proposes it with the altered model's true, low count (the ledger refuses it with
      ``GlobalBelowThreshold`` and the turn passes to the next-best submitter);
    * ``mode="swap"``: the same with only classes 0 and 1 swapped, an alteration whose
      proven count stays above the threshold: the aggregation proof (of the honest
      aggregate, the only one it can prove) refuses it (``InvalidAggregationProof``).

    While another participant leads it tries to propose the round block itself, passing
    its own submission off as the global model.
    """

    name = "dishonest-leader"
    checks_threshold = False

    def __init__(
        self,
        mode: Literal["skip", "exclude", "alter", "swap"] = "alter",
        capture: bool = True,
        boost: int = 4,
    ) -> None:
        if mode not in ("skip", "exclude", "alter", "swap"):
            raise ValueError("mode is 'skip', 'exclude', 'alter' or 'swap'")
        self.mode = mode
        self.capture = capture
        self.boost = boost
        self.name = f"leader-{mode}"

    def training_data(
        self, p: Participant, round: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        if not self.capture:
            return p.x, p.y
        public_x = np.tile(p.task.test_x / 255.0, (self.boost, 1))
        public_y = np.tile(p.task.test_y, self.boost)
        return np.concatenate([p.x, public_x]), np.concatenate([p.y, public_y])

    def not_leading(self, p: Participant, ledger: Ledger, task_id: int, round: int) -> None:
        # Its own submission as the "global model": commitment, count and proof.
        head = ledger.head(task_id)
        own = p.submitted.get(round)
        if own is None:
            commitment, count, proof = 1, p.task.num_samples, (1, 2) * 4
        else:
            words = proving.Proof.from_bytes(own.proof).to_evm()
            commitment, count, proof = own.commitment, own.count, tuple(words)
        ledger.propose_block(
            p.identity.account,
            task_id,
            round,
            head.block_hash,
            commitment,
            count,
            "usurped-block",
            [p.address] if own is not None else [],
            proof,
            proof,
        )

    def aggregate(
        self,
        p: Participant,
        round: int,
        contributions: Sequence[Contribution],
        rejected: Sequence[Rejection],
    ) -> tuple[QuantizedModel, list[Contribution], list[Rejection]]:
        if self.mode in ("skip", "exclude"):
            own = [c for c in contributions if c.address == p.address] or list(contributions[:1])
            kept = {c.address for c in own}
            lies = [
                Rejection(c.address, COMMITMENT_MISMATCH)
                for c in contributions
                if c.address not in kept
            ]
            return average(own), own, [*rejected, *lies]
        model, accepted, kept = super().aggregate(p, round, contributions, rejected)
        classes = model.weights[-1].shape[1]
        order = np.roll(np.arange(classes), 1) if self.mode == "alter" else np.arange(classes)
        if self.mode == "swap":
            order[[0, 1]] = order[[1, 0]]
        altered = replace(
            model,
            weights=(*model.weights[:-1], model.weights[-1][:, order]),
            biases=(*model.biases[:-1], model.biases[-1][order]),
        )
        return altered, accepted, kept

    def exclusions(self, p: Participant, round: int, owed: Sequence[Exclusion]) -> list[Exclusion]:
        return [] if self.mode == "skip" else list(owed)


# ----------------------------------------------------------------------------- audits


def audit_rejection(
    ledger: Ledger, store: ContentStore, task_id: int, round: int, address: str, key: bytes
) -> bool:
    """Whether ``address``'s package opens its on-chain commitment, given its package key.

    A participant that a leader rejected for a commitment mismatch can prove the leader
    wrong by revealing ``key`` (and with it, its model) to anyone: True means the package
    stored under the submitted CID opens the commitment the ledger holds."""
    on_chain = ledger.submission(task_id, round, address)
    if on_chain is None:
        return False
    package = open_package(key, store.get(ledger.model_cid(task_id, round, address)))
    return proving.commit(package.model, package.salt) == on_chain.commitment


def audit_aggregate(
    ledger: Ledger,
    store: ContentStore,
    task_id: int,
    round: int,
    keys: Mapping[str, bytes],
    auditor: Participant,
) -> bool:
    """Whether the round's published global model is the FedAvg of the accepted packages.

    Needs the package key of every accepted participant (given up by each of them: the
    ledger holds no way to check the aggregate otherwise), and a registered ``auditor``
    to open the global model. Recomputes the leader's FedAvg in registration order,
    quantises it for the task, and compares it with the published global model (which
    must open the block's commitment)."""
    block = ledger.round_block(task_id, round)
    if block is None:
        return False
    envelope = store.get(block.global_cid)
    published = open_global(envelope, auditor.address, auditor.identity.keys.private)
    if global_commitment(published) != block.global_commitment:
        return False
    contributions = []
    for registered in ledger.participants(task_id):
        on_chain = ledger.submission(task_id, round, registered.address)
        if on_chain is None or not on_chain.accepted:
            continue
        key = keys.get(registered.address)
        if key is None:
            raise KeyError(f"no package key for accepted participant {registered.address}")
        cid = ledger.model_cid(task_id, round, registered.address)
        package = open_package(key, store.get(cid))
        model = in_format(package.model, auditor.task)
        contributions.append(
            Contribution(registered.address, model, package.salt, registered.samples)
        )
    if not contributions:
        return False
    return average(contributions) == published.model


# ----------------------------------------------------------------------------- registry

#: Every behaviour by the name the experiments and the CLI use.
BEHAVIOURS: dict[str, Callable[[], Behaviour]] = {
    "inflated-claim": InflatedClaim,
    "forged-random": lambda: ForgedProof("random"),
    "forged-other-task": lambda: ForgedProof("other_task"),
    "replay-other": lambda: Replay("other_address"),
    "replay-later": lambda: Replay("earlier_round"),
    "substitution": SubstituteModel,
    "label-flip": LabelFlip,
    "free-rider": FreeRider,
    "withholder": Withholder,
    "garbled-hand-over": GarbledHandOver,
    "leader-skip": lambda: DishonestLeader("skip"),
    "leader-exclude": lambda: DishonestLeader("exclude"),
    "leader-alter": lambda: DishonestLeader("alter"),
    "leader-swap": lambda: DishonestLeader("swap"),
}


def make_behaviour(name: str) -> Behaviour:
    """A fresh behaviour (each participant needs its own: some keep per-round state)."""
    try:
        return BEHAVIOURS[name]()
    except KeyError:
        raise ValueError(f"unknown behaviour {name!r}; choose from {sorted(BEHAVIOURS)}") from None
