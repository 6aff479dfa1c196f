"""A whole federation in one process, on the digits task: real proofs, the in-process EVM,
a local content store. Same seed, same leaders and bit-identical global models; ZKPoT's
global model tracks plain FedAvg on the same partitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zkpot import Federation, Task, proving
from zkpot.exchange import ExchangeError, ModelPackage, global_commitment, open_global
from zkpot.learning.inference import correct_count
from zkpot.learning.integer_model import QuantizedModel
from zkpot.node.status import round_summary
from zkpot.participant import Training
from zkpot.store import LocalStore

TRAINING = Training(epochs=10, lr=0.05, batch_size=32)


def _task() -> Task:
    return Task.create(dataset="digits", hidden=16, test_samples=64, threshold=0.3, rounds=2)


def _run(tmp_path: Path, seed: int, proofs: bool = True):
    fed = Federation(
        _task(),
        participants=3,
        seed=seed,
        store=LocalStore(tmp_path / f"store-{seed}-{proofs}"),
        proofs=proofs,
        training=TRAINING,
    )
    return fed, fed.run()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fed")
    return _run(tmp, seed=3), _run(tmp, seed=3), _run(tmp, seed=3, proofs=False)


def test_rounds_produce_hash_linked_blocks_led_by_the_best_proof(two_runs):
    (fed, result), _, _ = two_runs
    ledger = fed.ledger
    parent = ledger.genesis_hash(result.task_id)
    for r in result.rounds:
        block = r.block
        assert block.parent_hash == parent
        assert ledger.block_hash(result.task_id, r.round) == block.hash
        assert block.leader_count == max(r.counts.values())
        assert r.counts[r.leader] == block.leader_count
        assert len(block.accepted) == len(r.counts)
        assert not block.rejected
        assert not r.passed_over and not block.skipped
        assert block.global_count >= result.task.min_count
        assert all(gas < 300_000 for gas in r.submit_gas.values())
        parent = block.hash


def test_same_seed_same_leaders_and_bit_identical_global_models(two_runs):
    (_, a), (_, b), _ = two_runs
    # Keys and salts are fresh: the two runs share no address and no commitment.
    assert set(a.addresses.values()).isdisjoint(b.addresses.values())
    assert {r.block.global_commitment for r in a.rounds}.isdisjoint(
        r.block.global_commitment for r in b.rounds
    )
    for ra, rb in zip(a.rounds, b.rounds, strict=True):
        assert ra.counts == rb.counts
        assert ra.block.global_count == rb.block.global_count
        best = max(ra.counts.values())
        if list(ra.counts.values()).count(best) == 1:
            assert ra.leader == rb.leader
        else:  # ties go to the lowest keccak(round, address), and addresses are fresh
            assert ra.counts[rb.leader] == best
    for pa, pb in zip(a.global_params, b.global_params, strict=True):
        assert pa.tobytes() == pb.tobytes()


def test_global_model_within_one_point_of_plain_fedavg(two_runs):
    (_, zk), _, (_, plain) = two_runs
    gap = abs(zk.rounds[-1].global_accuracy - plain.rounds[-1].global_accuracy)
    assert gap <= 0.01, (zk.rounds[-1].global_accuracy, plain.rounds[-1].global_accuracy)


def test_only_participants_can_read_what_is_stored(two_runs):
    (fed, result), _, _ = two_runs
    block = result.rounds[-1].block
    envelope = fed.store.get(block.global_cid)
    p0 = fed.participants[0]
    package = open_global(envelope, p0.address, p0.identity.keys.private)
    params = package.model.dequantize()
    assert global_commitment(package) == block.global_commitment
    assert all(np.array_equal(x, y) for x, y in zip(params, result.global_params, strict=True))
    outsider = fed.participants[1].identity.keys.private
    with pytest.raises(ExchangeError):
        open_global(envelope, p0.address, outsider)
    # A submitted model is ciphertext: it does not parse as a package or a model.
    cid = fed.ledger.model_cid(result.task_id, 0, p0.address)
    blob = fed.store.get(cid)
    with pytest.raises(ExchangeError):
        ModelPackage.from_bytes(blob)
    with pytest.raises(ValueError):
        QuantizedModel.from_bytes(blob)


def test_each_block_proves_the_published_global_model(two_runs):
    """The block's global count is what the published model (which opens the block's
    commitment) really scores on the public test set, and it passes the threshold."""
    (fed, result), _, _ = two_runs
    task = result.task
    p0 = fed.participants[0]
    for r in result.rounds:
        package = open_global(
            fed.store.get(r.block.global_cid), p0.address, p0.identity.keys.private
        )
        assert global_commitment(package) == r.block.global_commitment
        count = correct_count(package.model, task.test_x, task.test_y)
        assert r.block.global_count == count >= task.min_count
        on_chain = fed.ledger.round_block(result.task_id, r.round)
        assert (
            on_chain.global_count == count
            and on_chain.leader == fed.participants[int(r.leader[1:])].address
        )


def test_a_round_nobody_passes_is_skipped_and_keeps_the_global_model(tmp_path):
    """Nobody reaches a 99% threshold: no submission, so once the window closes the round
    is skipped on chain and the next round trains from the same global model."""
    task = Task.create(dataset="digits", hidden=16, test_samples=64, threshold=0.99, rounds=2)
    fed = Federation(task, participants=2, seed=3, store=LocalStore(tmp_path), training=TRAINING)
    result = fed.run()
    initial = fed.ledger.task(result.task_id)
    assert initial.finished
    for r in result.rounds:
        assert not r.counts and set(r.not_submitted) == {"P0", "P1"}
        assert r.block.skipped and r.leader == "" and r.block.accepted == ()
        assert r.block.global_commitment == initial.initial_commitment
        assert r.block.global_cid == initial.initial_cid
        assert fed.ledger.block_hash(result.task_id, r.round) == r.block.hash
        view = round_summary(
            fed.ledger, result.task_id, r.round, [p.address for p in fed.participants]
        )
        assert view.skipped and view.leader is None and view.global_count == 0
    assert result.rounds[0].global_accuracy == result.rounds[1].global_accuracy


def test_a_participant_whose_model_has_no_proof_sits_the_round_out(tmp_path, monkeypatch):
    """An activation overflow stops one participant's submission, not the federation: P1's
    model has no proof in round 0, so P1 does not submit and the others' round goes on."""
    real_prove, calls = proving.prove, []

    def prove(*args):
        calls.append(args)
        if len(calls) == 2:  # P1's submission in round 0
            raise proving.ActivationOverflowError("layer 0, sample 3: out of range")
        return real_prove(*args)

    monkeypatch.setattr(proving, "prove", prove)
    task = Task.create(dataset="digits", hidden=16, test_samples=64, threshold=0.3, rounds=1)
    fed = Federation(task, participants=3, seed=3, store=LocalStore(tmp_path), training=TRAINING)
    (r,) = fed.run().rounds
    assert set(r.counts) == {"P0", "P2"} and "no proof" in r.not_submitted["P1"]
    assert not r.refusals and r.block.accepted == tuple(
        sorted((fed.participants[0].address, fed.participants[2].address), key=lambda a: int(a, 16))
    )
