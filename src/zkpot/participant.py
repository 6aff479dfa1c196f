"""One participant of a ZKPoT federation and its round loop.

Each round has two phases. In the first, every participant trains locally from the
global model, quantises, commits, proves its accuracy on the task's public test set,
stores its encrypted model and submits the ZKPoT transaction. In the second, once the
window has closed and the ledger names the leader, every participant hands the key of its
model package to the leader, sealed to the leader's X25519 key; the leader opens each
package, checks it against the on-chain commitment, aggregates the verified models
(FedAvg weighted by sample count), publishes the global model and proposes the block.

The same methods serve a single-process federation and separate processes: all state
that crosses participants goes through the ledger and the content store.
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
    params_from_bytes,
    params_to_bytes,
    seal_global,
    seal_package,
)
from zkpot.learning.fedavg import fedavg
from zkpot.learning.model import MLP, train_sgd
from zkpot.learning.quantize import quantize
from zkpot.ledger import Ledger
from zkpot.protocol import BelowThreshold, Rejection, RoundBlock, Task
from zkpot.store import ContentStore, StoreError
from zkpot.store.sealed import KeyPair, SealError, generate_keypair, seal, unseal


@dataclass(frozen=True)
class Training:
    """Local training per round."""

    epochs: int = 1
    lr: float = 0.05
    batch_size: int = 64
    momentum: float = 0.9


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
    ) -> None:
        self.name = name
        self.index = index
        self.identity = identity
        self.x, self.y = x, y
        self.task = task
        self.seed = seed
        self.training = training
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
        """Local SGD from the global model, reproducible from (seed, participant, round)."""
        self.model.set_params([np.array(p) for p in global_params])
        rng = np.random.default_rng([self.seed, 2, self.index, round])
        t = self.training
        train_sgd(
            self.model, self.x, self.y, t.epochs, t.lr, t.batch_size, rng, momentum=t.momentum
        )
        return self.model

    def prove_and_submit(
        self,
        ledger: Ledger,
        store: ContentStore,
        pk: proving.ProvingKey,
        task_id: int,
        round: int,
    ) -> Submitted:
        """Quantise, commit with a fresh salt, prove, store the encrypted package, submit."""
        qmodel = quantize(self.model, self.task.spec, self.task.test_x)
        salt = proving.new_salt()
        tag = ledger.binding_tag(task_id, round, self.address)
        t = time.perf_counter()
        proven = proving.prove(pk, qmodel, salt, tag)
        prove_s = time.perf_counter() - t
        if proven.count < self.task.min_count:
            # An honest client does not pay for a transaction the ledger would reject.
            raise BelowThreshold(
                f"proven count {proven.count} is below the threshold {self.task.min_count}"
            )
        key, ciphertext = seal_package(ModelPackage(qmodel, salt, self.num_samples))
        cid = store.put(ciphertext)
        tx = ledger.submit(
            self.identity.account,
            task_id,
            round,
            proven.commitment,
            proven.count,
            cid,
            proven.proof.to_evm(),
        )
        local = self.model.accuracy(self.task.test_x / 255.0, self.task.test_y)
        done = Submitted(
            proven.count,
            proven.commitment,
            tag,
            proven.proof.to_bytes(),
            cid,
            prove_s,
            tx.gas_used,
            local,
            key,
        )
        self.submitted[round] = done
        return done

    # ------------------------------------------------------------- phase 2: hand over

    def hand_over(self, ledger: Ledger, task_id: int, round: int, leader_key: bytes) -> int:
        """Seal this round's package key to the leader; returns the gas used."""
        sealed = seal(self.submitted[round].key, leader_key)
        return ledger.hand_over(self.identity.account, task_id, round, sealed).gas_used

    # ------------------------------------------------------------- the leader's duty

    def lead(
        self,
        ledger: Ledger,
        store: ContentStore,
        task_id: int,
        round: int,
        registry: Mapping[str, bytes],
        order: Sequence[str],
    ) -> tuple[RoundBlock, list[NDArray[np.float64]], int]:
        """Open, check and aggregate the round's models; publish and propose the block.

        ``registry`` maps every participant's address to its X25519 key and ``order`` fixes
        the aggregation order (registration order), so the global model is reproducible.
        Returns the block, the global parameters and the proposal's gas.
        """
        keys = {
            a: unseal(k, self.identity.keys.private)
            for a, k in ledger.handovers(task_id, round).items()
        }
        keys[self.address] = self.submitted[round].key
        accepted: list[str] = []
        rejected: list[Rejection] = []
        models, weights = [], []
        for address in order:
            on_chain = ledger.submission(task_id, round, address)
            if on_chain is None:
                continue
            try:
                package = self._open(store, keys.get(address), ledger, task_id, round, address)
            except (ExchangeError, StoreError, SealError) as exc:
                rejected.append(Rejection(address, str(exc)))
                continue
            if proving.commit(package.model, package.salt) != on_chain.commitment:
                rejected.append(Rejection(address, "the model does not open its commitment"))
                continue
            accepted.append(address)
            models.append(package.model.dequantize())
            weights.append(package.num_samples)
        params = fedavg(models, weights)
        blob = params_to_bytes(params)
        cid = store.put(seal_global(blob, registry))
        head = ledger.head(task_id)
        proposal = ledger.propose_block(
            self.identity.account,
            task_id,
            round,
            head.block_hash,
            global_commitment(blob),
            cid,
            accepted,
        )
        leader = ledger.leader_of(task_id, round)
        block = RoundBlock(
            task_id=task_id,
            round=round,
            parent_hash=head.block_hash,
            leader=leader.address,
            leader_count=leader.count,
            num_samples=self.task.num_samples,
            global_commitment=global_commitment(blob),
            global_cid=cid,
            accepted=tuple(sorted(accepted, key=lambda a: int(a, 16))),
            rejected=tuple(rejected),
        )
        if block.hash != proposal.block_hash:
            raise RuntimeError("the ledger's block hash differs from the protocol's")
        return block, params, proposal.tx.gas_used

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
            raise ExchangeError("no key was handed over")
        cid = ledger.model_cid(task_id, round, address)
        return open_package(key, store.get(cid))

    # ------------------------------------------------------------- everyone

    def read_global(
        self, store: ContentStore, cid: str, commitment: int
    ) -> list[NDArray[np.float64]]:
        """Fetch, open and check the published global model."""
        blob = open_global(store.get(cid), self.address, self.identity.keys.private)
        if global_commitment(blob) != commitment:
            raise ExchangeError("the global model does not match its on-chain commitment")
        return params_from_bytes(blob)
