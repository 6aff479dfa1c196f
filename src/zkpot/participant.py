"""One participant of a ZKPoT federation and its round loop.

Each round has two phases. In the first, every participant trains locally from the
global model, quantises, commits, proves its accuracy on the task's public test set,
stores its encrypted model and submits the ZKPoT transaction. In the second, once the
window has closed and the ledger names the leader, every participant hands the key of its
model package to the leader, sealed to the leader's X25519 key; the leader opens each
package, checks it against the on-chain commitment, aggregates the verified models
(FedAvg weighted by sample count), quantises and commits the global model, proves its
accuracy with the task's circuit, publishes it and proposes the block. A leader that does
not propose a valid block in its turn is replaced by the next-best submitter (the ledger
moves the turn on), and the others hand their keys over again.

The same methods serve a single-process federation and separate processes: all state
that crosses participants goes through the ledger and the content store.

Every decision a participant takes is asked of its :class:`Behaviour`: what to train on,
which model to hand the leader, what to claim on chain, which key to hand over, how to
aggregate when leading. The base class is the honest protocol; the adversaries of
:mod:`zkpot.attacks.behaviours` override the steps they deviate in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray

from zkpot import proving
from zkpot.exchange import (
    ExchangeError,
    ModelPackage,
    global_commitment,
    open_global,
    open_package,
    seal_global,
    seal_package,
)
from zkpot.learning.dp import DPConfig, train_dp_sgd
from zkpot.learning.fedavg import fedavg
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.quantize import quantize
from zkpot.ledger import Ledger
from zkpot.protocol import BelowThreshold, Rejection, RoundBlock, Task
from zkpot.store import ContentStore, StoreError
from zkpot.store.sealed import KeyPair, SealError, generate_keypair, seal, unseal


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


class Abstained(Exception):
    """The participant's behaviour chose not to submit in this round (the message says why)."""


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
    """A model the leader opened and checked against its commitment, ready to aggregate."""

    address: str
    params: list[NDArray[np.float64]]
    num_samples: int


#: The leader's reasons for leaving a submission out of the aggregate.
NO_KEY = "no key was handed over"
COMMITMENT_MISMATCH = "the model does not open its commitment"


class Behaviour:
    """The decisions a participant takes in a round. This base class is the honest protocol.

    An adversary overrides the steps it deviates in; the participant consults its
    behaviour when it trains, submits, hands over its key and leads, and the federation
    asks it whether it takes part in a round and what it does while another participant
    leads.
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
        """The package key to hand the leader; ``None`` withholds it."""
        return key

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
    ) -> tuple[list[NDArray[np.float64]], list[str], list[Rejection]]:
        """The leader's aggregate: FedAvg weighted by sample count over every contribution.
        Returns the global parameters, the accepted addresses and the rejections."""
        params = fedavg([c.params for c in contributions], [c.num_samples for c in contributions])
        return params, [c.address for c in contributions], list(rejected)


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

    # ------------------------------------------------------------- phase 1: prove, submit

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

    def prove_and_submit(
        self,
        ledger: Ledger,
        store: ContentStore,
        pk: proving.ProvingKey,
        task_id: int,
        round: int,
    ) -> Submitted:
        """Quantise, commit with a fresh salt, prove, store the encrypted package, submit.

        Raises :class:`Unprovable` if the model has no proof, :class:`Abstained` if the
        behaviour submits nothing, the protocol's ``BelowThreshold`` if an honest client's
        count cannot pass, :class:`ProofRejected` if the task's verifier contract rejects
        the honest proof, and the ledger's error if the contract rejects the submission."""
        qmodel = quantize(self.model, self.task.spec, self.task.test_x)
        salt = proving.new_salt()
        tag = ledger.binding_tag(task_id, round, self.address)
        t = time.perf_counter()
        try:
            proven = proving.prove(pk, qmodel, salt, tag)
        except proving.ActivationOverflowError as exc:
            raise Unprovable(f"the model has no proof: {exc}") from exc
        prove_s = time.perf_counter() - t
        if self.behaviour.checks_threshold and proven.count < self.task.min_count:
            # An honest client does not pay for a transaction the ledger would reject.
            raise BelowThreshold(proven.count, self.task.min_count)
        inputs = [proven.commitment, proven.count, tag]
        if not ledger.verify_proof(ledger.task(task_id).verifier, proven.proof.to_evm(), inputs):
            raise ProofRejected("the task's verifier contract rejects this participant's proof")
        handed = self.behaviour.handed_model(self, round)
        packaged = (
            qmodel if handed is self.model else quantize(handed, self.task.spec, self.task.test_x)
        )
        key, ciphertext = seal_package(ModelPackage(packaged, salt, self.num_samples))
        cid = store.put(ciphertext)
        honest = Claim(proven.commitment, proven.count, tuple(proven.proof.to_evm()), cid)
        context = SubmissionContext(ledger, task_id, round, tag, qmodel, salt)
        claim = self.behaviour.claim(self, honest, context)
        if claim is None:
            raise Abstained(f"{self.behaviour.name}: nothing to submit in round {round}")
        tx = ledger.submit(
            self.identity.account,
            task_id,
            round,
            claim.commitment,
            claim.count,
            claim.model_cid,
            claim.proof,
        )
        local = self.model.accuracy(self.task.test_x / 255.0, self.task.test_y)
        done = Submitted(
            claim.count,
            claim.commitment,
            tag,
            proven.proof.to_bytes(),
            claim.model_cid,
            prove_s,
            tx.gas_used,
            local,
            key,
        )
        self.submitted[round] = done
        return done

    # ------------------------------------------------------------- phase 2: hand over

    def hand_over(
        self, ledger: Ledger, task_id: int, round: int, leader: str, leader_key: bytes
    ) -> int:
        """Seal this round's package key to the current leader (address ``leader``, X25519
        key ``leader_key``); returns the gas used (0 if the behaviour withholds the key)."""
        key = self.behaviour.handed_key(self, round, self.submitted[round].key)
        if key is None:
            return 0
        sealed = seal(key, leader_key)
        return ledger.hand_over(self.identity.account, task_id, round, leader, sealed).gas_used

    # ------------------------------------------------------------- the leader's duty

    def lead(
        self,
        ledger: Ledger,
        store: ContentStore,
        pk: proving.ProvingKey,
        task_id: int,
        round: int,
        registry: Mapping[str, bytes],
        order: Sequence[str],
    ) -> tuple[RoundBlock, list[NDArray[np.float64]], int]:
        """Open, check and aggregate the round's models; quantise, commit and prove the
        global model; publish it and propose the block.

        ``registry`` maps every participant's address to its X25519 key and ``order`` fixes
        the aggregation order (registration order), so the global model is reproducible.
        Returns the block, the global parameters and the proposal's gas. Raises the
        protocol's ``BelowThreshold`` if an honest leader's aggregate cannot pass the
        threshold (its turn then passes to the next submitter), and the ledger's error if
        the contract refuses the block.
        """
        handed = ledger.handovers(task_id, round, leader=self.address)
        contributions: list[Contribution] = []
        rejected: list[Rejection] = []
        for address in order:
            on_chain = ledger.submission(task_id, round, address)
            if on_chain is None:
                continue
            try:
                key = self._package_key(handed, address, round)
                package = self._open(store, key, ledger, task_id, round, address)
            except (ExchangeError, StoreError, SealError) as exc:
                rejected.append(Rejection(address, str(exc)))
                continue
            if proving.commit(package.model, package.salt) != on_chain.commitment:
                rejected.append(Rejection(address, COMMITMENT_MISMATCH))
                continue
            contributions.append(
                Contribution(address, package.model.dequantize(), package.num_samples)
            )
        params, accepted, rejected = self.behaviour.aggregate(self, round, contributions, rejected)
        kept = set(accepted)
        weight = sum(c.num_samples for c in contributions if c.address in kept)
        package = ModelPackage(
            quantize(MLP.from_params(params), self.task.spec, self.task.test_x),
            proving.new_salt(),
            weight,
        )
        commitment = global_commitment(package)
        tag = ledger.global_tag(task_id, round, self.address)
        proven = proving.prove(pk, package.model, package.salt, tag)
        if self.behaviour.checks_threshold and proven.count < self.task.min_count:
            # An honest leader's aggregate that cannot pass: no block this turn.
            raise BelowThreshold(proven.count, self.task.min_count)
        cid = store.put(seal_global(package, registry))
        head = ledger.head(task_id)
        me = ledger.round_state(task_id, round)
        proposal = ledger.propose_block(
            self.identity.account,
            task_id,
            round,
            head.block_hash,
            commitment,
            proven.count,
            cid,
            accepted,
            proven.proof.to_evm(),
        )
        block = RoundBlock(
            task_id=task_id,
            round=round,
            parent_hash=head.block_hash,
            leader=self.address,
            leader_count=me.best_count,
            num_samples=self.task.num_samples,
            global_commitment=commitment,
            global_count=proven.count,
            global_cid=cid,
            accepted=tuple(sorted(accepted, key=lambda a: int(a, 16))),
            rejected=tuple(rejected),
        )
        if block.hash != proposal.block_hash:
            raise RuntimeError("the ledger's block hash differs from the protocol's")
        return block, package.model.dequantize(), proposal.tx.gas_used

    def _package_key(self, handed: Mapping[str, bytes], address: str, round: int) -> bytes | None:
        """The package key of ``address``: this leader's own, or the one handed over
        (a key that does not unseal raises SealError and rejects that submission only)."""
        if address == self.address:
            return self.submitted[round].key
        sealed = handed.get(address)
        return None if sealed is None else unseal(sealed, self.identity.keys.private)

    def _open(
        self,
        store: ContentStore,
        key: bytes | None,
        ledger: Ledger,
        task_id: int,
        round: int,
        address: str,
    ) -> ModelPackage:
        if key is None:
            raise ExchangeError(NO_KEY)
        cid = ledger.model_cid(task_id, round, address)
        return open_package(key, store.get(cid))

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
        return package.model.dequantize()
