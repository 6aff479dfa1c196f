"""One participant's round, as a state machine: the same code in one process and across many.

:meth:`RoundMachine.step` does everything the participant can do in a round *now* and
returns what it waits for (:class:`Waiting`); a driver calls it again once the chain may
have moved on. :class:`~zkpot.federation.Federation` steps every participant of a
federation against one ledger and moves the chain's clock when they all wait;
:class:`~zkpot.node.runner.ParticipantNode` steps one participant against a JSON-RPC node,
polling. What the machine did is in its :class:`~zkpot.participant.records.Records`
(memory, or the node's crash-safe SQLite file) and in the events it emits.

A round, stage by stage (:class:`~zkpot.participant.records.Stage`):

1. **Train** (→ ``trained``) from the global model of the previous block, checked against
   its commitment; the behaviour says whether to take part and what to train on.
2. **Prepare** (→ ``prepared``): quantise, commit with a fresh salt, prove with the tag
   the ledger will recompute, check the proof with the task's verifier contract (a static
   call), seal the package the behaviour hands over, store it, and ask the behaviour what
   to claim. Everything the transaction needs, secrets included, is recorded **before** it
   is sent: a crash in between cannot leave a submission its owner can no longer open.
3. **Submit** (→ ``submitted``), unless the chain already holds this submission. A model
   with no proof, a count an honest client knows is below the threshold, a behaviour that
   claims nothing, or a claim the ledger refuses, ends the round's work (→ ``skipped``).
4. **Phase two**, once the window has closed, turn by turn: hand the package key (the
   behaviour may withhold it) to the turn's leader, sealed to its X25519 key; while another
   participant leads, the behaviour may act (:meth:`Behaviour.not_leading`); as the leader
   (→ ``proposed``), wait for the others' keys, open and check every package against its
   commitment, :meth:`~RoundMachine.aggregate`, prove the global model's count and propose
   the block. A leader that yields no block loses its turn to the next-best submitter.
5. **Finish** (→ ``done``): read the round's block (appending the skip block once no
   leader is left) and check the global model it names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from zkpot import proving
from zkpot.exchange import (
    ExchangeError,
    ModelPackage,
    global_commitment,
    open_package,
    params_from_bytes,
    params_to_bytes,
    seal_global,
    seal_package,
)
from zkpot.learning.aggregate import aggregation_weights
from zkpot.learning.integer_model import QuantizationError, QuantizedModel
from zkpot.learning.model import MLP
from zkpot.learning.quantize import quantize
from zkpot.ledger import Ledger, LedgerError, RoundBlockView, RoundStatus
from zkpot.participant.participant import (
    COMMITMENT_MISMATCH,
    KEY_DOES_NOT_OPEN,
    NO_KEY,
    NO_SLOT,
    Claim,
    Contribution,
    Participant,
    ProofRejected,
    SubmissionContext,
    Submitted,
    Unprovable,
    in_format,
)
from zkpot.participant.records import (
    Records,
    RoundRecord,
    Stage,
    bytes_to_words,
    words_to_bytes,
)
from zkpot.protocol import (
    BelowThreshold,
    BlockAlreadyProposed,
    DuplicateHandOver,
    DuplicateSubmission,
    Exclusion,
    InvalidContest,
    InvalidSubmission,
    InvalidTransaction,
    LateSubmission,
    NoLeaderLeft,
    NotLeader,
    Rejection,
    RoundBlock,
    RoundHasLeader,
    RoundNotOpen,
)
from zkpot.protocol.hashes import global_tag, key_hash
from zkpot.protocol.types import ZERO_ADDRESS
from zkpot.store import ContentStore, StoreError, StoreUnavailable
from zkpot.store.sealed import SealError, unseal

#: emit(event): receives each event of a machine (a JSON-serialisable dict).
Emit = Callable[[dict[str, Any]], None]

#: The note of a round the participant's behaviour takes no part in.
ABSENT = "takes no part in this round"


def _ignore(event: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Aggregation:
    """A leader's aggregation step (:meth:`RoundMachine.aggregate`)."""

    #: the global model under a fresh salt, with its weight
    package: ModelPackage
    #: the proof that the accepted models average to it
    proven: proving.ProvenAggregate
    #: the accepted addresses, ascending (the slots' order)
    accepted: list[str]
    #: the submissions it does not aggregate, and why
    rejected: list[Rejection]
    #: the block's exclusions: every hand-over of the turn left out, with its key (``None``
    #: for one contested and not re-opened)
    excluded: list[Exclusion]


class BlockNotVerified(Exception):
    """A round's block does not verify here: this participant does not train on it."""

    def __init__(self, round: int, reason: str) -> None:
        super().__init__(f"the block of round {round} does not verify: {reason}")
        self.round = round
        self.reason = reason


class Waiting(StrEnum):
    """What a participant waits for after a step."""

    #: the round has not opened yet
    OPEN = "open"
    #: the submission window has not closed yet
    CLOSED = "closed"
    #: as the leader, for the other submitters' package keys
    KEYS = "keys"
    #: as the leader, for contested submitters to re-open their keys (until ``respond_by``)
    RESPONSE = "response"
    #: for the current leader's block, or the end of its turn
    TURN = "turn"
    #: nothing: the round is done
    NOTHING = "nothing"


@dataclass
class RoundMachine:
    """``participant``'s rounds of task ``task_id``, stage by stage (see the module doc).

    ``registry`` maps every registered address to its X25519 key, in registration order
    (the order the leader aggregates in, so the global model is reproducible).
    """

    participant: Participant
    ledger: Ledger
    store: ContentStore
    pk: proving.ProvingKey
    task_id: int
    registry: Mapping[str, bytes]
    aggregation_key: proving.AggregationKey
    records: Records
    emit: Emit = _ignore
    #: The blocks this participant appended (proposed or skipped), by round.
    blocks: dict[int, RoundBlock] = field(default_factory=dict, init=False)
    #: Seconds this participant spent proving each round's aggregate, as leader.
    aggregation_s: dict[int, float] = field(default_factory=dict, init=False)
    #: Whether the task's aggregation verifier accepted that proof (a static call).
    aggregation_verified: dict[int, bool] = field(default_factory=dict, init=False)
    #: That proof's EVM words and the public inputs the ledger gave it.
    aggregation_proofs: dict[int, tuple[list[int], list[int]]] = field(
        default_factory=dict, init=False
    )
    #: As the leader waiting on contests: when the first response time ends.
    respond_by: int | None = field(default=None, init=False)
    #: (round, turn) pairs already acted on in phase two.
    _acted: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)

    @property
    def aggregator(self) -> str:
        """The task's aggregation verifier contract."""
        return self.ledger.task(self.task_id).aggregator

    @cached_property
    def sample_counts(self) -> dict[str, int]:
        """Every registered address's sample count, as the ledger holds it: its model's
        weight in an aggregate (never a number from a package)."""
        return {m.address: m.samples for m in self.ledger.participants(self.task_id)}

    @property
    def address(self) -> str:
        return self.participant.address

    def _event(self, event: str, round: int, **fields: Any) -> None:
        self.emit({"event": event, "address": self.address, "round": round, **fields})

    def _skip(self, r: int, note: str, **fields: Any) -> RoundRecord:
        """Sit the round out: no (more) submission from this participant in round ``r``."""
        self._event("skipped", r, reason=note, **fields)
        return self.records.advance(r, Stage.SKIPPED, note=note)

    @staticmethod
    def _refusal(exc: Exception) -> dict[str, str]:
        """Who refused something (``ledger`` or ``client``), by which rule, and why."""
        layer = "ledger" if isinstance(exc, LedgerError) else "client"
        return {"layer": layer, "rule": type(exc).__name__, "detail": str(exc)}

    # ------------------------------------------------------------------ the step

    def step(self, r: int, *, stop_waiting_for_keys: bool = False) -> Waiting:
        """Do all that can be done in round ``r`` now; return what is waited for.

        ``stop_waiting_for_keys``: as the leader, aggregate without the package keys that
        have not been handed over (the driver decides how long to wait for them)."""
        record = self.records.record(r)
        if record is not None and record.stage == Stage.DONE:
            return Waiting.NOTHING
        if record is None or record.stage in (Stage.TRAINED, Stage.PREPARED):
            if self.ledger.task(self.task_id).current_round < r:
                return Waiting.OPEN
            record = self._phase_one(r)
        if record.submitted and r not in self.participant.submitted:
            self._restore(record)
        if record.submitted:
            waiting = self._phase_two(r, record, stop_waiting_for_keys)
            if waiting is not None:
                return waiting
        elif record.note != ABSENT:
            self._while_others_lead(r)
        block = self._block_or_skip(r)
        if block is None:
            return Waiting.TURN
        self._finish(r, block)
        return Waiting.NOTHING

    # ------------------------------------------------------------------ phase one

    def _phase_one(self, r: int) -> RoundRecord:
        p = self.participant
        record = self.records.record(r)
        if record is None:
            if self._status(r) != RoundStatus.OPEN:
                return self._skip(r, "the window closed before this participant started the round")
            if not p.behaviour.takes_part(p, r):
                return self._skip(r, ABSENT, absent=True)
            if self.ledger.submission(self.task_id, r, self.address) is not None:
                # Submitted by this account from records that are gone: its package key
                # went with them, so the leader cannot open that model.
                return self._skip(r, "this account submitted the round from another state")
            cid, commitment = self._global_reference(r)
            params = p.read_global(self.store, cid, commitment)
            self._event("training", r)
            p.train(r, params)
            record = self.records.advance(
                r, Stage.TRAINED, params=params_to_bytes(p.model.get_params())
            )
        if record.stage == Stage.TRAINED:
            if self._status(r) != RoundStatus.OPEN:
                return self._skip(r, "the window closed before this participant had a proof")
            assert record.params is not None
            p.model.set_params(params_from_bytes(record.params))
            record = self._prepare(r)
        if record.stage == Stage.PREPARED:
            record = self._submit(r, record, retry=True)
        return record

    def _global_reference(self, r: int) -> tuple[str, int]:
        """CID and commitment of the global model round ``r`` trains from."""
        if r == 0:
            chain = self.ledger.task(self.task_id)
            return chain.initial_cid, chain.initial_commitment
        block = self.ledger.round_block(self.task_id, r - 1)
        if block is None:
            raise RuntimeError(f"round {r} is open but round {r - 1} has no block")
        return block.global_cid, block.global_commitment

    def _prepare(self, r: int) -> RoundRecord:
        """Quantise, commit with a fresh salt, prove, check, seal and store, decide the
        claim; record it all before anything is sent.

        Raises :class:`ProofRejected` if the task's verifier contract rejects the honest
        proof (this participant's keys are not the task's: no submission could pass)."""
        p, task, ledger = self.participant, self.participant.task, self.ledger
        self._event("proving", r)
        try:
            qmodel = task.quantize(p.model)
        except QuantizationError as exc:
            return self._skip(r, str(Unprovable(f"the model has no proof: {exc}")))
        salt = proving.new_salt()
        tag = ledger.binding_tag(self.task_id, r, self.address)
        t = time.perf_counter()
        try:
            proven = proving.prove(self.pk, qmodel, salt, tag)
        except proving.ActivationOverflowError as exc:
            return self._skip(r, str(Unprovable(f"the model has no proof: {exc}")))
        prove_s = time.perf_counter() - t
        if p.behaviour.checks_threshold and proven.count < task.min_count:
            # An honest client does not pay for a transaction the ledger would reject.
            below = BelowThreshold(proven.count, task.min_count)
            return self._skip(r, below.explain(), **self._refusal(below))
        inputs = [proven.commitment, proven.count, tag]
        verifier = ledger.task(self.task_id).verifier
        if not ledger.verify_proof(verifier, proven.proof.to_evm(), inputs):
            raise ProofRejected("the task's verifier contract rejects this participant's proof")
        handed = p.behaviour.handed_model(p, r)
        packaged = qmodel if handed is p.model else self._quantize_handed(handed)
        key, ciphertext = seal_package(ModelPackage(packaged, salt, p.num_samples))
        cid = self.store.put(ciphertext)
        honest = Claim(proven.commitment, proven.count, tuple(proven.proof.to_evm()), cid)
        context = SubmissionContext(ledger, self.task_id, r, tag, qmodel, salt)
        claim = p.behaviour.claim(p, honest, context)
        if claim is None:
            return self._skip(r, f"{p.behaviour.name}: nothing to submit in round {r}")
        record = self.records.advance(
            r,
            Stage.PREPARED,
            salt=str(salt),
            package_key=key,
            ciphertext=ciphertext,
            model_cid=claim.model_cid,
            commitment=str(claim.commitment),
            count=claim.count,
            tag=str(tag),
            proof=proven.proof.to_bytes(),
            claim_proof=words_to_bytes(claim.proof),
            prove_s=prove_s,
            local_accuracy=p.model.accuracy(task.test_x / 255.0, task.test_y),
        )
        self._event(
            "prepared", r, count=claim.count, prove_s=round(prove_s, 3), model_cid=claim.model_cid
        )
        return record

    def _quantize_handed(self, model: MLP) -> QuantizedModel:
        """The integers of a model the behaviour hands over in place of the proven one: in
        the task's format, or at the model's own scales where it does not fit it."""
        task = self.participant.task
        try:
            return task.quantize(model)
        except QuantizationError:
            return quantize(model, task.spec, task.test_x)

    def _submit(self, r: int, record: RoundRecord, *, retry: bool) -> RoundRecord:
        """Send the prepared ZKPoT transaction, unless the chain already has it."""
        assert record.commitment is not None and record.model_cid is not None
        assert record.count is not None and record.claim_proof is not None
        on_chain = self.ledger.submission(self.task_id, r, self.address)
        if on_chain is not None:
            if on_chain.commitment != int(record.commitment):
                # Another participant uses this account: never share a key or a state file.
                return self._skip(
                    r, f"the chain holds a submission by {self.address} this participant never made"
                )
            self._event("submitted", r, count=record.count, already_on_chain=True)
            return self.records.advance(r, Stage.SUBMITTED)
        if self._status(r) != RoundStatus.OPEN:
            return self._skip(r, "the window closed before the submission was sent")
        self._ensure_stored(record)
        try:
            tx = self.ledger.submit(
                self.participant.identity.account,
                self.task_id,
                r,
                int(record.commitment),
                record.count,
                record.model_cid,
                bytes_to_words(record.claim_proof),
            )
        except DuplicateSubmission:
            # An earlier run's transaction was mined in the meantime.
            if not retry:
                raise
            return self._submit(r, record, retry=False)
        except (LateSubmission, RoundNotOpen) as exc:
            return self._skip(r, f"the ledger refused the submission: {exc!r}")
        except (InvalidSubmission, LedgerError) as exc:
            note = exc.explain() if isinstance(exc, InvalidTransaction) else str(exc)
            return self._skip(r, note, **self._refusal(exc))
        self._event("submitted", r, count=record.count, gas=tx.gas_used)
        return self.records.advance(r, Stage.SUBMITTED, submit_gas=tx.gas_used)

    def _ensure_stored(self, record: RoundRecord) -> None:
        """Put the package back if the store lost it (same bytes, same CID): the leader
        fetches it by the CID on chain."""
        cid, ciphertext = record.model_cid, record.ciphertext
        if cid is not None and ciphertext is not None and not self.store.has(cid):
            self.store.put(ciphertext)

    def _restore(self, record: RoundRecord) -> None:
        """Give the participant its submission of the round (also after a restart)."""
        assert record.package_key is not None and record.commitment is not None
        self.participant.submitted[record.round] = Submitted(
            count=record.count or 0,
            commitment=int(record.commitment),
            tag=int(record.tag or 0),
            proof=record.proof or b"",
            model_cid=record.model_cid or "",
            prove_s=record.prove_s or 0.0,
            gas=record.submit_gas or 0,
            local_accuracy=record.local_accuracy or 0.0,
            key=record.package_key,
        )

    # ------------------------------------------------------------------ phase two

    def _status(self, r: int) -> RoundStatus:
        return self.ledger.round_state(self.task_id, r).status

    def _phase_two(self, r: int, record: RoundRecord, stop_waiting: bool) -> Waiting | None:
        """One turn of phase two; None once the round has its block or no leader is left."""
        state = self.ledger.round_state(self.task_id, r)
        if state.status == RoundStatus.OPEN:
            return Waiting.CLOSED
        if state.status == RoundStatus.FINALIZED or state.leader is None:
            return None
        if state.leader != self.address:
            self._answer_contest(r, state.turn)
        if (r, state.turn) in self._acted:
            return Waiting.TURN
        self._ensure_stored(record)
        if state.leader != self.address:
            self._hand_over(r, state.leader)
            self._while_others_lead(r, state.turn)
            return Waiting.TURN
        missing = self._missing_keys(r)
        if missing and not stop_waiting:
            return Waiting.KEYS
        if missing:
            self._event("hand_over_timeout", r, missing=missing)
        if self._contest(r, state.turn):
            return Waiting.RESPONSE
        self._acted.add((r, state.turn))
        return None if self._lead(r) else Waiting.TURN

    def _hand_over(self, r: int, leader: str) -> None:
        """Seal this round's package key to ``leader`` (unless the behaviour withholds it)."""
        if self.address in self.ledger.handovers(self.task_id, r, leader=leader):
            self.records.advance(r, Stage.HANDED_OVER, leader=leader)
            return
        p = self.participant
        key = p.behaviour.handed_key(p, r, p.submitted[r].key)
        gas = 0
        if key is not None:
            sealed = p.behaviour.sealed_key(p, r, key, self.registry[leader])
            try:
                tx = self.ledger.hand_over(
                    p.identity.account, self.task_id, r, leader, sealed, key_hash(key)
                )
                gas = tx.gas_used
            except (RoundNotOpen, NotLeader, NoLeaderLeft, DuplicateHandOver):
                # The leader proposed without this model (its wait ran out), or its turn
                # passed meanwhile: the next step hands over to the next one.
                self._event("hand_over_too_late", r, leader=leader)
                return
        self.records.advance(r, Stage.HANDED_OVER, leader=leader, handover_gas=gas)
        self._event("handed_over", r, leader=leader, gas=gas, withheld=key is None)

    def _answer_contest(self, r: int, turn: int) -> None:
        """If the turn's leader contested this participant's hand-over, re-open the key in
        public: the leader can then no longer leave the submission out without showing
        the key (and the model becomes public)."""
        mine = self.ledger.hand_over_state(self.task_id, r, self.address)
        if mine is None or mine.turn != turn or mine.contested_at is None or mine.reopened:
            return
        p = self.participant
        key = p.behaviour.handed_key(p, r, p.submitted[r].key)
        if key is None or not p.behaviour.answers_contest(p, r):
            return
        try:
            tx = self.ledger.reopen(p.identity.account, self.task_id, r, key)
        except (InvalidContest, LedgerError) as exc:
            self._event("refused", r, **self._refusal(exc))
            return
        self._event("reopened", r, gas=tx.gas_used)

    def _while_others_lead(self, r: int, turn: int | None = None) -> None:
        """What the behaviour does once per turn while another participant leads.

        ``turn``: the turn whose leader was just handed the key; if it has passed meanwhile,
        nothing is marked done, so that the next step hands over to the new leader."""
        state = self.ledger.round_state(self.task_id, r)
        if state.status != RoundStatus.CLOSED or state.leader in (None, self.address):
            return
        if turn is not None and state.turn != turn:
            return
        if (r, state.turn) in self._acted:
            return
        self._acted.add((r, state.turn))
        p = self.participant
        try:
            p.behaviour.not_leading(p, self.ledger, self.task_id, r)
        except LedgerError as exc:
            self._event("refused", r, **self._refusal(exc))

    def _missing_keys(self, r: int) -> list[str]:
        """The other submitters whose package keys have not been handed to this leader."""
        handed = self.ledger.handovers(self.task_id, r, leader=self.address)
        return [
            a
            for a in self.registry
            if a != self.address
            and a not in handed
            and self.ledger.submission(self.task_id, r, a) is not None
        ]

    # ------------------------------------------------------------------ leading

    def _handed_keys(self, r: int, turn: int) -> dict[str, bytes | None]:
        """The package key of each hand-over to this leader in ``turn``: re-opened in
        public, or unsealed and matching the hand-over's key hash; ``None`` for one that
        does not open (it does not unseal, or it is not the key its hash commits to)."""
        sealed = self.ledger.handovers(self.task_id, r, leader=self.address)
        reopened = self.ledger.reopened_keys(self.task_id, r)
        keys: dict[str, bytes | None] = {}
        for address, box in sealed.items():
            state = self.ledger.hand_over_state(self.task_id, r, address)
            if state is None or state.turn != turn:
                continue
            if state.reopened:
                keys[address] = reopened[address]
                continue
            try:
                key: bytes | None = unseal(box, self.participant.identity.keys.private)
            except SealError:
                key = None
            keys[address] = key if key is not None and key_hash(key) == state.key_hash else None
        return keys

    def _contest(self, r: int, turn: int) -> bool:
        """Contest each hand-over of ``turn`` whose key does not open; True while a
        contested submitter may still re-open its key (the block waits for it)."""
        unopened = [a for a, key in self._handed_keys(r, turn).items() if key is None]
        if not unopened:
            return False
        p = self.participant
        contests = self.ledger.contests(self.task_id, r)
        for address in unopened:
            state = self.ledger.hand_over_state(self.task_id, r, address)
            if state is not None and state.contested_at is None:
                tx = self.ledger.contest(p.identity.account, self.task_id, r, address)
                contests[address] = int(tx.event("Contested").args["respondBy"])
                self._event("contested", r, submitter=address, gas=tx.gas_used)
        now = self.ledger.timestamp()
        pending = [contests[a] for a in unopened if contests[a] > now]
        self.respond_by = min(pending) if pending else None
        return bool(pending)

    def _lead(self, r: int) -> bool:
        """Open, check and aggregate the round's models; quantise, commit and prove the
        global model; publish it and propose the block. False if this turn yields no
        block: the global model has no proof, an honest leader's aggregate cannot pass the
        threshold, or the ledger refuses the block."""
        self._event("leading", r)
        try:
            block, gas = self._propose(r)
        except BlockAlreadyProposed:
            # An earlier run's proposal was mined in the meantime.
            self.records.advance(r, Stage.PROPOSED, leader=self.address)
            return True
        except (BelowThreshold, LedgerError, Unprovable, ProofRejected) as exc:
            self._event("no_block", r, reason=str(exc), **self._refusal(exc))
            return False
        self.blocks[r] = block
        self.records.advance(
            r,
            Stage.PROPOSED,
            leader=self.address,
            propose_gas=gas,
            block_hash="0x" + block.hash.hex(),
            global_cid=block.global_cid,
        )
        self._event(
            "proposed",
            r,
            block_hash="0x" + block.hash.hex(),
            accepted=list(block.accepted),
            rejected=[vars(x) for x in block.rejected],
            gas=gas,
            aggregation_prove_s=round(self.aggregation_s.get(r, 0.0), 3),
        )
        return True

    def open_contributions(self, r: int) -> tuple[list[Contribution], list[Rejection]]:
        """Every submission of round ``r`` the leader can open and check against its
        on-chain commitment, in registration order, with its registered sample count, and
        the ones it rejects (with why)."""
        state = self.ledger.round_state(self.task_id, r)
        handed = self._handed_keys(r, state.turn)
        contributions: list[Contribution] = []
        rejected: list[Rejection] = []
        for address in self.registry:
            on_chain = self.ledger.submission(self.task_id, r, address)
            if on_chain is None:
                continue
            try:
                package = self._open(r, address, handed)
            except StoreUnavailable as exc:
                # Only this object out of reach, or the store itself? A store that does not
                # answer for the leader's own package stops the leader (StoreUnavailable
                # propagates; it leads again once restarted) rather than have it reject
                # every model it could not fetch meanwhile.
                self.store.has(self.participant.submitted[r].model_cid)
                rejected.append(Rejection(address, str(exc)))
                continue
            except (ExchangeError, StoreError, SealError) as exc:
                rejected.append(Rejection(address, str(exc)))
                continue
            if (
                package.model.spec != self.participant.task.spec
                or proving.commit(package.model, package.salt) != on_chain.commitment
            ):
                rejected.append(Rejection(address, COMMITMENT_MISMATCH))
                continue
            model = in_format(package.model, self.participant.task)
            contributions.append(
                Contribution(address, model, package.salt, self.sample_counts[address])
            )
        return contributions, rejected

    def _open(self, r: int, address: str, handed: Mapping[str, bytes | None]) -> ModelPackage:
        """The package of ``address``: this leader's own, or one whose key was handed over
        (see :meth:`_handed_keys`)."""
        if address == self.address:
            key: bytes | None = self.participant.submitted[r].key
        elif address not in handed:
            raise ExchangeError(NO_KEY)
        else:
            key = handed[address]
        if key is None:
            raise ExchangeError(KEY_DOES_NOT_OPEN)
        return open_package(key, self.store.get(self.ledger.model_cid(self.task_id, r, address)))

    def aggregate(self, r: int) -> Aggregation:
        """The leader's aggregation step: the global model of round ``r`` from the opened
        contributions (FedAvg in integers weighted by the registered sample counts, or
        what the behaviour does instead) under a fresh salt, the proof that the accepted
        contributions average to the honest aggregate, the accepted addresses (ascending,
        the slots' order), the rejected submissions and the block's exclusions: every
        hand-over of this turn left out, with its key (``None`` for a hand-over contested
        and not re-opened).

        Raises :class:`Unprovable` when nothing can be aggregated or proven."""
        p = self.participant
        contributions, rejected = self.open_contributions(r)
        if not contributions:
            raise Unprovable("no submission of the round opens its commitment")
        try:
            model, accepted, rejected = p.behaviour.aggregate(p, r, contributions, rejected)
        except QuantizationError as exc:
            raise Unprovable(f"the contributions do not average: {exc}") from exc
        if not accepted:
            raise Unprovable("the aggregate accepts no submission")
        if len(accepted) > self.aggregation_key.capacity:
            # The registration order decides which models fill the slots.
            rejected = [
                *rejected,
                *(Rejection(c.address, NO_SLOT) for c in accepted[self.aggregation_key.capacity :]),
            ]
            accepted = accepted[: self.aggregation_key.capacity]
        salt = proving.new_salt()
        slots = sorted(accepted, key=lambda c: int(c.address, 16))
        weights = aggregation_weights([c.num_samples for c in slots])
        t = time.perf_counter()
        try:
            slot_inputs = [(c.model, c.salt, w) for c, w in zip(slots, weights, strict=True)]
            proven = proving.prove_aggregation(self.aggregation_key, slot_inputs, salt)
        except (proving.ProverError, QuantizationError, ValueError) as exc:
            raise Unprovable(f"the aggregate has no proof: {exc}") from exc
        self.aggregation_s[r] = time.perf_counter() - t
        weight = sum(c.num_samples for c in slots)
        addresses = [c.address for c in slots]
        turn = self.ledger.round_state(self.task_id, r).turn
        owed = [
            Exclusion(address, key)
            for address, key in self._handed_keys(r, turn).items()
            if address not in addresses
        ]
        excluded = p.behaviour.exclusions(p, r, owed)
        return Aggregation(ModelPackage(model, salt, weight), proven, addresses, rejected, excluded)

    def _propose(self, r: int) -> tuple[RoundBlock, int]:
        """Aggregate and prove it, prove the global model's count, publish it and propose
        the block."""
        p, task, ledger = self.participant, self.participant.task, self.ledger
        aggregation = self.aggregate(r)
        package, accepted = aggregation.package, aggregation.accepted
        commitment = global_commitment(package)
        tag = ledger.global_tag(self.task_id, r, self.address)
        try:
            proven = proving.prove(self.pk, package.model, package.salt, tag)
        except proving.ActivationOverflowError as exc:
            raise Unprovable(f"the global model has no proof: {exc}") from exc
        if p.behaviour.checks_threshold and proven.count < task.min_count:
            # An honest leader's aggregate that cannot pass: no block this turn.
            raise BelowThreshold(proven.count, task.min_count)
        aggregation_proof = aggregation.proven.proof.to_evm()
        inputs = ledger.aggregation_inputs(self.task_id, r, commitment, accepted)
        verified = ledger.verify_aggregation(self.aggregator, aggregation_proof, inputs)
        self.aggregation_verified[r] = verified
        self.aggregation_proofs[r] = (list(aggregation_proof), inputs)
        if p.behaviour.checks_threshold and not verified:
            raise ProofRejected("the task's aggregation verifier rejects this leader's proof")
        cid = self.store.put(seal_global(package, self.registry))
        head = ledger.head(self.task_id)
        me = ledger.round_state(self.task_id, r)
        proposal = ledger.propose_block(
            p.identity.account,
            self.task_id,
            r,
            head.block_hash,
            commitment,
            proven.count,
            cid,
            accepted,
            proven.proof.to_evm(),
            aggregation_proof,
            aggregation.excluded,
        )
        block = RoundBlock(
            task_id=self.task_id,
            round=r,
            parent_hash=head.block_hash,
            leader=self.address,
            leader_count=me.best_count,
            num_samples=task.num_samples,
            global_commitment=commitment,
            global_count=proven.count,
            global_cid=cid,
            accepted=tuple(sorted(accepted, key=lambda a: int(a, 16))),
            rejected=tuple(aggregation.rejected),
        )
        if block.hash != proposal.block_hash:
            raise RuntimeError("the ledger's block hash differs from the protocol's")
        return block, proposal.tx.gas_used

    # ------------------------------------------------------------------ the block

    def _block_or_skip(self, r: int) -> RoundBlockView | None:
        """The round's block; appends the skip block once the round has no leader left."""
        block = self.ledger.round_block(self.task_id, r)
        if block is not None:
            return block
        state = self.ledger.round_state(self.task_id, r)
        if state.status != RoundStatus.CLOSED or state.leader is not None:
            return None
        try:
            proposal = self.ledger.skip_round(self.participant.identity.account, self.task_id, r)
        except (BlockAlreadyProposed, RoundHasLeader):
            return self.ledger.round_block(self.task_id, r)  # another participant was first
        skipped = self._skipped_block(r)
        if skipped.hash != proposal.block_hash:
            raise RuntimeError("the ledger's block hash differs from the protocol's")
        self.blocks[r] = skipped
        self._event("skipped_round", r, gas=proposal.tx.gas_used)
        return self.ledger.round_block(self.task_id, r)

    def _skipped_block(self, r: int) -> RoundBlock:
        """The block ``skipRound`` appended: the previous global model, no leader."""
        on_chain = self.ledger.round_block(self.task_id, r)
        assert on_chain is not None
        parent = (
            self.ledger.genesis_hash(self.task_id)
            if r == 0
            else self.ledger.block_hash(self.task_id, r - 1)
        )
        assert parent is not None
        return RoundBlock(
            task_id=self.task_id,
            round=r,
            parent_hash=parent,
            leader=ZERO_ADDRESS,
            leader_count=0,
            num_samples=self.participant.task.num_samples,
            global_commitment=on_chain.global_commitment,
            global_count=on_chain.global_count,
            global_cid=on_chain.global_cid,
            accepted=(),
        )

    @cached_property
    def _verifying_keys(self) -> tuple[proving.VerifyingKey, proving.VerifyingKey]:
        return self.pk.verifying_key(), self.aggregation_key.verifying_key()

    def verify_block(self, r: int, block: RoundBlockView) -> None:
        """Check the round's block here, with the task's keys, from the call that appended
        it (not by trusting the ledger's verdict): its hash, its global model's proof of
        at least the threshold, and the proof that the global model is the weighted
        average of exactly the accepted submissions' models. A skipped round carries the
        previous global model over. Raises :class:`BlockNotVerified`."""
        call = self.ledger.block_call(self.task_id, r)
        if call is None:
            if block.leader is not None:
                raise BlockNotVerified(r, "the block's transaction is not on the chain")
            return
        task = self.participant.task
        if call.leader != block.leader or call.global_commitment != block.global_commitment:
            raise BlockNotVerified(r, "the call is not the block's")
        if call.global_count < task.min_count:
            raise BlockNotVerified(r, "the global model's count is below the threshold")
        accuracy_vk, aggregation_vk = self._verifying_keys
        ledger = self.ledger
        tag = global_tag(ledger.chain_id, ledger.address, self.task_id, r, call.leader)
        try:
            proof = proving.proof_from_evm(call.global_proof)
            aggregate = proving.proof_from_evm(call.aggregation_proof)
        except (ValueError, proving.ProverError) as exc:
            raise BlockNotVerified(r, f"a proof of the block does not decode: {exc}") from exc
        if not proving.verify(accuracy_vk, call.global_commitment, call.global_count, tag, proof):
            raise BlockNotVerified(r, "the global model's proof does not verify")
        commitments, counts = [], []
        for address in call.accepted:
            on_chain = ledger.submission(self.task_id, r, address)
            if on_chain is None:
                raise BlockNotVerified(r, f"{address} is accepted but did not submit")
            commitments.append(on_chain.commitment)
            counts.append(self.sample_counts[address])
        empty = self.aggregation_key.capacity - len(commitments)
        if not commitments or empty < 0:
            raise BlockNotVerified(r, "the block does not fit the aggregation circuit")
        padding = proving.padding_commitment(task.spec)
        weights = [*aggregation_weights(counts), *[0] * empty]
        slots = [*commitments, *[padding] * empty]
        if not proving.verify_aggregation(
            aggregation_vk, call.global_commitment, slots, weights, aggregate
        ):
            raise BlockNotVerified(r, "the aggregation proof does not verify")
        recomputed = RoundBlock(
            task_id=self.task_id,
            round=r,
            parent_hash=call.parent_hash,
            leader=call.leader,
            leader_count=block.leader_count,
            num_samples=task.num_samples,
            global_commitment=call.global_commitment,
            global_count=call.global_count,
            global_cid=call.global_cid,
            accepted=call.accepted,
        )
        if recomputed.hash != block.block_hash:
            raise BlockNotVerified(r, "the block's hash is not the hash of its contents")

    def _finish(self, r: int, block: RoundBlockView) -> list[NDArray[np.float64]]:
        """Check the round's block and read and check its global model (the one the next
        round trains from); the round is done."""
        self.verify_block(r, block)
        params = self.participant.read_global(self.store, block.global_cid, block.global_commitment)
        self.records.advance(
            r,
            Stage.DONE,
            leader=block.leader,
            block_hash="0x" + block.block_hash.hex(),
            global_cid=block.global_cid,
        )
        return params
