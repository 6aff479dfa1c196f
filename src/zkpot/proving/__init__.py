"""The ZKPoT proof system: Groth16 (BN254) proofs that a committed, quantised model
classifies a stated number of a task's public test samples correctly (accuracy), and that
a committed global model is the weighted average of committed models (aggregation).

The statement's public inputs are the model commitment, the correct-count and a binding
tag that names the task, round and submitter; the weights and the commitment's salt stay
private. The circuit is built in Rust (``zkpot._prover``); this package is its thin API.
"""

from zkpot._prover import (
    ActivationOverflowError,
    AggregationKey,
    Proof,
    ProverError,
    ProvingKey,
    VerifyingKey,
)
from zkpot.proving.aggregation import (
    MAX_AGGREGATION_CAPACITY,
    AggregationCircuit,
    ProvenAggregate,
    padding_commitment,
    prove_aggregation,
    setup_aggregation,
    verify_aggregation,
)
from zkpot.proving.system import (
    FIELD_ORDER,
    AccuracyCircuit,
    Proven,
    commit,
    integer_inference,
    new_salt,
    proof_from_evm,
    prove,
    setup,
    verify,
)

__all__ = [
    "FIELD_ORDER",
    "MAX_AGGREGATION_CAPACITY",
    "AccuracyCircuit",
    "ActivationOverflowError",
    "AggregationCircuit",
    "AggregationKey",
    "Proof",
    "Proven",
    "ProvenAggregate",
    "ProverError",
    "ProvingKey",
    "VerifyingKey",
    "commit",
    "integer_inference",
    "new_salt",
    "padding_commitment",
    "proof_from_evm",
    "prove",
    "prove_aggregation",
    "setup",
    "setup_aggregation",
    "verify",
    "verify_aggregation",
]
