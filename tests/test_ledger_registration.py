"""Task registration on both backends: the views of a registered task, every refused
registration, and the arguments the client refuses before sending anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from ledger_task import (
    CID,
    GAS_BUDGET,
    KEY_HASH,
    SAMPLES,
    SEALED_KEY,
    WINDOW,
    ZERO_ADDRESS,
    TaskRun,
    assert_rejected_on_chain,
)
from stand_ins import deploy_stand_in_aggregator

from zkpot.ledger import (
    InvalidArgument,
    InvalidTaskParams,
    Ledger,
    Member,
    RoundStatus,
    TaskParams,
)
from zkpot.protocol import UnknownTask
from zkpot.protocol.hashes import BASE_FIELD
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver

# ---------------------------------------------------------------------------- registration


def test_task_views(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover, participants=9, rounds=4, min_count=5)
    task = ledger.task(run.task_id)
    params = run.params
    assert ledger.task_count() == run.task_id == 1
    assert (task.publisher, task.verifier) == (run.publisher.address, params.verifier)
    assert (task.test_set_hash, task.test_set_cid) == (params.test_set_hash, params.test_set_cid)
    assert task.model_spec_hash == params.model_spec_hash
    assert (task.min_count, task.num_samples, task.rounds, task.window) == (5, 24, 4, WINDOW)
    assert (task.initial_commitment, task.initial_cid) == (params.initial_commitment, CID)
    assert (task.participant_count, task.current_round, task.finished) == (9, 0, False)
    assert task.genesis_hash == ledger.genesis_hash(run.task_id)
    assert ledger.participants(run.task_id) == params.participants
    assert [m.samples for m in ledger.participants(run.task_id)] == [
        SAMPLES[i % len(SAMPLES)] for i in range(9)
    ]
    assert (task.aggregator, task.capacity) == (params.aggregator, 9)
    assert task.padding_commitment == params.padding_commitment
    for p in params.participants:
        assert (
            ledger.contract.functions.participantKey(run.task_id, p.address).call() == p.x25519_key
        )
    state = ledger.round_state(run.task_id, 0)
    assert state.deadline == state.opened_at + WINDOW
    assert ledger.round_state(run.task_id, 1).status is RoundStatus.NOT_OPENED
    assert ledger.submission(run.task_id, 0, run.accounts[8].address) is None
    assert ledger.round_block(run.task_id, 0) is None and ledger.block_hash(run.task_id, 0) is None
    for view in (ledger.task, ledger.genesis_hash, ledger.head, ledger.participants):
        with pytest.raises(UnknownTask):
            view(run.task_id + 1)
    with pytest.raises(UnknownTask):
        ledger.round_state(run.task_id + 1, 0)
    # Participants beyond the first submission word (7 per word) submit like the others.
    result = run.submit(run.accounts[8], 0, 5)
    assert result.gas_used <= GAS_BUDGET
    submission = ledger.submission(run.task_id, 0, run.accounts[8].address)
    assert submission is not None and submission.count == 5


PARAM_FIELDS = (
    "verifier", "testSetHash", "testSetCid", "modelSpecHash", "minCount", "numSamples",
    "rounds", "window", "initialCommitment", "initialCid", "participants", "participantKeys",
    "sampleCounts", "aggregator", "paddingCommitment",
)  # fmt: skip
Fields = dict[str, Any]
REGISTRATION_CASES: dict[str, tuple[Callable[[TaskRun, Fields], Fields], str]] = {
    "eoa verifier": (lambda run, f: {"verifier": run.outsider.address}, "verifier has no code"),
    "no samples": (lambda run, f: {"numSamples": 0, "minCount": 0}, "no test samples"),
    "many samples": (lambda run, f: {"numSamples": 2**31}, "too many samples"),
    "threshold": (lambda run, f: {"minCount": f["numSamples"] + 1}, "threshold above samples"),
    "no rounds": (lambda run, f: {"rounds": 0}, "no rounds"),
    "no window": (lambda run, f: {"window": 0}, "empty window"),
    "commitment": (lambda run, f: {"initialCommitment": FIELD_ORDER}, "commitment not in field"),
    "nobody": (lambda run, f: {"participants": [], "participantKeys": []}, "participant count"),
    "keys": (lambda run, f: {"participantKeys": f["participantKeys"][:-1]}, "keys do not match"),
    "zero key": (
        lambda run, f: {"participantKeys": [b"\0" * 32, *f["participantKeys"][1:]]},
        "zero participant key",
    ),
    "duplicate": (
        lambda run, f: {"participants": [f["participants"][0]] * len(f["participants"])},
        "duplicate participant",
    ),
    "zero address": (
        lambda run, f: {"participants": [ZERO_ADDRESS, *f["participants"][1:]]},
        "zero participant address",
    ),
    "counts": (
        lambda run, f: {"sampleCounts": f["sampleCounts"][:-1]},
        "sample counts do not match",
    ),
    "zero count": (
        lambda run, f: {"sampleCounts": [0, *f["sampleCounts"][1:]]},
        "zero sample count",
    ),
    "padding": (lambda run, f: {"paddingCommitment": FIELD_ORDER}, "padding not in field"),
    "eoa aggregator": (
        lambda run, f: {"aggregator": run.outsider.address},
        "aggregator has no code",
    ),
    "aggregator without slots": (
        # The accuracy verifier has code but no capacity(): not an aggregation verifier.
        lambda run, f: {"aggregator": f["verifier"]},
        "aggregator has no capacity",
    ),
    "zero capacity": (
        lambda run, f: {"aggregator": deploy_stand_in_aggregator(run.ledger, 0)},
        "aggregator capacity",
    ),
    "capacity above 64": (
        lambda run, f: {"aggregator": deploy_stand_in_aggregator(run.ledger, 65)},
        "aggregator capacity",
    ),
}


@pytest.mark.parametrize("case", list(REGISTRATION_CASES))
def test_register_task_rejections(ledger: Ledger, prover: TinyProver, case: str) -> None:
    run = TaskRun(ledger, prover)
    change, reason = REGISTRATION_CASES[case]
    fields = dict(zip(PARAM_FIELDS, run.params.to_abi(), strict=True))
    fields.update(change(run, fields))
    params = tuple(fields.values())
    error = assert_rejected_on_chain(
        run,
        run.publisher,
        InvalidTaskParams,
        lambda: ledger.transact(run.publisher, "registerTask", params, gas=2_000_000),
    )
    assert error.reason == reason


# ---------------------------------------------------------------------------- Python checks


def test_bad_arguments_send_nothing(ledger: Ledger, prover: TinyProver) -> None:
    run = TaskRun(ledger, prover)
    account = run.accounts[0]
    task = run.task_id
    proof = run.proof(account, 0, 7).words
    genesis = ledger.genesis_hash(task)
    me = account.address
    before = run.snapshot()
    nonce = ledger.w3.eth.get_transaction_count(account.address)
    calls: list[Callable[[], Any]] = [
        lambda: ledger.submit(account, task, 0, FIELD_ORDER, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, -1, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 2**32, CID, proof),
        lambda: ledger.submit(account, task, -1, 1, 10, CID, proof),
        lambda: ledger.submit(account, 0, 0, 1, 10, CID, proof),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, proof[:7]),
        lambda: ledger.submit(account, task, 0, 1, 10, CID, [*proof[:7], BASE_FIELD]),
        lambda: ledger.submit(account, task, 0, 1, 10, "", proof),
        lambda: ledger.propose_block(account, task, 0, genesis[:31], 1, 7, CID, [], proof, proof),
        lambda: ledger.propose_block(
            account, task, 0, genesis, FIELD_ORDER, 7, CID, [], proof, proof
        ),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, -1, CID, [], proof, proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 2**32, CID, [], proof, proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, "", [], proof, proof),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, 7, CID, ["0x1234"], proof, proof
        ),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, 7, CID, [me, me.lower()], proof, proof
        ),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, CID, [], proof[:7], proof),
        lambda: ledger.propose_block(account, task, 0, genesis, 1, 7, CID, [], proof, proof[:7]),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, 7, CID, [], [*proof[:7], BASE_FIELD], proof
        ),
        lambda: ledger.propose_block(
            account, task, 0, genesis, 1, 7, CID, [], proof, [*proof[:7], BASE_FIELD]
        ),
        lambda: ledger.hand_over(account, task, 0, "0x1234", SEALED_KEY, KEY_HASH),
        lambda: ledger.hand_over(account, task, 0, me, SEALED_KEY[:79], KEY_HASH),
        lambda: ledger.hand_over(account, task, -1, me, SEALED_KEY, KEY_HASH),
        lambda: ledger.skip_round(account, task, -1),
        lambda: ledger.skip_round(account, 0, 0),
        lambda: ledger.register_task(account, _with(run.params, verifier=account.address)),
        lambda: ledger.advance_time(0),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument):
            call()
    assert ledger.w3.eth.get_transaction_count(account.address) == nonce
    assert run.snapshot() == before


@pytest.mark.parametrize(
    "change",
    [
        {"min_count": 25},
        {"num_samples": 0},
        {"num_samples": 2**31 - 1},
        {"rounds": 0},
        {"window": 0},
        {"initial_commitment": FIELD_ORDER},
        {"participants": ()},
        {"test_set_hash": b"short"},
        {"verifier": "not an address"},
        {"aggregator": "not an address"},
        {"padding_commitment": FIELD_ORDER},
    ],
)
def test_task_params_are_checked(
    ledger: Ledger, prover: TinyProver, change: dict[str, Any]
) -> None:
    run = TaskRun(ledger, prover)
    with pytest.raises(InvalidArgument):
        _with(run.params, **change)


def test_participant_checks() -> None:
    with pytest.raises(InvalidArgument):
        Member("0x" + "11" * 20, b"\0" * 32, 1)
    with pytest.raises(InvalidArgument):
        Member("0x" + "11" * 20, b"\1" * 31, 1)
    with pytest.raises(InvalidArgument):
        Member("0x11", b"\1" * 32, 1)
    for samples in (0, -1, 2**32, True, 1.5):
        with pytest.raises(InvalidArgument):
            Member("0x" + "11" * 20, b"\1" * 32, samples)  # type: ignore[arg-type]
    twice = Member("0x" + "11" * 20, b"\1" * 32, 1)
    with pytest.raises(InvalidArgument):
        TaskParams(
            verifier="0x" + "22" * 20,
            test_set_hash=b"\1" * 32,
            test_set_cid=CID,
            model_spec_hash=b"\1" * 32,
            min_count=1,
            num_samples=2,
            rounds=1,
            window=1,
            initial_commitment=0,
            initial_cid=CID,
            participants=(twice, twice),
            aggregator="0x" + "33" * 20,
            padding_commitment=0,
        )


def _with(params: TaskParams, **change: Any) -> TaskParams:
    fields = {name: getattr(params, name) for name in params.__dataclass_fields__}
    fields.update(change)
    return TaskParams(**fields)
