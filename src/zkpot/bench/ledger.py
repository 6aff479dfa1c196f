"""Gas and size figures of the ledger contracts, measured on a local chain.

:func:`ledger_bench` runs one full round with real proofs (a tiny circuit: the gas of
on-chain verification does not depend on the circuit, only on its public inputs: three
for an accuracy proof, one plus two per slot for the block's aggregation proof)
and reports the gas of each transaction, the contracts' bytecode sizes and the calldata
of one submission.

:func:`ledger_load` is the load run: for each federation size, every participant submits
in one window, every leader turn of the round fails (so that each later turn re-ranks the
submissions), then a round ends in the block of its costliest turn and one in turn 0's. It reports
the gas of each transaction at its worst case, the submissions per second that the
contract and the client sustain, and each figure's ratio to the smallest size of the same
run. Proofs are real throughout (the tiny circuit of :func:`ledger_bench`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from statistics import mean
from typing import Any

import numpy as np

from zkpot.learning.aggregate import aggregation_weights
from zkpot.ledger.artifacts import CONTRACT_NAMES, load_artifact
from zkpot.ledger.ledger import Ledger
from zkpot.ledger.model import Member, RoundStatus, TaskParams
from zkpot.protocol.hashes import key_hash, sort_addresses, tie_break_rank
from zkpot.protocol.submission import Exclusion
from zkpot.proving import FIELD_ORDER

#: EIP-170 limit on deployed bytecode.
EIP170_LIMIT = 24_576
#: Gas budget of one ZKPoT submission, verification included.
SUBMIT_GAS_BUDGET = 300_000
#: Every participant's registered sample count (equal weights).
SAMPLES_PER_PARTICIPANT = 100
#: A CIDv1 (base32, sha2-256) of the usual length.
SAMPLE_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def ledger_bench(ledger: Ledger | None = None, participants: int = 5) -> dict[str, Any]:
    """Measure deployment, registerTask, submit, handOver and proposeBlock (with its
    global-model and aggregation proofs) on ``ledger``.

    Without a ledger, a fresh in-process chain is used.
    """
    ledger = ledger or Ledger.in_process()
    deploy_zkpot_gas = _gas(ledger)
    prover = _TinyProver(seed=1)
    verifier = ledger.deploy_verifier(prover.vk_words)
    deploy_verifier_gas = _gas(ledger)

    publisher = ledger.new_account()
    accounts = [ledger.new_account() for _ in range(participants)]
    params = _task_params(
        ledger, prover, verifier, accounts, 2, 3_600, lambda i: bytes(32 * [i + 1])
    )
    task = ledger.register_task(publisher, params)
    register_gas = _gas(ledger)

    submits = []
    for account in accounts:
        tag = ledger.binding_tag(task, 0, account.address)
        proven = prover.prove(tag)
        submits.append(
            ledger.submit(
                account, task, 0, proven.commitment, proven.count, SAMPLE_CID, proven.proof.to_evm()
            )
        )
    verify_gas = ledger.verify_proof_gas(
        verifier, proven.proof.to_evm(), [proven.commitment, proven.count, tag]
    )
    leader = ledger.leader_of(task, 0)
    leader_account = next(a for a in accounts if a.address == leader.address)
    others = [a for a in accounts if a is not leader_account]
    sealed = bytes(80 * [7])  # the contract checks the length only
    keys = {a.address: bytes(32 * [i + 1]) for i, a in enumerate(accounts)}
    handovers = [
        ledger.hand_over(a, task, 0, leader.address, sealed, key_hash(keys[a.address]))
        for a in others
    ]
    proposal = _propose(ledger, prover, task, 0, leader_account, [a.address for a in accounts])

    # Round 1: the leader contests one hand-over (answered by a re-opening) and excludes
    # every other submitter by showing its key, which costs proposeBlock the most.
    for account in accounts:
        tag = ledger.binding_tag(task, 1, account.address)
        proven = prover.prove(tag)
        ledger.submit(
            account, task, 1, proven.commitment, proven.count, SAMPLE_CID, proven.proof.to_evm()
        )
    leader1 = ledger.leader_of(task, 1).address
    leader1_account = next(a for a in accounts if a.address == leader1)
    others1 = [a for a in accounts if a is not leader1_account]
    for a in others1:
        ledger.hand_over(a, task, 1, leader1, sealed, key_hash(keys[a.address]))
    contested = others1[0]
    contest = ledger.contest(leader1_account, task, 1, contested.address)
    reopen = ledger.reopen(contested, task, 1, keys[contested.address])
    excluded = [Exclusion(a.address, keys[a.address]) for a in others1]
    excluding = _propose(ledger, prover, task, 1, leader1_account, [leader1], excluded)

    submit_gas = [s.gas_used for s in submits]
    artefacts = {name: load_artifact(name) for name in CONTRACT_NAMES}
    return {
        "backend": type(ledger.w3.provider).__name__,
        "chain_id": ledger.chain_id,
        "compiler": artefacts["ZKPoT"]["compiler"]["version"],
        "evm_version": artefacts["ZKPoT"]["settings"]["evmVersion"],
        "participants": participants,
        "bytecode_bytes": {
            name: (len(a["deployedBytecode"]) - 2) // 2 for name, a in artefacts.items()
        },
        "eip170_limit": EIP170_LIMIT,
        "gas": {
            "deploy_zkpot": deploy_zkpot_gas,
            "deploy_verifier": deploy_verifier_gas,
            "register_task": register_gas,
            "submit": {"min": min(submit_gas), "max": max(submit_gas), "mean": mean(submit_gas)},
            "hand_over": {
                "min": min(h.gas_used for h in handovers),
                "max": max(h.gas_used for h in handovers),
            },
            "propose_block": proposal.tx.gas_used,
            "contest": contest.gas_used,
            "reopen": reopen.gas_used,
            "propose_block_excluding": {
                "gas": excluding.tx.gas_used,
                "excluded": len(excluded),
            },
        },
        "verify_proof_gas": verify_gas,
        "submit_gas_budget": SUBMIT_GAS_BUDGET,
        "submit_within_budget": max(submit_gas) <= SUBMIT_GAS_BUDGET,
        "calldata_bytes_per_submission": submits[0].calldata_size,
    }


#: Federation sizes of the load run (``zkpot bench ledger --load``).
LOAD_SIZES = (4, 8, 16, 32, 64)
#: Submission window of the load run's tasks, in seconds.
LOAD_WINDOW = 600
#: Gas figures of each size of the load run, worst cases first.
LOAD_GAS = (
    "register_task",
    "submit_max",
    "leader_of_turn0",
    "leader_of_worst_turn",
    "hand_over_turn0",
    "hand_over_worst_turn",
    "skip_after_last_turn",
    "propose_block_turn0",
    "propose_block_worst_turn",
)


def ledger_load(ledger: Ledger | None = None, sizes: Sequence[int] = LOAD_SIZES) -> dict[str, Any]:
    """The load run on ``ledger`` (a fresh in-process chain without one), one task per size.

    Per size n: n submissions in one window; each of the n leader turns of that round
    passes without a block (leaderOf is checked against the leader order at every turn, a
    submitter hands over to each turn's leader, both measured) and the round is skipped;
    the next round's block comes in the turn whose re-ranking cost the most (``worst_turn``,
    all n submissions accepted), the one after in turn 0. ``ratio`` divides each gas
    figure, and the submission rate, by the smallest size's; ``participant_ratio`` is the
    ratio of the sizes. ``per_participant`` is the marginal gas per participant between
    the two largest sizes, and ``at_register_limit`` extrapolates each figure to the
    largest federation whose registration fits one block.
    """
    if not sizes or sorted(set(sizes)) != list(sizes) or sizes[0] < 2:
        raise ValueError("sizes must be ascending, distinct and at least 2")
    ledger = ledger or Ledger.in_process()
    prover = _TinyProver(seed=1)
    verifier = ledger.deploy_verifier(prover.vk_words)
    rows = [_load_size(ledger, prover, verifier, n) for n in sizes]
    base = rows[0]
    for row in rows:
        row["participant_ratio"] = row["participants"] / base["participants"]
        row["ratio"] = {key: row["gas"][key] / base["gas"][key] for key in LOAD_GAS}
        row["ratio"]["submissions_per_second"] = (
            row["submissions_per_second"] / base["submissions_per_second"]
        )
    block_gas_limit = int(ledger.w3.eth.get_block("latest")["gasLimit"])
    report: dict[str, Any] = {
        "backend": type(ledger.w3.provider).__name__,
        "block_gas_limit": block_gas_limit,
        "window": LOAD_WINDOW,
        "sizes": rows,
    }
    if len(rows) >= 2:
        small, large = rows[-2], rows[-1]
        extra = large["participants"] - small["participants"]
        marginal = {key: (large["gas"][key] - small["gas"][key]) / extra for key in LOAD_GAS}
        fixed = {key: large["gas"][key] - marginal[key] * large["participants"] for key in LOAD_GAS}
        # Registration costs the most per participant: a task that registers in one block
        # has at most this many participants.
        cap = int((block_gas_limit - fixed["register_task"]) // marginal["register_task"])
        at_cap = {key: round(fixed[key] + marginal[key] * cap) for key in LOAD_GAS}
        report["per_participant"] = {key: round(value) for key, value in marginal.items()}
        report["register_limit_participants"] = cap
        report["at_register_limit"] = at_cap
        report["within_block_gas_limit"] = max(at_cap.values()) <= block_gas_limit
    return report


def _load_size(ledger: Ledger, prover: _TinyProver, verifier: str, n: int) -> dict[str, Any]:
    publisher = ledger.new_account()
    accounts = [ledger.new_account() for _ in range(n)]
    params = _task_params(
        ledger, prover, verifier, accounts, 4, LOAD_WINDOW, lambda i: (i + 1).to_bytes(32, "big")
    )
    task = ledger.register_task(publisher, params)
    gas: dict[str, int] = {"register_task": _gas(ledger)}
    sealed = bytes(80 * [7])  # the contract checks the length only

    # Round 0: n submissions in one window, then every leader turn fails.
    submit_gas, elapsed, proving = _submit_all(ledger, prover, task, 0, accounts)
    state = ledger.round_state(task, 0)
    if state.submitted != n or state.status != RoundStatus.CLOSED:
        raise RuntimeError(f"round 0 did not close with {n} submissions: {state}")
    order = _leader_order(0, accounts)
    leader_of = ledger.contract.functions.leaderOf(task, 0)
    turn_gas: list[tuple[int, int]] = []  # (leaderOf, handOver) per turn
    for turn in range(n):
        _advance_to(ledger, state.deadline + turn * LOAD_WINDOW)
        leader = ledger.leader_of(task, 0)
        if leader.address != order[turn]:
            raise RuntimeError(f"turn {turn}: leaderOf is {leader.address}, not {order[turn]}")
        hand_over = ledger.hand_over(
            accounts[turn], task, 0, leader.address, sealed, key_hash(bytes(32))
        )
        turn_gas.append((int(leader_of.estimate_gas()), hand_over.gas_used))
    worst = max(range(n), key=lambda turn: turn_gas[turn][1])
    gas["leader_of_turn0"], gas["hand_over_turn0"] = turn_gas[0]
    gas["leader_of_worst_turn"], gas["hand_over_worst_turn"] = turn_gas[worst]
    _advance_to(ledger, state.deadline + n * LOAD_WINDOW)
    gas["skip_after_last_turn"] = ledger.skip_round(None, task, 0).tx.gas_used

    # Round 1: the block comes in the costliest turn of round 0, accepting every submission.
    gas["propose_block_worst_turn"] = _round_with_block(ledger, prover, task, 1, accounts, worst)
    # Round 2: the block comes in turn 0.
    gas["propose_block_turn0"] = _round_with_block(ledger, prover, task, 2, accounts, 0)
    return {
        "participants": n,
        "gas": {**gas, "submit_max": max(submit_gas), "submit_min": min(submit_gas)},
        "worst_turn": worst,
        "submissions_per_second": n / elapsed,
        "submit_seconds": elapsed,
        "proving_seconds": proving,
    }


def _submit_all(
    ledger: Ledger, prover: _TinyProver, task: int, round: int, accounts: Sequence[Any]
) -> tuple[list[int], float, float]:
    """Every account submits in the round's window; the proofs are made first, so that the
    time is that of the contract and the client alone. Returns the gas of each submission,
    the seconds the submissions took and the seconds proving took."""
    started = time.perf_counter()
    proofs = [prover.prove(ledger.binding_tag(task, round, a.address)) for a in accounts]
    proving = time.perf_counter() - started
    started = time.perf_counter()
    gas = [
        ledger.submit(a, task, round, p.commitment, p.count, SAMPLE_CID, p.proof.to_evm()).gas_used
        for a, p in zip(accounts, proofs, strict=True)
    ]
    return gas, time.perf_counter() - started, proving


def _round_with_block(
    ledger: Ledger, prover: _TinyProver, task: int, round: int, accounts: Sequence[Any], turn: int
) -> int:
    """Everyone submits, the leader of ``turn`` proposes a block accepting them all; its gas."""
    _submit_all(ledger, prover, task, round, accounts)
    state = ledger.round_state(task, round)
    if turn:
        _advance_to(ledger, state.deadline + turn * LOAD_WINDOW)
    expected = _leader_order(round, accounts)[turn]
    leader = ledger.leader_of(task, round)
    if leader.address != expected:
        raise RuntimeError(f"round {round} turn {turn}: leaderOf is {leader.address}")
    account = next(a for a in accounts if a.address == expected)
    return _propose(ledger, prover, task, round, account, [a.address for a in accounts]).tx.gas_used


def _task_params(
    ledger: Ledger,
    prover: _TinyProver,
    verifier: str,
    accounts: Sequence[Any],
    rounds: int,
    window: int,
    key_of: Any,
) -> TaskParams:
    """A task of the tiny circuit for ``accounts`` (X25519 keys from ``key_of(i)``, equal
    sample counts), with a real aggregation verifier of one slot per account."""
    _, vk_words = prover.aggregation(len(accounts))
    return TaskParams(
        verifier=verifier,
        test_set_hash=prover.test_set_hash,
        test_set_cid=SAMPLE_CID,
        model_spec_hash=bytes(32 * [1]),
        min_count=1,
        num_samples=prover.num_samples,
        rounds=rounds,
        window=window,
        initial_commitment=FIELD_ORDER - 1,
        initial_cid=SAMPLE_CID,
        participants=tuple(
            Member(a.address, key_of(i), SAMPLES_PER_PARTICIPANT) for i, a in enumerate(accounts)
        ),
        aggregator=ledger.deploy_aggregation_verifier(vk_words),
        padding_commitment=prover.padding(),
    )


def _propose(
    ledger: Ledger,
    prover: _TinyProver,
    task: int,
    round: int,
    leader: Any,
    accepted: Sequence[str],
    excluded: Sequence[Exclusion] = (),
) -> Any:
    """``leader`` proposes the round's block accepting every address in ``accepted`` (and
    excluding ``excluded``), with a real global-model proof and a real aggregation proof
    (every submission of the tiny prover is the same model, so the aggregate is that model
    too)."""
    from zkpot import proving

    ordered = sort_addresses(accepted)
    global_salt = proving.new_salt()
    global_proof = prover.prove(ledger.global_tag(task, round, leader.address), global_salt)
    key, _ = prover.aggregation(ledger.task(task).capacity)
    weights = aggregation_weights([SAMPLES_PER_PARTICIPANT] * len(ordered))
    contributions = [
        (prover.model, prover.salts[ledger.submission(task, round, a).commitment], w)  # type: ignore[union-attr]
        for a, w in zip(ordered, weights, strict=True)
    ]
    aggregate = proving.prove_aggregation(key, contributions, global_salt)
    if aggregate.global_commitment != global_proof.commitment:
        raise RuntimeError("the aggregate is not the proven global model")
    return ledger.propose_block(
        leader,
        task,
        round,
        ledger.head(task).block_hash,
        global_proof.commitment,
        global_proof.count,
        SAMPLE_CID,
        ordered,
        global_proof.proof.to_evm(),
        aggregate.proof.to_evm(),
        excluded,
    )


def _leader_order(round: int, accounts: Sequence[Any]) -> list[str]:
    """The leader of each turn when every count is equal (the tiny prover's model is
    constant): ascending tie-break rank."""
    return sorted((a.address for a in accounts), key=lambda a: tie_break_rank(round, a))


def _advance_to(ledger: Ledger, timestamp: int) -> None:
    """Mine a block at ``timestamp`` (at least one second after the latest one)."""
    now = ledger.timestamp()
    if timestamp > now:
        ledger.advance_time(timestamp - now)


def _gas(ledger: Ledger) -> int:
    assert ledger.last_tx is not None
    return ledger.last_tx.gas_used


class _TinyProver:
    """Real proofs for a 16-input, 2-class circuit over 8 samples (a constant classifier)."""

    def __init__(self, seed: int) -> None:
        from zkpot import proving
        from zkpot.learning.integer_model import ModelSpec, QuantizedModel

        rng = np.random.default_rng(seed)
        spec = ModelSpec(widths=(16, 2, 2), shifts=(4,))
        labels = np.array([0, 1, 0, 0, 1, 0, 1, 0])
        inputs = rng.integers(0, 256, size=(len(labels), 16), dtype=np.uint8)
        circuit = proving.AccuracyCircuit(spec, inputs, labels)
        self._proving = proving
        self.num_samples = circuit.num_samples
        self.test_set_hash = circuit.test_set_hash
        self.pk, vk = proving.setup(circuit)
        self.vk_words: list[int] = list(vk.to_evm())
        zeros = np.zeros
        self.model = QuantizedModel(
            spec,
            (zeros((16, 2), dtype=np.int64), zeros((2, 2), dtype=np.int64)),
            (zeros(2, dtype=np.int64), np.array([1, 0], dtype=np.int64)),
            (1.0, 1.0),
        )

        self._aggregation: dict[int, tuple[Any, list[int]]] = {}
        #: The salt of each commitment this prover made (for the aggregation proofs).
        self.salts: dict[int, int] = {}

    def prove(self, tag: int, salt: int | None = None) -> Any:
        salt = self._proving.new_salt() if salt is None else salt
        proven = self._proving.prove(self.pk, self.model, salt, tag)
        self.salts[proven.commitment] = salt
        return proven

    def aggregation(self, capacity: int) -> tuple[Any, list[int]]:
        """The aggregation key and verifying-key words of ``capacity`` slots (set up once)."""
        if capacity not in self._aggregation:
            circuit = self._proving.AggregationCircuit(self.model.spec, capacity)
            key, vk = self._proving.setup_aggregation(circuit)
            self._aggregation[capacity] = (key, list(vk.to_evm()))
        return self._aggregation[capacity]

    def padding(self) -> int:
        return self._proving.padding_commitment(self.model.spec)
