"""A participant of a ZKPoT federation: its identity, its private data, its current model,
and the :class:`Behaviour` it consults for every decision of a round.

Every decision a participant takes is asked of its behaviour: whether to take part, what
to train on, which model to hand the leader, what to claim on chain, which key to hand
over, what to do while another participant leads, how to aggregate when leading. The base
class is the honest protocol; the adversaries of :mod:`zkpot.attacks.behaviours` override
the steps they deviate in. The round itself, stage by stage, is the state machine of
:mod:`zkpot.participant.machine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray

from zkpot.exchange import (
    ExchangeError,
    global_commitment,
    open_global,
)
from zkpot.learning.aggregate import fedavg_int
from zkpot.learning.datasets import load_dataset
from zkpot.learning.dp import DPConfig, train_dp_sgd
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.partition import split
from zkpot.ledger import Ledger
from zkpot.protocol import Exclusion, Rejection, Task
from zkpot.store import ContentStore
from zkpot.store.sealed import KeyPair, generate_keypair, seal


@dataclass(frozen=True)
class Training:
    """Local training per round (DP-SGD when ``dp`` is set, see :mod:`zkpot.learning.dp`)."""

    epochs: int = 1
    lr: float = 0.05
    batch_size: int = 64
    momentum: float = 0.9
    dp: DPConfig | None = None


DEFAULT_TRAINING = Training()


@dataclass
class Identity:
    """A participant's keys: its ledger account and its X25519 key pair (both CSPRNG)."""

    account: LocalAccount
    keys: KeyPair

    @classmethod
    def generate(cls) -> Identity:
        return cls(Account.create(), generate_keypair())

    @property
    def address(self) -> str:
        return self.account.address


@dataclass
class Submitted:
    """What a participant did in phase one of a round."""

    count: int
    commitment: int
    tag: int
    proof: bytes
    model_cid: str
    prove_s: float
    gas: int
    local_accuracy: float
    key: bytes = field(repr=False)


class Unprovable(Exception):
    """The participant's model has no proof (an activation leaves the circuit's range on
    some test sample): it sits the round out."""


class ProofRejected(RuntimeError):
    """The task's verifier contract rejects a proof this participant made honestly: its
    keys do not match the task's, so no submission of it could ever pass."""


@dataclass(frozen=True)
class Claim:
    """What a submission asserts on chain: a commitment, a count, the proof's eight EVM
    words and the CID of the encrypted model package."""

    commitment: int
    count: int
    proof: tuple[int, ...]
    model_cid: str


@dataclass(frozen=True)
class SubmissionContext:
    """What a participant has at hand when it decides what to submit."""

    ledger: Ledger
    task_id: int
    round: int
    tag: int
    model: QuantizedModel
    salt: int


@dataclass(frozen=True, eq=False)
class Contribution:
    """A model the leader opened and checked against its commitment, ready to aggregate:
    the submitter, its model in the task's format, the salt that opens its commitment and
    its registered sample count (its weight)."""

    address: str
    model: QuantizedModel
    salt: int
    num_samples: int


#: The leader's reasons for leaving a submission out of the aggregate.
NO_KEY = "no key was handed over"
KEY_DOES_NOT_OPEN = "the handed key does not open (contested, not re-opened)"
COMMITMENT_MISMATCH = "the model does not open its commitment"
NO_SLOT = "the task's aggregation circuit has no slot left"


class Behaviour:
    """The decisions a participant takes in a round. This base class is the honest protocol.

    An adversary overrides the steps it deviates in. The participant's state machine
    (:class:`zkpot.participant.machine.RoundMachine`) consults it for every decision:
    whether to take part in a round, what to train on, which model to package, what to
    claim, which key to hand over, what to do while another participant leads, and how to
    aggregate when leading; in one process and across processes alike.
    """

    #: A short name for tables and results.
    name: str = "honest"
    #: An honest client does not pay for a submission the ledger would reject for its count.
    checks_threshold: bool = True

    def takes_part(self, p: Participant, round: int) -> bool:
        """Whether ``p`` trains and submits at all this round."""
        return True

    def training_data(
        self, p: Participant, round: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
        """The samples to train on, from the global model; ``None`` keeps the global model."""
        return p.x, p.y

    def handed_model(self, p: Participant, round: int) -> MLP:
        """The model put into the package for the leader: the one that was proven."""
        return p.model

    def claim(self, p: Participant, honest: Claim, ctx: SubmissionContext) -> Claim | None:
        """What to submit, given the honest claim; ``None`` submits nothing."""
        return honest

    def handed_key(self, p: Participant, round: int, key: bytes) -> bytes | None:
        """The package key to hand the leader (its hash goes with it); ``None`` withholds it."""
        return key

    def sealed_key(self, p: Participant, round: int, key: bytes, leader_key: bytes) -> bytes:
        """The hand-over's sealed box: ``key`` sealed to the leader's X25519 key."""
        return seal(key, leader_key)

    def answers_contest(self, p: Participant, round: int) -> bool:
        """Whether to re-open the key in public when the leader contests the hand-over."""
        return True

    def exclusions(self, p: Participant, round: int, owed: Sequence[Exclusion]) -> list[Exclusion]:
        """As leader, the block's exclusions, given the ones it owes: every hand-over of
        its turn that it leaves out, with the handed key or after an unanswered contest."""
        return list(owed)

    def not_leading(self, p: Participant, ledger: Ledger, task_id: int, round: int) -> None:
        """What ``p`` does while another participant leads (raises a ledger error if it
        tries something the contract refuses)."""
        return None

    def aggregate(
        self,
        p: Participant,
        round: int,
        contributions: Sequence[Contribution],
        rejected: Sequence[Rejection],
    ) -> tuple[QuantizedModel, list[Contribution], list[Rejection]]:
        """The leader's aggregate: FedAvg in integers (``zkpot.learning.aggregate``),
        weighted by the registered sample counts, over every contribution. Returns the
        global model, the contributions it aggregates (the block's accepted set, whose
        aggregation the leader proves) and the rejections."""
        return average(contributions), list(contributions), list(rejected)


def in_format(model: QuantizedModel, task: Task) -> QuantizedModel:
    """``model``'s integers read in the task's fixed-point format. The weight scales a
    package carries are the sender's word, and no commitment covers them: a model from
    another party is read at the task's scales (where the task has a format)."""
    if task.weight_scales is None:
        return model
    return replace(model, weight_scales=task.weight_scales)


def average(contributions: Sequence[Contribution]) -> QuantizedModel:
    """FedAvg in integers of the contributions' models, weighted by their registered
    sample counts (:func:`zkpot.learning.aggregate.fedavg_int`)."""
    return fedavg_int([c.model for c in contributions], [c.num_samples for c in contributions])


HONEST = Behaviour()


class Participant:
    """A participant: its identity, its private data and its current model."""

    def __init__(
        self,
        name: str,
        index: int,
        identity: Identity,
        x: NDArray[np.float64],
        y: NDArray[np.int64],
        task: Task,
        seed: int,
        training: Training = DEFAULT_TRAINING,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self.identity = identity
        self.x, self.y = x, y
        self.task = task
        self.seed = seed
        self.training = training
        self.behaviour = behaviour or HONEST
        self.model = MLP(task.spec.widths, np.random.default_rng([seed, 1, index]))
        self.submitted: dict[int, Submitted] = {}

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def num_samples(self) -> int:
        return len(self.y)

    def train(self, round: int, global_params: Sequence[NDArray[np.float64]]) -> MLP:
        """Local SGD from the global model, reproducible from (seed, participant, round).

        An honest participant trains on its own samples (its behaviour says which)."""
        self.model.set_params([np.array(p) for p in global_params])
        data = self.behaviour.training_data(self, round)
        if data is not None:
            self.fit(self.model, data[0], data[1], round)
        return self.model

    def fit(
        self,
        model: MLP,
        x: NDArray[np.float64],
        y: NDArray[np.int64],
        round: int,
        stream: int = 2,
    ) -> None:
        """This participant's training settings applied to ``model`` on ``(x, y)``: SGD, or
        DP-SGD when ``training.dp`` is set; the randomness comes from (seed, stream,
        participant, round)."""
        rng = np.random.default_rng([self.seed, stream, self.index, round])
        t = self.training
        if t.dp is None:
            train_sgd(model, x, y, t.epochs, t.lr, t.batch_size, rng, momentum=t.momentum)
        else:
            train_dp_sgd(model, x, y, t.epochs, t.lr, t.batch_size, rng, t.dp, t.momentum)

    # ------------------------------------------------------------- everyone

    def read_global(
        self, store: ContentStore, cid: str, commitment: int
    ) -> list[NDArray[np.float64]]:
        """Fetch, open and check the published global model (its weights and salt must
        open the commitment on chain, the one the block's proof is about)."""
        package = open_global(store.get(cid), self.address, self.identity.keys.private)
        if package.model.spec != self.task.spec:
            raise ExchangeError("the global model does not have the task's architecture")
        if global_commitment(package) != commitment:
            raise ExchangeError("the global model does not match its on-chain commitment")
        return in_format(package.model, self.task).dequantize()


def split_training_data(
    dataset: str, parts: int, alpha: float | None, seed: int
) -> list[tuple[NDArray[np.float64], NDArray[np.int64]]]:
    """The private data of ``parts`` participants: ``dataset``'s training split, IID or
    with Dirichlet(``alpha``) label skew, drawn with ``seed``. A federation in one process
    and a node of its own (which keeps its part only) split alike."""
    data = load_dataset(dataset)
    return [
        (data.x_train[idx].astype(np.float64), data.y_train[idx])
        for idx in split(data.y_train, parts, alpha, seed)
    ]
