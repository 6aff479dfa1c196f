"""The ZKPoT ledger: Solidity contracts and their web3.py client.

``contracts/ZKPoT.sol`` runs the consensus (task registry, on-chain Groth16 verification
of each round's submissions, leader election, the chain of round blocks);
``contracts/Groth16Verifier.sol`` verifies one task circuit's proofs. :class:`Ledger`
drives both over an in-process chain or any JSON-RPC node. A rule of the round broken on
chain raises the protocol's exception for it (:mod:`zkpot.protocol.errors`); the hashes
the contract computes are recomputed in :mod:`zkpot.protocol.hashes`.
"""

from zkpot.ledger.errors import (
    CONTRACT_ERRORS,
    ContractError,
    InvalidArgument,
    InvalidTaskParams,
    InvalidVerifyingKey,
    LedgerError,
    TransactionReverted,
)
from zkpot.ledger.ledger import BlockProposal, Ledger
from zkpot.ledger.model import (
    BlockCall,
    Event,
    HandOverView,
    Head,
    Leader,
    Member,
    RoundBlockView,
    RoundStatus,
    RoundView,
    SubmissionView,
    TaskParams,
    TaskView,
    TxResult,
)
from zkpot.ledger.verifier import export_solidity_verifier

__all__ = [
    "CONTRACT_ERRORS",
    "BlockCall",
    "BlockProposal",
    "ContractError",
    "Event",
    "HandOverView",
    "Head",
    "InvalidArgument",
    "InvalidTaskParams",
    "InvalidVerifyingKey",
    "Leader",
    "Ledger",
    "LedgerError",
    "Member",
    "RoundBlockView",
    "RoundStatus",
    "RoundView",
    "SubmissionView",
    "TaskParams",
    "TaskView",
    "TransactionReverted",
    "TxResult",
    "export_solidity_verifier",
]
