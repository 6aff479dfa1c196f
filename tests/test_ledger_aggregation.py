"""proposeBlock with real proofs of both statements: a block stands only if its global model
is proven to be the weighted average of exactly the accepted submissions' models.

A tiny digits task (hidden 4, 16 public test samples, threshold 0) is published as a
federation publishes it (``zkpot.publish.task_params``: the Groth16 verifier, the
aggregation verifier with three slots, the registered sample counts); three participants
submit real accuracy proofs of models of their own. The leader then tries blocks whose
aggregation proof is real but for another statement: an altered global model, another
model in its own slot (substitution), other weights, a contribution twice, a real model in
an empty slot. The ledger refuses each with ``InvalidAggregationProof`` and keeps no trace
of it; the honest aggregate of the same submissions is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from zkpot import proving
from zkpot.learning.aggregate import aggregation_weights, fedavg_int
from zkpot.learning.integer_model import QuantizedModel
from zkpot.ledger import InvalidArgument, Ledger, Member
from zkpot.protocol import InvalidAggregationProof, Task, TooManyContributions
from zkpot.protocol.hashes import sort_addresses
from zkpot.publish import task_params
from zkpot.store import LocalStore, generate_keypair

#: Registered sample counts of the three participants: unequal, so weights matter.
SAMPLES = (300, 100, 50)


@dataclass
class Submitted:
    account: object
    model: QuantizedModel
    salt: int
    commitment: int


def _model(task: Task, rng: np.random.Generator) -> QuantizedModel:
    spec = task.spec
    return QuantizedModel(
        spec,
        tuple(
            rng.integers(-20, 21, size=(a, b))
            for a, b in zip(spec.widths[:-1], spec.widths[1:], strict=True)
        ),
        tuple(rng.integers(-50, 51, size=b) for b in spec.widths[1:]),
        task.weight_scales or (1.0, 1.0),
    )


@pytest.fixture(scope="module")
def keys() -> tuple[Task, proving.ProvingKey, proving.AggregationKey, proving.VerifyingKey]:
    task = Task.create("digits", hidden=4, test_samples=16, threshold=0.0, rounds=2, seed=3)
    pk, _ = proving.setup(task.circuit)
    key, vk = proving.setup_aggregation(task.aggregation_circuit(3))
    return task, pk, key, vk


def test_only_the_proven_aggregate_of_the_accepted_models_makes_a_block(keys, tmp_path) -> None:
    task, pk, key, aggregation_vk = keys
    ledger, store = Ledger.in_process(), LocalStore(tmp_path)
    accounts = [ledger.new_account() for _ in SAMPLES]
    members = [
        Member(a.address, generate_keypair().public, n)
        for a, n in zip(accounts, SAMPLES, strict=True)
    ]
    publisher = ledger.new_account()
    params = task_params(
        ledger, store, publisher, task, pk.verifying_key(), aggregation_vk, members, 3
    )
    task_id = ledger.register_task(publisher, params)
    assert ledger.task(task_id).capacity == 3
    rng = np.random.default_rng(7)
    submitted = {}
    for account in accounts:
        model, salt = _model(task, rng), proving.new_salt()
        proven = proving.prove(pk, model, salt, ledger.binding_tag(task_id, 0, account.address))
        words = proven.proof.to_evm()
        ledger.submit(account, task_id, 0, proven.commitment, proven.count, "bafym", words)
        submitted[account.address] = Submitted(account, model, salt, proven.commitment)
    state = ledger.round_state(task_id, 0)
    leader = submitted[state.leader]
    accepted = sort_addresses(list(submitted))
    counts = {m.address: m.samples for m in members}

    def aggregate(slots, weights=None, global_salt=None):
        """A real aggregation proof over ``slots`` ((model, salt, address) in slot order)."""
        weights = weights or aggregation_weights([counts[a] for _, _, a in slots])
        contributions = [(m, s, w) for (m, s, _), w in zip(slots, weights, strict=True)]
        return proving.prove_aggregation(key, contributions, global_salt or proving.new_salt())

    honest_slots = [(submitted[a].model, submitted[a].salt, a) for a in accepted]
    honest = aggregate(honest_slots)
    expected = fedavg_int([submitted[a].model for a in accepted], [counts[a] for a in accepted])
    assert honest.global_model == expected
    statement = ledger.aggregation_inputs(task_id, 0, honest.global_commitment, accepted)
    assert statement == [
        honest.global_commitment,
        *np.ravel(list(zip(honest.commitments, honest.weights, strict=True))).tolist(),
    ]
    assert proving.verify_aggregation(
        aggregation_vk, honest.global_commitment, honest.commitments, honest.weights, honest.proof
    )
    assert ledger.verify_aggregation(params.aggregator, honest.proof.to_evm(), statement)

    def propose(global_model, global_salt, proof, addresses=accepted):
        tag = ledger.global_tag(task_id, 0, leader.account.address)
        proven = proving.prove(pk, global_model, global_salt, tag)
        return ledger.propose_block(
            leader.account,
            task_id,
            0,
            ledger.genesis_hash(task_id),
            proven.commitment,
            proven.count,
            "bafyg",
            addresses,
            proven.proof.to_evm(),
            proof.to_evm(),
        )

    def refused(error, *args, **kwargs) -> None:
        before = (ledger.head(task_id), ledger.round_state(task_id, 0))
        with pytest.raises(error):
            propose(*args, **kwargs)
        assert (ledger.head(task_id), ledger.round_state(task_id, 0)) == before

    salt = proving.new_salt()
    proof_of = aggregate(honest_slots, global_salt=salt)
    # An altered global model (two classes swapped) under the honest aggregate's proof.
    g = proof_of.global_model
    order = np.array([1, 0, *range(2, g.weights[-1].shape[1])])
    swapped = replace(
        g,
        weights=(*g.weights[:-1], g.weights[-1][:, order]),
        biases=(*g.biases[:-1], g.biases[-1][order]),
    )
    refused(InvalidAggregationProof, swapped, salt, proof_of.proof)
    # Substitution: the leader's slot holds another model B (no salt opens its commitment
    # with B), proven and averaged honestly.
    poisoned = _model(task, rng)
    substituted = [
        (poisoned if a == leader.account.address else m, s, a) for m, s, a in honest_slots
    ]
    forged = aggregate(substituted, global_salt=salt)
    refused(InvalidAggregationProof, forged.global_model, salt, forged.proof)
    # Equal weights instead of the registered counts' shares.
    flat = aggregate(honest_slots, weights=[2**14 // 3] * 3, global_salt=salt)
    refused(InvalidAggregationProof, flat.global_model, salt, flat.proof)
    # One contribution twice (the leader's), the third left out but listed.
    twice = [honest_slots[0], honest_slots[0], honest_slots[2]]
    doubled = aggregate(twice, global_salt=salt)
    refused(InvalidAggregationProof, doubled.global_model, salt, doubled.proof)
    # The same contribution listed twice: the client sends nothing (on chain it is
    # AcceptedNotSorted, tests/test_ledger_blocks.py).
    with pytest.raises(InvalidArgument):
        propose(proof_of.global_model, salt, proof_of.proof, [accepted[0], accepted[0]])
    # Two accepted, a real third model in the empty slot: the padding commitment is the
    # contract's, so the proof does not match the statement.
    two = accepted[:2]
    padded_with_real = aggregate(
        [honest_slots[0], honest_slots[1], honest_slots[2]],
        weights=[*aggregation_weights([counts[a] for a in two]), 0],
        global_salt=salt,
    )
    refused(
        InvalidAggregationProof, padded_with_real.global_model, salt, padded_with_real.proof, two
    )
    with pytest.raises(TooManyContributions):
        ledger.aggregation_inputs(task_id, 0, 1, [*accepted, ledger.new_account().address])

    proposal = propose(proof_of.global_model, salt, proof_of.proof)
    block = ledger.round_block(task_id, 0)
    assert block is not None and block.global_commitment == proof_of.global_commitment
    assert proposal.tx.gas_used > 0
    assert all(ledger.submission(task_id, 0, a).accepted for a in accepted)
