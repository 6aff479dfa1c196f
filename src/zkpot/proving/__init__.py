"""The ZKPoT proof system: a Groth16 (BN254) proof that a committed, quantised model
classifies a stated number of a task's public test samples correctly.

The statement's public inputs are the model commitment, the correct-count and a binding
tag that names the task, round and submitter; the weights and the commitment's salt stay
private. The circuit is built in Rust (``zkpot._prover``); this package is its thin API.
"""

from zkpot._prover import (
    ActivationOverflowError,
    Proof,
    ProverError,
    ProvingKey,
    VerifyingKey,
)
from zkpot.proving.system import (
    FIELD_ORDER,
    AccuracyCircuit,
    Proven,
    commit,
    integer_inference,
    new_salt,
    prove,
    setup,
    verify,
)

__all__ = [
    "FIELD_ORDER",
    "AccuracyCircuit",
    "ActivationOverflowError",
    "Proof",
    "Proven",
    "ProverError",
    "ProvingKey",
    "VerifyingKey",
    "commit",
    "integer_inference",
    "new_salt",
    "prove",
    "setup",
    "verify",
]
