"""The ZKPoT ledger: Solidity contracts and their web3.py client.

``contracts/ZKPoT.sol`` runs the consensus (task registry, on-chain Groth16 verification
of each round's submissions, leader election, the chain of round blocks);
``contracts/Groth16Verifier.sol`` verifies one task circuit's proofs. :class:`Ledger`
drives both over an in-process chain or any JSON-RPC node.
"""

from zkpot.ledger.errors import (
    CONTRACT_ERRORS,
    AcceptedNotSorted,
    BadParent,
    BelowThreshold,
    BlockAlreadyProposed,
    ContractError,
    CountAboveSamples,
    DuplicateSubmission,
    InvalidArgument,
    InvalidCommitment,
    InvalidProof,
    InvalidTaskParams,
    InvalidVerifyingKey,
    LateSubmission,
    LedgerError,
    NoSubmissions,
    NotLeader,
    NotRegistered,
    NoValidSubmission,
    RoundNotOpen,
    RoundStillOpen,
    TransactionReverted,
    UnknownTask,
)
from zkpot.ledger.hashes import SCALAR_FIELD, binding_tag, block_hash, genesis_hash
from zkpot.ledger.ledger import BlockProposal, Ledger
from zkpot.ledger.model import (
    Event,
    Head,
    Leader,
    Participant,
    RoundBlock,
    RoundState,
    RoundStatus,
    Submission,
    Task,
    TaskParams,
    TxResult,
)
from zkpot.ledger.verifier import export_solidity_verifier

__all__ = [
    "CONTRACT_ERRORS",
    "SCALAR_FIELD",
    "AcceptedNotSorted",
    "BadParent",
    "BelowThreshold",
    "BlockAlreadyProposed",
    "BlockProposal",
    "ContractError",
    "CountAboveSamples",
    "DuplicateSubmission",
    "Event",
    "Head",
    "InvalidArgument",
    "InvalidCommitment",
    "InvalidProof",
    "InvalidTaskParams",
    "InvalidVerifyingKey",
    "LateSubmission",
    "Leader",
    "Ledger",
    "LedgerError",
    "NoSubmissions",
    "NoValidSubmission",
    "NotLeader",
    "NotRegistered",
    "Participant",
    "RoundBlock",
    "RoundNotOpen",
    "RoundState",
    "RoundStatus",
    "RoundStillOpen",
    "Submission",
    "Task",
    "TaskParams",
    "TransactionReverted",
    "TxResult",
    "UnknownTask",
    "binding_tag",
    "block_hash",
    "export_solidity_verifier",
    "genesis_hash",
]
