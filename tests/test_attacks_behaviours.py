"""Byzantine participants in whole federations (real proofs, the in-process EVM): every
behaviour is refused, and by which rule, or the test documents that nothing stops it.

Training is seeded, so the proven counts (and hence who leads) are the same on every run;
only the tie-break among equal counts depends on the fresh addresses, and the
assertions below do not rely on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zkpot import Federation, Task, proving
from zkpot.attacks.behaviours import (
    DishonestLeader,
    ForgedProof,
    FreeRider,
    GarbledHandOver,
    InflatedClaim,
    LabelFlip,
    Replay,
    SubstituteModel,
    Withholder,
    audit_aggregate,
    audit_rejection,
    chain_claims,
)
from zkpot.federation import FederationResult, Refusal
from zkpot.learning.inference import correct_count
from zkpot.learning.model import MLP
from zkpot.participant import (
    COMMITMENT_MISMATCH,
    KEY_DOES_NOT_OPEN,
    NO_KEY,
    Behaviour,
    Training,
)
from zkpot.protocol import Exclusion
from zkpot.store import LocalStore

TRAINING = Training(epochs=10, lr=0.05, batch_size=32)
SEED = 3
#: The accuracy circuit's keys, and the aggregation circuit's by number of slots.
Keys = tuple[
    tuple[proving.ProvingKey, proving.VerifyingKey],
    dict[int, tuple[proving.AggregationKey, proving.VerifyingKey]],
]


def _task(rounds: int) -> Task:
    return Task.create(dataset="digits", hidden=16, test_samples=64, threshold=0.3, rounds=rounds)


@pytest.fixture(scope="module")
def keys() -> Keys:
    # The circuits depend on the spec, the test set and the slots only, not on the rounds.
    task = _task(1)
    aggregation = {n: proving.setup_aggregation(task.aggregation_circuit(n)) for n in (3, 4)}
    return proving.setup(task.circuit), aggregation


def _run(
    tmp: Path,
    keys: Keys,
    behaviours: dict[int, Behaviour],
    participants: int = 4,
    rounds: int = 2,
    seed: int = SEED,
) -> tuple[Federation, FederationResult]:
    accuracy, aggregation = keys
    fed = Federation(
        _task(rounds),
        participants=participants,
        seed=seed,
        store=LocalStore(tmp),
        training=TRAINING,
        behaviours=behaviours,
        keys=accuracy,
        aggregation_keys=aggregation[participants],
    )
    return fed, fed.run()


def _accepted(fed: Federation, result: FederationResult, r: int, name: str) -> bool:
    block = result.rounds[r].block
    assert block is not None
    return fed.participants[int(name[1:])].address in block.accepted


def _only(refusals: list[Refusal]) -> Refusal:
    assert len(refusals) == 1, refusals
    return refusals[0]


# ----------------------------------------------------------------------------- claims


@pytest.fixture(scope="module")
def claims(tmp_path_factory, keys):
    """P0 honest; P1 inflates its count; P2 sends random proof words; P3 proves with a
    circuit over a test set of its own choosing."""
    behaviours = {1: InflatedClaim(), 2: ForgedProof("random"), 3: ForgedProof("other_task")}
    return _run(tmp_path_factory.mktemp("claims"), keys, behaviours, rounds=1)


@pytest.mark.parametrize("name", ["P1", "P2", "P3"])
def test_inflated_and_forged_claims_fail_onchain_verification(claims, name):
    fed, result = claims
    r = result.rounds[0]
    refusal = _only(r.refused(name))
    assert (refusal.layer, refusal.rule) == ("ledger", "InvalidProof")
    assert name not in r.counts
    assert not _accepted(fed, result, 0, name)
    assert fed.ledger.submission(result.task_id, 0, fed.participants[int(name[1:])].address) is None


def test_a_proof_for_another_circuit_is_real_but_proves_another_statement(claims, keys):
    fed, result = claims
    forger = fed.participants[3].behaviour
    assert isinstance(forger, ForgedProof) and forger.keys is not None
    assert forger.circuit.test_set_hash != result.task.test_set_hash
    made = forger.made[0]
    assert made.tag == fed.ledger.binding_tag(result.task_id, 0, fed.participants[3].address)
    _, own_vk = forger.keys
    (_, task_vk), _ = keys
    assert proving.verify(own_vk, made.commitment, made.count, made.tag, made.proof)
    assert not proving.verify(task_vk, made.commitment, made.count, made.tag, made.proof)
    assert made.count >= result.task.min_count  # it would have passed the threshold
    honest = result.rounds[0]
    assert (honest.leader, list(honest.counts)) == ("P0", ["P0"])


# ----------------------------------------------------------------------------- replay, threshold


@pytest.fixture(scope="module")
def replays(tmp_path_factory, keys):
    """P0 honest; P1 resubmits another participant's proof of the same round; P2 is honest
    in round 0 and resubmits its own round-0 proof in round 1; P3 trains on flipped labels."""
    behaviours = {1: Replay("other_address"), 2: Replay("earlier_round"), 3: LabelFlip()}
    return _run(tmp_path_factory.mktemp("replay"), keys, behaviours)


def test_a_proof_replayed_under_another_address_fails_verification(replays):
    fed, result = replays
    for r in result.rounds:
        refusal = _only(r.refused("P1"))
        assert (refusal.layer, refusal.rule) == ("ledger", "InvalidProof")
    # What it replayed was on chain and valid for its submitter.
    seen = chain_claims(fed.ledger, result.task_id, 1)
    assert fed.participants[0].address in seen


def test_a_proof_replayed_in_a_later_round_fails_verification(replays):
    fed, result = replays
    first, second = result.rounds
    assert not first.refused("P2") and _accepted(fed, result, 0, "P2")
    refusal = _only(second.refused("P2"))
    assert (refusal.layer, refusal.rule) == ("ledger", "InvalidProof")
    replayed = chain_claims(fed.ledger, result.task_id, 0)[fed.participants[2].address]
    assert replayed.count == first.counts["P2"]


def test_label_flip_poisoning_fails_the_threshold(replays):
    fed, result = replays
    for r in result.rounds:
        refusal = _only(r.refused("P3"))
        assert (refusal.layer, refusal.rule) == ("ledger", "BelowThreshold")
        assert not _accepted(fed, result, r.round, "P3")
    poisoned = fed.participants[3].model
    accuracy = poisoned.accuracy(result.task.test_x / 255.0, result.task.test_y)
    assert accuracy < result.task.threshold


# ----------------------------------------------------------------------------- the leader's check


class HonestCapture(Behaviour):
    """Honest in everything, but trains on the public test set too (as a capturing leader
    does), so that it leads."""

    name = "honest-capture"

    def training_data(self, p, round):
        return DishonestLeader("alter").training_data(p, round)


@pytest.fixture(scope="module")
def leader_layer(tmp_path_factory, keys):
    """P1 honest, and it also trains on the public test set, so that it has the best count
    in both rounds and an honest leader runs the checks; P0 hands the leader a poisoned
    model B instead of the proven A; P2 copies the global model; P3 withholds its key."""
    behaviours = {0: SubstituteModel(), 1: HonestCapture(), 2: FreeRider(), 3: Withholder()}
    return _run(tmp_path_factory.mktemp("leader"), keys, behaviours, seed=1)


def test_precondition_an_honest_participant_leads(leader_layer):
    _, result = leader_layer
    # Round 1: the free-rider's copy of the global model can tie P1's count and win the
    # tie-break (keccak of fresh addresses); it leads with the honest leader's code too.
    first, second = (r.leader for r in result.rounds)
    assert first == "P1" and second in ("P1", "P2")


def test_model_substitution_fails_the_leaders_commitment_check(leader_layer):
    fed, result = leader_layer
    for r in result.rounds:
        assert "P0" in r.counts  # A's proof passed the ledger
        refusal = _only(r.refused("P0"))
        assert (refusal.layer, refusal.rule) == ("leader", COMMITMENT_MISMATCH)
        assert not _accepted(fed, result, r.round, "P0")


def test_a_withheld_key_is_never_aggregated(leader_layer):
    fed, result = leader_layer
    for r in result.rounds:
        assert "P3" in r.counts
        refusal = _only(r.refused("P3"))
        assert (refusal.layer, refusal.rule) == ("leader", NO_KEY)
        assert not _accepted(fed, result, r.round, "P3")


def test_free_rider_is_stopped_only_while_the_copied_model_is_below_threshold(leader_layer):
    """NOT stopped by ZKPoT once the global model passes the threshold: its proof is true."""
    fed, result = leader_layer
    first, second = result.rounds
    refusal = _only(first.refused("P2"))  # the random initial model
    assert (refusal.layer, refusal.rule) == ("ledger", "BelowThreshold")
    assert not second.refused("P2")
    assert _accepted(fed, result, 1, "P2")
    # What it proved is exactly the round-0 global model, copied.
    ledger, store = fed.ledger, fed.store
    block0 = first.block
    copied = fed.participants[0].read_global(store, block0.global_cid, block0.global_commitment)
    task = result.task
    qmodel = task.quantize(MLP.from_params(copied))
    assert second.counts["P2"] == correct_count(qmodel, task.test_x, task.test_y)
    assert ledger.submission(result.task_id, 1, fed.participants[2].address).accepted


def test_the_honest_leaders_aggregate_passes_the_audit(leader_layer):
    fed, result = leader_layer
    keys = {p.address: p.submitted[1].key for p in fed.participants if 1 in p.submitted}
    assert audit_aggregate(fed.ledger, fed.store, result.task_id, 1, keys, fed.participants[1])


# ----------------------------------------------------------------------------- a dishonest leader


@pytest.fixture(scope="module")
def altering_leader(tmp_path_factory, keys):
    """P0, P1 honest; P2 trains on the public test set to win the count, then publishes an
    altered global model; P3 (honest training, no capture) tries to propose blocks itself."""
    behaviours = {2: DishonestLeader("alter"), 3: DishonestLeader("exclude", capture=False)}
    return _run(tmp_path_factory.mktemp("alter"), keys, behaviours)


def test_training_on_the_public_test_set_captures_the_first_turn(altering_leader):
    """NOT stopped: the proof is true, the test set is public, the count is the best, so
    the capturing participant holds the first leader turn of every round."""
    _, result = altering_leader
    for r in result.rounds:
        assert r.counts["P2"] == max(r.counts.values())
        assert r.counts["P2"] > max(c for name, c in r.counts.items() if name != "P2")
        assert r.passed_over[0] == "P2"


def test_a_non_leader_proposing_a_block_is_refused_by_the_leader_rule(altering_leader):
    _, result = altering_leader
    for r in result.rounds:
        rules = {(x.layer, x.rule) for x in r.refused("P3")}
        assert rules == {("ledger", "NotLeader")}


def test_an_altered_aggregate_fails_the_global_proof_and_the_turn_passes(altering_leader):
    """The rotated model proves its true, low count; the ledger refuses a block whose global
    model is below the threshold, and the next-best submitter (honest) leads instead."""
    fed, result = altering_leader
    for r in result.rounds:
        refused = [x for x in r.refused("P2") if x.rule != "NotLeader"]
        assert [(x.layer, x.rule) for x in refused] == [("ledger", "GlobalBelowThreshold")]
        assert r.passed_over == ["P2"]
        assert r.leader in ("P0", "P1")
        assert r.block.global_count >= result.task.min_count
        on_chain = fed.ledger.round_block(result.task_id, r.round)
        assert on_chain.leader == fed.participants[int(r.leader[1:])].address
        # Every submission was handed over again to the new leader and aggregated.
        assert len(r.block.accepted) == 4
        keys = {p.address: p.submitted[r.round].key for p in fed.participants}
        auditor = fed.participants[0]
        assert audit_aggregate(fed.ledger, fed.store, result.task_id, r.round, keys, auditor)
    assert result.rounds[-1].global_accuracy > 0.8


@pytest.fixture(scope="module")
def skipping_leader(tmp_path_factory, keys):
    """P0, P1, P3 honest; P2 captures the leadership and aggregates its own model only,
    leaving the others' hand-overs out of its block."""
    return _run(tmp_path_factory.mktemp("skip"), keys, {2: DishonestLeader("skip")}, rounds=1)


def test_a_leader_leaving_hand_overs_out_is_refused_and_the_turn_passes(skipping_leader):
    """Every submitter handed P2 its key, so a block that neither accepts nor excludes
    them is refused (HandOverLeftOut); the next-best submitter leads and aggregates all."""
    fed, result = skipping_leader
    r = result.rounds[0]
    refused = [x for x in r.refused("P2") if x.rule != "NotLeader"]
    assert [(x.layer, x.rule) for x in refused] == [("ledger", "HandOverLeftOut")]
    assert r.passed_over == ["P2"] and r.leader in ("P0", "P1", "P3")
    assert len(r.block.accepted) == 4
    assert not fed.ledger.exclusions(result.task_id, 0)


@pytest.fixture(scope="module")
def excluding_leader(tmp_path_factory, keys):
    """P0, P1, P3 honest; P2 captures the leadership and excludes the others' hand-overs
    by showing their keys, as if their packages did not open."""
    return _run(tmp_path_factory.mktemp("exclude"), keys, {2: DishonestLeader("exclude")}, 4, 1)


def test_a_leader_excluding_by_showing_keys_stands_but_the_keys_prove_it_false(
    excluding_leader,
):
    """NOT stopped on chain: an exclusion that shows the handed key is what a leader sends
    when a package does not open, and the ledger cannot open packages. But the keys are
    now public, so anyone proves each exclusion false from the chain and the store."""
    fed, result = excluding_leader
    r = result.rounds[0]
    assert r.leader == "P2"
    assert r.block.accepted == (fed.participants[2].address,)
    excluded = fed.ledger.exclusions(result.task_id, 0)
    victims = {fed.participants[i].address for i in (0, 1, 3)}
    assert r.excluded == {"P0": True, "P1": True, "P3": True}
    assert {e.submitter for e in excluded} == victims
    for e in excluded:
        assert e.key is not None
        assert audit_rejection(fed.ledger, fed.store, result.task_id, 0, e.submitter, e.key)


@pytest.fixture(scope="module")
def garbled_hand_over(tmp_path_factory, keys):
    """P0 hands the leader a sealed box that does not open and does not answer the
    contest; the others are honest."""
    return _run(tmp_path_factory.mktemp("garbled"), keys, {0: GarbledHandOver()}, 4, 1)


def test_a_hand_over_that_does_not_open_cannot_stall_the_round(garbled_hand_over):
    """The leader contests it, waits out the response time, and excludes it without a
    key; the round ends with everyone else aggregated."""
    fed, result = garbled_hand_over
    r = result.rounds[0]
    garbled = fed.participants[0].address
    assert r.leader != "P0"
    refusal = _only(r.refused("P0"))
    assert (refusal.layer, refusal.rule) == ("leader", KEY_DOES_NOT_OPEN)
    assert garbled not in r.block.accepted and len(r.block.accepted) == 3
    assert fed.ledger.exclusions(result.task_id, 0) == (Exclusion(garbled, None),)
    assert r.excluded == {"P0": False}
    state = fed.ledger.hand_over_state(result.task_id, 0, garbled)
    assert state is not None and state.contested_at is not None and not state.reopened


@pytest.fixture(scope="module")
def swapping_leader(tmp_path_factory, keys):
    """P0, P1, P3 honest; P2 captures the first turn and publishes the aggregate with two
    classes swapped, an alteration whose proven count stays above the threshold."""
    return _run(tmp_path_factory.mktemp("swap"), keys, {2: DishonestLeader("swap")}, rounds=1)


def test_an_alteration_above_the_threshold_fails_the_aggregation_proof(swapping_leader):
    """The swapped model passes the threshold, so only the aggregation proof can refuse it:
    the leader proves the honest aggregate (the one statement it can prove) and the ledger
    refuses a block whose global commitment is not that aggregate's. The next-best
    submitter leads and aggregates everyone."""
    fed, result = swapping_leader
    for r in result.rounds:
        refused = [x for x in r.refused("P2") if x.rule != "NotLeader"]
        assert [(x.layer, x.rule) for x in refused] == [("ledger", "InvalidAggregationProof")]
        assert r.passed_over == ["P2"] and r.leader in ("P0", "P1", "P3")
        assert len(r.block.accepted) == 4
        assert r.aggregation_proof is not None and r.aggregation_proof["verified"]
        keys = {p.address: p.submitted[r.round].key for p in fed.participants}
        auditor = fed.participants[0]
        assert audit_aggregate(fed.ledger, fed.store, result.task_id, r.round, keys, auditor)


@pytest.fixture(scope="module")
def substituting_leader(tmp_path_factory, keys):
    """P0, P1, P3 honest; P2 trains on the public test set to lead, and its package holds a
    poisoned model B under the commitment to the A it proved; as leader it aggregates B."""

    class CapturingSubstitute(SubstituteModel):
        def training_data(self, p, round):
            super().training_data(p, round)
            return DishonestLeader("alter").training_data(p, round)

    return _run(tmp_path_factory.mktemp("substitute"), keys, {2: CapturingSubstitute()}, rounds=1)


def test_a_substituting_leader_fails_the_aggregation_proof(substituting_leader):
    """No salt opens A's commitment with B: the aggregate with B in the leader's slot proves
    another statement, the ledger refuses it, and the next leader leaves B out (its package
    does not open its commitment)."""
    fed, result = substituting_leader
    for r in result.rounds:
        assert r.passed_over[0] == "P2"
        rules = [x.rule for x in r.refused("P2")]
        assert rules[0] == "InvalidAggregationProof"
        assert fed.participants[2].address not in r.block.accepted
        assert r.leader in ("P0", "P1", "P3")
