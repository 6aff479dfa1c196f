"""Gas and size figures of the ledger contracts, measured on a local chain.

:func:`ledger_bench` runs one full round with real proofs (a tiny circuit: the gas of
on-chain verification does not depend on the circuit, only on its three public inputs)
and reports the gas of each transaction, the contracts' bytecode sizes and the calldata
of one submission.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

import numpy as np

from zkpot.ledger.artifacts import CONTRACT_NAMES, load_artifact
from zkpot.ledger.ledger import Ledger
from zkpot.ledger.model import Member, TaskParams
from zkpot.protocol.hashes import sort_addresses
from zkpot.proving import FIELD_ORDER

#: EIP-170 limit on deployed bytecode.
EIP170_LIMIT = 24_576
#: Gas budget of one ZKPoT submission, verification included.
SUBMIT_GAS_BUDGET = 300_000
#: A CIDv1 (base32, sha2-256) of the usual length.
SAMPLE_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def ledger_bench(ledger: Ledger | None = None, participants: int = 5) -> dict[str, Any]:
    """Measure deployment, registerTask, submit, handOver and proposeBlock (with its
    global-model proof) on ``ledger``.

    Without a ledger, a fresh in-process chain is used.
    """
    ledger = ledger or Ledger.in_process()
    deploy_zkpot_gas = _gas(ledger)
    prover = _TinyProver(seed=1)
    verifier = ledger.deploy_verifier(prover.vk_words)
    deploy_verifier_gas = _gas(ledger)

    publisher = ledger.new_account()
    accounts = [ledger.new_account() for _ in range(participants)]
    params = TaskParams(
        verifier=verifier,
        test_set_hash=prover.test_set_hash,
        test_set_cid=SAMPLE_CID,
        model_spec_hash=bytes(32 * [1]),
        min_count=1,
        num_samples=prover.num_samples,
        rounds=2,
        window=3_600,
        initial_commitment=FIELD_ORDER - 1,
        initial_cid=SAMPLE_CID,
        participants=tuple(Member(a.address, bytes(32 * [i + 1])) for i, a in enumerate(accounts)),
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
    sealed = bytes(80 * [7])  # the contract checks the length only
    handover = ledger.hand_over(accounts[0], task, 0, leader.address, sealed)
    if accounts[0] is leader_account:
        handover = ledger.hand_over(accounts[1], task, 0, leader.address, sealed)
    global_proof = prover.prove(ledger.global_tag(task, 0, leader.address))
    proposal = ledger.propose_block(
        leader_account,
        task,
        0,
        ledger.genesis_hash(task),
        global_proof.commitment,
        global_proof.count,
        SAMPLE_CID,
        sort_addresses([a.address for a in accounts]),
        global_proof.proof.to_evm(),
    )

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
            "hand_over": handover.gas_used,
            "propose_block": proposal.tx.gas_used,
        },
        "verify_proof_gas": verify_gas,
        "submit_gas_budget": SUBMIT_GAS_BUDGET,
        "submit_within_budget": max(submit_gas) <= SUBMIT_GAS_BUDGET,
        "calldata_bytes_per_submission": submits[0].calldata_size,
    }


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

    def prove(self, tag: int) -> Any:
        return self._proving.prove(self.pk, self.model, self._proving.new_salt(), tag)
