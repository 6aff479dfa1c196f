"""The ZKPoT ledger client: one class over an in-process chain or any JSON-RPC node.

Actors (publisher, participants) hold an ``eth_account`` ``LocalAccount``; their
transactions are signed locally and sent raw, each with an explicit gas limit. A reverted
transaction or call raises the exception class of the contract's custom error (see
:mod:`zkpot.ledger.errors`); arguments are checked in Python before anything is sent.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from zkpot.ledger.artifacts import abi_signature, load_artifact
from zkpot.ledger.errors import (
    InvalidArgument,
    LedgerError,
    TransactionReverted,
    decode_revert,
)
from zkpot.ledger.model import (
    UINT32_MAX,
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
    checksum,
    field_element,
    uint,
    words,
)
from zkpot.ledger.verifier import PROOF_WORDS, VK_WORDS
from zkpot.protocol import hashes
from zkpot.protocol.submission import Exclusion

#: Gas limits. Unused gas is not charged; the limits only need to cover the worst case.
DEPLOY_GAS = 5_000_000
SUBMIT_GAS = 400_000
#: handOver writes the hand-over (two slots) and the turn's count besides its event.
HANDOVER_GAS = 150_000
CONTEST_GAS = 80_000
REOPEN_GAS = 80_000
#: An aggregation verifier keeps its input points in storage: per key word.
AGGREGATION_DEPLOY_GAS_PER_WORD = 25_000
#: Slots of the largest aggregation circuit (zkpot.proving.AggregationCircuit).
MAX_AGGREGATION_CAPACITY = 64
#: An aggregation verification: the pairing, one ecMul and two cold reads per input.
AGGREGATION_VERIFY_GAS = 300_000 + 15_000 * (1 + 2 * MAX_AGGREGATION_CAPACITY)
#: A 32-byte key in a libsodium sealed box.
SEALED_KEY_BYTES = 80
REGISTER_GAS_BASE = 600_000
REGISTER_GAS_PER_PARTICIPANT = 95_000
#: proposeBlock verifies a Groth16 proof (~210k gas) besides writing the block.
PROPOSE_GAS_BASE = 600_000
#: A leader turn after the first re-ranks the round's submissions (proposeBlock, handOver,
#: skipRound): per participant, whatever the turn (about 10k measured at 8 participants,
#: less per participant beyond; docs/ledger.md has the load table).
RERANK_GAS_PER_PARTICIPANT = 12_000
SKIP_GAS_BASE = 200_000
PROPOSE_GAS_PER_ACCEPTED = 15_000
#: An exclusion: its hand-over's reads, a key hash and an event.
PROPOSE_GAS_PER_EXCLUDED = 20_000
#: proposeBlock also verifies the aggregation proof: the pairing, then per slot two
#: inputs (one ecMul each) and the accepted submission's cold reads.
AGGREGATE_GAS_BASE = 300_000
AGGREGATE_GAS_PER_SLOT = 40_000
#: Opening a round pre-writes one storage word per 7 participants (see ZKPoT.sol).
GAS_PER_ROUND_WORD = 25_000
GAS_PER_STRING_BYTE = 1_000
#: Priority fee offered on every transaction (wei per gas).
PRIORITY_FEE = 10**9
#: Seconds to wait for a receipt from a JSON-RPC node.
RECEIPT_TIMEOUT = 120

ZERO_HASH = b"\x00" * 32
_ETH_TESTER_REVERT = re.compile(r"execution reverted: (b'.*'|b\".*\")$", re.DOTALL)
#: Exceptions by which a node reports a reverted call.
REVERTS: tuple[type[Exception], ...] = (ContractLogicError, TransactionFailed)
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class BlockProposal:
    """A round block appended by ``propose_block``."""

    block_hash: bytes
    tx: TxResult


class Ledger:
    """Client of one deployed ZKPoT contract on one chain.

    Build it with :meth:`in_process` (eth-tester + py-evm, deploys the contract) or
    :meth:`connect` (any JSON-RPC node).
    """

    def __init__(self, w3: Web3, zkpot_address: str | None = None) -> None:
        self.w3 = w3
        self.chain_id: int = w3.eth.chain_id
        self._zkpot_abi = load_artifact("ZKPoT")["abi"]
        self._events = {
            keccak(text=abi_signature(item)): item["name"]
            for item in self._zkpot_abi
            if item["type"] == "event"
        }
        self._contract: Contract | None = None
        #: The latest transaction this client mined successfully.
        self.last_tx: TxResult | None = None
        if zkpot_address is not None:
            self.attach(zkpot_address)

    # ------------------------------------------------------------------ construction

    @classmethod
    def in_process(cls) -> Ledger:
        """A fresh in-process chain (eth-tester, py-evm) with the ZKPoT contract deployed."""
        ledger = cls(Web3(EthereumTesterProvider()))
        ledger.deploy_zkpot()
        return ledger

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        zkpot_address: str | None = None,
        deployer: LocalAccount | None = None,
    ) -> Ledger:
        """Connect to a JSON-RPC node; attach to ``zkpot_address`` or deploy the contract.

        Without an address the contract is deployed by ``deployer``, or by the node's
        first unlocked account (a local development node).
        """
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": RECEIPT_TIMEOUT}))
        if not w3.is_connected():
            raise LedgerError(f"no JSON-RPC node answers at {url}")
        ledger = cls(w3, zkpot_address)
        if zkpot_address is None:
            ledger.deploy_zkpot(deployer)
        return ledger

    def attach(self, zkpot_address: str) -> None:
        """Use the ZKPoT contract deployed at ``zkpot_address``."""
        address = checksum(zkpot_address, "zkpot_address")
        if not self.w3.eth.get_code(address):
            raise InvalidArgument(f"no contract at {address}")
        self._contract = self.w3.eth.contract(address=address, abi=self._zkpot_abi)

    @property
    def contract(self) -> Contract:
        """The ZKPoT contract (web3 object)."""
        if self._contract is None:
            raise LedgerError("no ZKPoT contract: deploy_zkpot() or attach() first")
        return self._contract

    @property
    def address(self) -> str:
        """Address of the ZKPoT contract."""
        return self.contract.address

    # ------------------------------------------------------------------ accounts

    @property
    def dev_account(self) -> str:
        """The node's first unlocked account (local development chains only)."""
        accounts = self.w3.eth.accounts
        if not accounts:
            raise LedgerError("the node has no unlocked account: pass an account explicitly")
        return accounts[0]

    def fund(self, address: str, wei: int) -> TxResult:
        """Send ``wei`` from the node's development account (local chains)."""
        to = checksum(address, "address")
        uint("wei", wei, 2**256 - 1)
        return self._send(None, to, b"", 21_000, value=wei)

    def new_account(self, wei: int = 10**18) -> LocalAccount:
        """A fresh local account funded with ``wei`` from the development account."""
        account: LocalAccount = Account.create()
        self.fund(account.address, wei)
        return account

    def balance(self, address: str) -> int:
        """Balance of an account, in wei."""
        return self.w3.eth.get_balance(checksum(address, "address"))

    # ------------------------------------------------------------------ deployment

    def deploy_contract(
        self, creation_code: bytes, deployer: LocalAccount | None = None, gas: int = DEPLOY_GAS
    ) -> str:
        """Deploy any contract from its creation code (e.g. a compiled exported verifier)."""
        if not isinstance(creation_code, bytes) or not creation_code:
            raise InvalidArgument("creation_code must be non-empty bytes")
        result = self._send(deployer, None, creation_code, gas)
        return self.w3.eth.get_transaction_receipt(result.tx_hash)["contractAddress"]

    def deploy_zkpot(self, deployer: LocalAccount | None = None) -> str:
        """Deploy a ZKPoT contract, use it from now on and return its address."""
        creation_code = bytes.fromhex(load_artifact("ZKPoT")["bytecode"][2:])
        self.attach(self.deploy_contract(creation_code, deployer))
        return self.address

    def deploy_verifier(self, vk_words: Sequence[int], deployer: LocalAccount | None = None) -> str:
        """Deploy a ``Groth16Verifier`` for a verifying key; returns its address.

        ``vk_words`` are the 22 words of ``VerifyingKey.to_evm()``.
        """
        vk = words("vk_words", vk_words, VK_WORDS, hashes.BASE_FIELD)
        artefact = load_artifact("Groth16Verifier")
        factory = self.w3.eth.contract(abi=artefact["abi"], bytecode=artefact["bytecode"])
        data = factory.constructor(vk).data_in_transaction
        return self.deploy_contract(bytes.fromhex(data[2:]), deployer)

    def deploy_aggregation_verifier(
        self, vk_words: Sequence[int], deployer: LocalAccount | None = None
    ) -> str:
        """Deploy an ``AggregationVerifier`` for an aggregation verifying key (the words of
        its ``to_evm()``: 14 + 2 * (inputs + 1)); returns its address."""
        if not 18 <= len(vk_words) <= 14 + 2 * (2 + 2 * MAX_AGGREGATION_CAPACITY):
            raise InvalidArgument(f"an aggregation key has no {len(vk_words)} words")
        vk = words("vk_words", vk_words, len(vk_words), hashes.BASE_FIELD)
        artefact = load_artifact("AggregationVerifier")
        factory = self.w3.eth.contract(abi=artefact["abi"], bytecode=artefact["bytecode"])
        data = factory.constructor(vk).data_in_transaction
        gas = DEPLOY_GAS + AGGREGATION_DEPLOY_GAS_PER_WORD * len(vk)
        return self.deploy_contract(bytes.fromhex(data[2:]), deployer, gas)

    def is_aggregation_verifier(self, verifier: str, vk_words: Sequence[int]) -> bool:
        """Whether the ``AggregationVerifier`` at ``verifier`` holds exactly the verifying
        key ``vk_words`` (its ``to_evm()``): alpha, beta, gamma and delta sit verbatim in
        the code as immutables, the input points in storage (``_ic``, slot 0)."""
        address = checksum(verifier, "verifier")
        vk = [int(w) for w in vk_words]
        if len(vk) < 18:
            return False
        code = bytes(self.w3.eth.get_code(address))
        if not all(w.to_bytes(32, "big") in code for w in vk[:14]):
            return False
        ic = vk[14:]
        if int.from_bytes(self.w3.eth.get_storage_at(address, 0), "big") != len(ic):
            return False
        base = int.from_bytes(keccak(b"\0" * 32), "big")
        return all(
            int.from_bytes(self.w3.eth.get_storage_at(address, base + i), "big") == w
            for i, w in enumerate(ic)
        )

    def _aggregation_args(
        self, verifier: str, proof_words: Sequence[int], inputs: Sequence[int]
    ) -> tuple[Contract, list[int], list[int]]:
        address = checksum(verifier, "verifier")
        proof = words("proof_words", proof_words, PROOF_WORDS, 2**256)
        if not 1 <= len(inputs) <= 1 + 2 * MAX_AGGREGATION_CAPACITY:
            raise InvalidArgument(f"an aggregation statement has no {len(inputs)} inputs")
        values = words("inputs", inputs, len(inputs), 2**256)
        contract = self.w3.eth.contract(
            address=address, abi=load_artifact("AggregationVerifier")["abi"]
        )
        return contract, proof, values

    def verify_aggregation(
        self, verifier: str, proof_words: Sequence[int], inputs: Sequence[int]
    ) -> bool:
        """Ask a deployed ``AggregationVerifier`` whether a proof holds for ``inputs``:
        ``[global commitment, C_1, λ_1, ..., C_m, λ_m]``."""
        contract, proof, values = self._aggregation_args(verifier, proof_words, inputs)
        return bool(self._view(contract.functions.verifyProof(proof, values)))

    def verify_aggregation_gas(
        self, verifier: str, proof_words: Sequence[int], inputs: Sequence[int]
    ) -> int:
        """Gas of a transaction that only calls the aggregation verifier's ``verifyProof``."""
        contract, proof, values = self._aggregation_args(verifier, proof_words, inputs)
        data = contract.encode_abi("verifyProof", args=[proof, values])
        gas = AGGREGATION_VERIFY_GAS
        return self._send(None, contract.address, bytes.fromhex(data[2:]), gas).gas_used

    def verify_proof(
        self, verifier: str, proof_words: Sequence[int], inputs: Sequence[int]
    ) -> bool:
        """Ask a deployed verifier whether a proof holds for ``[commitment, count, tag]``."""
        address = checksum(verifier, "verifier")
        proof = words("proof_words", proof_words, PROOF_WORDS, 2**256)
        values = words("inputs", inputs, 3, 2**256)
        contract = self.w3.eth.contract(
            address=address, abi=load_artifact("Groth16Verifier")["abi"]
        )
        return bool(self._view(contract.functions.verifyProof(proof, values)))

    def verify_proof_gas(
        self, verifier: str, proof_words: Sequence[int], inputs: Sequence[int]
    ) -> int:
        """Gas of a transaction that only calls ``verifyProof`` (the bare verification
        cost, intrinsic gas included), sent from the development account."""
        address = checksum(verifier, "verifier")
        proof = words("proof_words", proof_words, PROOF_WORDS, 2**256)
        values = words("inputs", inputs, 3, 2**256)
        contract = self.w3.eth.contract(
            address=address, abi=load_artifact("Groth16Verifier")["abi"]
        )
        data = contract.encode_abi("verifyProof", args=[proof, values])
        return self._send(None, address, bytes.fromhex(data[2:]), SUBMIT_GAS).gas_used

    # ------------------------------------------------------------------ protocol

    def register_task(self, publisher: LocalAccount, params: TaskParams) -> int:
        """Register a task published by ``publisher``; returns its id. Round 0 opens now."""
        if not self.w3.eth.get_code(params.verifier):
            raise InvalidArgument(f"no verifier contract at {params.verifier}")
        strings = len(params.test_set_cid.encode()) + len(params.initial_cid.encode())
        participants = len(params.participants)
        gas = (
            REGISTER_GAS_BASE
            + REGISTER_GAS_PER_PARTICIPANT * participants
            + GAS_PER_ROUND_WORD * -(-participants // 7)
            + GAS_PER_STRING_BYTE * strings
        )
        result = self.transact(publisher, "registerTask", params.to_abi(), gas=gas)
        return int(result.event("TaskRegistered").args["taskId"])

    def submit(
        self,
        account: LocalAccount,
        task_id: int,
        round: int,
        commitment: int,
        count: int,
        model_cid: str,
        proof_words: Sequence[int],
    ) -> TxResult:
        """The ZKPoT transaction: a model commitment with its proof of ``count``.

        The proof must be made for the tag :meth:`binding_tag` gives for this task, round
        and ``account``; the contract recomputes it and verifies the proof on chain.
        """
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        field_element("commitment", commitment)
        uint("count", count, UINT32_MAX)
        proof = words("proof_words", proof_words, PROOF_WORDS, hashes.BASE_FIELD)
        if not isinstance(model_cid, str) or not model_cid:
            raise InvalidArgument("model_cid must be a non-empty string")
        return self.transact(
            account,
            "submit",
            task_id,
            round,
            commitment,
            count,
            model_cid,
            proof,
            gas=SUBMIT_GAS,
        )

    def propose_block(
        self,
        leader: LocalAccount,
        task_id: int,
        round: int,
        parent_hash: bytes,
        global_commitment: int,
        global_count: int,
        global_cid: str,
        accepted: Sequence[str],
        global_proof: Sequence[int],
        aggregation_proof: Sequence[int],
        excluded: Sequence[Exclusion] = (),
    ) -> BlockProposal:
        """Append the block of a closed round (only the current turn's leader may).

        ``global_proof`` (eight EVM words) proves that the model committed to by
        ``global_commitment`` classifies ``global_count`` test samples correctly, with
        :meth:`global_tag` as the tag. ``accepted`` is a set of participants with valid
        submissions; it is sent (and hashed) in ascending address order.
        ``aggregation_proof`` (eight EVM words) proves that the global model is the
        weighted average of the accepted submissions' models, for the public inputs
        :meth:`aggregation_inputs` gives. ``excluded`` lists the submitters that handed
        this leader a key in its turn and are not accepted (sent in ascending address
        order), each with the handed key or, after an unanswered :meth:`contest`, none.
        """
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        if not isinstance(parent_hash, bytes) or len(parent_hash) != 32:
            raise InvalidArgument("parent_hash must be 32 bytes")
        field_element("global_commitment", global_commitment)
        uint("global_count", global_count, UINT32_MAX)
        if not isinstance(global_cid, str) or not global_cid:
            raise InvalidArgument("global_cid must be a non-empty string")
        proof = words("global_proof", global_proof, PROOF_WORDS, hashes.BASE_FIELD)
        aggregate = words("aggregation_proof", aggregation_proof, PROOF_WORDS, hashes.BASE_FIELD)
        ordered = hashes.sort_addresses([checksum(a, "accepted address") for a in accepted])
        if len(set(ordered)) != len(ordered):
            raise InvalidArgument("an accepted address is listed twice")
        exclusions = sorted((self._exclusion(e) for e in excluded), key=lambda e: int(e[0], 16))
        if len({a for a, _ in exclusions}) != len(exclusions):
            raise InvalidArgument("an excluded address is listed twice")
        task = self.task(task_id)
        words_to_open = -(-task.participant_count // 7)
        gas = (
            PROPOSE_GAS_BASE
            + PROPOSE_GAS_PER_ACCEPTED * len(ordered)
            + PROPOSE_GAS_PER_EXCLUDED * len(exclusions)
            + GAS_PER_ROUND_WORD * words_to_open
            + GAS_PER_STRING_BYTE * len(global_cid.encode())
            + RERANK_GAS_PER_PARTICIPANT * task.participant_count
            + AGGREGATE_GAS_BASE
            + AGGREGATE_GAS_PER_SLOT * task.capacity
        )
        result = self.transact(
            leader,
            "proposeBlock",
            task_id,
            round,
            parent_hash,
            global_commitment,
            global_count,
            global_cid,
            ordered,
            exclusions,
            proof,
            aggregate,
            gas=gas,
        )
        return BlockProposal(result.event("BlockProposed").args["blockHash"], result)

    @staticmethod
    def _exclusion(exclusion: Exclusion) -> tuple[str, bytes]:
        if not isinstance(exclusion, Exclusion):
            raise InvalidArgument("an exclusion must be a zkpot.protocol.Exclusion")
        key = exclusion.key
        if key is not None and (not isinstance(key, bytes) or len(key) != 32 or key == ZERO_HASH):
            raise InvalidArgument("an exclusion's key must be 32 non-zero bytes, or None")
        return checksum(exclusion.submitter, "excluded address"), key or ZERO_HASH

    def skip_round(self, account: LocalAccount | None, task_id: int, round: int) -> BlockProposal:
        """Append an empty block for a closed round with no leader left (nobody submitted,
        or every submitter's turn passed); the previous global model carries over."""
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        task = self.task(task_id)
        gas = (
            SKIP_GAS_BASE
            + GAS_PER_ROUND_WORD * -(-task.participant_count // 7)
            + RERANK_GAS_PER_PARTICIPANT * task.participant_count
            + GAS_PER_STRING_BYTE * 128
        )
        result = self.transact(account, "skipRound", task_id, round, gas=gas)
        return BlockProposal(result.event("BlockProposed").args["blockHash"], result)

    def hand_over(
        self,
        account: LocalAccount,
        task_id: int,
        round: int,
        leader: str,
        sealed_key: bytes,
        key_hash: bytes,
    ) -> TxResult:
        """Phase two: hand ``leader`` (who must hold the current turn, else NotLeader) this
        account's package key, sealed to the leader's X25519 key, with ``key_hash``
        (:func:`zkpot.protocol.hashes.key_hash` of the key): the leader can then exclude
        this submission only by showing the key, or after an unanswered contest."""
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        leader = checksum(leader, "leader")
        if not isinstance(sealed_key, bytes) or len(sealed_key) != SEALED_KEY_BYTES:
            raise InvalidArgument(f"sealed_key must be {SEALED_KEY_BYTES} bytes")
        if not isinstance(key_hash, bytes) or len(key_hash) != 32:
            raise InvalidArgument("key_hash must be 32 bytes")
        task = self.task(task_id)
        gas = HANDOVER_GAS + RERANK_GAS_PER_PARTICIPANT * task.participant_count
        return self.transact(
            account, "handOver", task_id, round, leader, sealed_key, key_hash, gas=gas
        )

    def contest(self, leader: LocalAccount, task_id: int, round: int, submitter: str) -> TxResult:
        """As the turn's leader, say that ``submitter``'s hand-over does not open; it may
        re-open its key until the ``respondBy`` of the ``Contested`` event."""
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        submitter = checksum(submitter, "submitter")
        task = self.task(task_id)
        gas = CONTEST_GAS + RERANK_GAS_PER_PARTICIPANT * task.participant_count
        return self.transact(leader, "contest", task_id, round, submitter, gas=gas)

    def reopen(self, account: LocalAccount, task_id: int, round: int, key: bytes) -> TxResult:
        """Publish this account's package key for its hand-over of the current turn (the
        key, and with it the model, becomes public)."""
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        if not isinstance(key, bytes) or len(key) != 32:
            raise InvalidArgument("key must be 32 bytes")
        task = self.task(task_id)
        gas = REOPEN_GAS + RERANK_GAS_PER_PARTICIPANT * task.participant_count
        return self.transact(account, "reopen", task_id, round, key, gas=gas)

    def hand_over_state(self, task_id: int, round: int, address: str) -> HandOverView | None:
        """A submitter's latest hand-over in a round, or None."""
        turn, contested_at, reopened, key_hash = self._view(
            self.contract.functions.handOverState(
                task_id, uint("round", round, UINT32_MAX), checksum(address, "address")
            )
        )
        if turn == 0:
            return None
        return HandOverView(turn - 1, bytes(key_hash), contested_at or None, reopened)

    def contests(self, task_id: int, round: int) -> dict[str, int]:
        """The contested hand-overs of a round: submitter -> the time it may re-open its
        key until (exclusive); a later turn's contest replaces an earlier one."""
        logs = self._logs("Contested", {"taskId": task_id, "round": round})
        return {log["args"]["submitter"]: int(log["args"]["respondBy"]) for log in logs}

    def reopened_keys(self, task_id: int, round: int) -> dict[str, bytes]:
        """The package keys re-opened in public in a round, by submitter."""
        logs = self._logs("Reopened", {"taskId": task_id, "round": round})
        return {log["args"]["submitter"]: bytes(log["args"]["key"]) for log in logs}

    def exclusions(self, task_id: int, round: int) -> tuple[Exclusion, ...]:
        """The exclusions of a round's block, with the keys they show."""
        logs = self._logs("Excluded", {"taskId": task_id, "round": round})
        return tuple(
            Exclusion(
                log["args"]["submitter"],
                None if bytes(log["args"]["key"]) == ZERO_HASH else bytes(log["args"]["key"]),
            )
            for log in logs
        )

    def handovers(self, task_id: int, round: int, leader: str | None = None) -> dict[str, bytes]:
        """The sealed keys handed over in a round, by submitter (only those handed to
        ``leader`` if given; a submitter hands over again to each new leader)."""
        logs = self._logs("HandedOver", {"taskId": task_id, "round": round})
        wanted = None if leader is None else checksum(leader, "leader")
        return {
            log["args"]["submitter"]: bytes(log["args"]["sealedKey"])
            for log in logs
            if wanted is None or log["args"]["leader"] == wanted
        }

    def block_call(self, task_id: int, round: int) -> BlockCall | None:
        """The ``proposeBlock`` call that appended a round's block, decoded from its
        transaction (None for a skipped round or no block yet). Raises LedgerError when
        the block came through another contract, whose calldata is not the call."""
        logs = self._logs("BlockProposed", {"taskId": task_id, "round": round})
        if not logs or logs[-1]["args"]["leader"] == ZERO_ADDRESS:
            return None
        tx = self.w3.eth.get_transaction(logs[-1]["transactionHash"])
        try:
            function, args = self.contract.decode_function_input(tx["input"])
        except ValueError as exc:
            raise LedgerError(f"the block of round {round} was not sent to the ledger") from exc
        if function.fn_name != "proposeBlock" or tx["to"] != self.address:
            raise LedgerError(f"the block of round {round} was not sent to the ledger")
        return BlockCall(
            leader=tx["from"],
            parent_hash=bytes(args["parentHash"]),
            global_commitment=int(args["globalCommitment"]),
            global_count=int(args["globalCount"]),
            global_cid=str(args["globalCid"]),
            accepted=tuple(args["accepted"]),
            excluded=tuple(_exclusion_args(e) for e in args["excluded"]),
            global_proof=tuple(int(w) for w in args["globalProof"]),
            aggregation_proof=tuple(int(w) for w in args["aggregationProof"]),
        )

    def model_cid(self, task_id: int, round: int, submitter: str) -> str:
        """The CID a participant submitted with its proof (kept in the Submitted event)."""
        address = checksum(submitter, "submitter")
        logs = self._logs("Submitted", {"taskId": task_id, "round": round, "submitter": address})
        if not logs:
            raise LedgerError(f"{address} has no submission in round {round} of task {task_id}")
        return str(logs[0]["args"]["modelCid"])

    def _logs(self, event: str, filters: dict[str, Any]) -> list[Any]:
        return list(self.contract.events[event]().get_logs(from_block=0, argument_filters=filters))

    # ------------------------------------------------------------------ views

    def task(self, task_id: int) -> TaskView:
        """A registered task."""
        (
            verifier,
            min_count,
            num_samples,
            rounds,
            publisher,
            window,
            current_round,
            participant_count,
            aggregator,
            capacity,
            test_set_hash,
            model_spec_hash,
            initial_commitment,
            genesis,
            padding_commitment,
            test_set_cid,
            initial_cid,
        ) = self._view(self.contract.functions.task(task_id))
        return TaskView(
            task_id=task_id,
            publisher=publisher,
            verifier=verifier,
            test_set_hash=bytes(test_set_hash),
            test_set_cid=test_set_cid,
            model_spec_hash=bytes(model_spec_hash),
            min_count=min_count,
            num_samples=num_samples,
            rounds=rounds,
            window=window,
            initial_commitment=initial_commitment,
            initial_cid=initial_cid,
            participant_count=participant_count,
            current_round=current_round,
            genesis_hash=bytes(genesis),
            aggregator=aggregator,
            capacity=capacity,
            padding_commitment=padding_commitment,
        )

    def participants(self, task_id: int) -> tuple[Member, ...]:
        """The task's participant registry, in registration order."""
        accounts, keys = self._view(self.contract.functions.participants(task_id))
        counts = self._view(self.contract.functions.sampleCounts(task_id))
        return tuple(Member(a, k, n) for a, k, n in zip(accounts, keys, counts, strict=True))

    def aggregation_inputs(
        self, task_id: int, round: int, global_commitment: int, accepted: Sequence[str]
    ) -> list[int]:
        """The public inputs the ledger gives a block's aggregation proof, as the contract
        computes them: ``[global commitment, C_1, λ_1, ..., C_cap, λ_cap]`` for ``accepted``
        (sent in ascending address order) and empty slots after them."""
        uint("task_id", task_id, 2**256 - 1, minimum=1)
        uint("round", round, UINT32_MAX)
        field_element("global_commitment", global_commitment)
        ordered = hashes.sort_addresses([checksum(a, "accepted address") for a in accepted])
        call = self.contract.functions.aggregationInputs(task_id, round, global_commitment, ordered)
        return [int(v) for v in self._view(call)]

    def round_state(self, task_id: int, round: int) -> RoundView:
        """Status, schedule, submissions and best count of a round."""
        status, opened, deadline, submitted, leader, best, block, turn, turn_ends = self._view(
            self.contract.functions.roundState(task_id, uint("round", round, UINT32_MAX))
        )
        return RoundView(
            task_id,
            round,
            RoundStatus(status),
            opened,
            deadline,
            submitted,
            None if leader == ZERO_ADDRESS else leader,
            best,
            None if block == ZERO_HASH else block,
            turn,
            turn_ends,
        )

    def leader_of(self, task_id: int, round: int) -> Leader:
        """Leader of a round: the current turn's once closed (RoundStillOpen, NoSubmissions
        or NoLeaderLeft otherwise), the block's once finalized (the zero address if the
        round was skipped)."""
        leader, count = self._view(
            self.contract.functions.leaderOf(task_id, uint("round", round, UINT32_MAX))
        )
        return Leader(leader, count)

    def submission(self, task_id: int, round: int, address: str) -> SubmissionView | None:
        """A participant's valid submission in a round, or None."""
        submitted, accepted, count, commitment = self._view(
            self.contract.functions.submission(
                task_id, uint("round", round, UINT32_MAX), checksum(address, "address")
            )
        )
        return SubmissionView(commitment, count, accepted) if submitted else None

    def round_block(self, task_id: int, round: int) -> RoundBlockView | None:
        """The block of a round, or None until it is appended."""
        block, commitment, cid, leader, leader_count, global_count = self._view(
            self.contract.functions.roundBlock(task_id, uint("round", round, UINT32_MAX))
        )
        if block == ZERO_HASH:
            return None
        return RoundBlockView(
            task_id,
            round,
            block,
            commitment,
            cid,
            None if leader == ZERO_ADDRESS else leader,
            leader_count,
            global_count,
        )

    def block_hash(self, task_id: int, round: int) -> bytes | None:
        """Hash of a round's block, or None until it is appended."""
        block = self._view(
            self.contract.functions.blockHash(task_id, uint("round", round, UINT32_MAX))
        )
        return None if block == ZERO_HASH else bytes(block)

    def genesis_hash(self, task_id: int) -> bytes:
        """Parent hash of round 0's block."""
        return bytes(self._view(self.contract.functions.genesisHash(task_id)))

    def head(self, task_id: int) -> Head:
        """Latest block hash of a task (genesis if none) and the round whose block is next."""
        block, next_round = self._view(self.contract.functions.head(task_id))
        return Head(bytes(block), next_round)

    def task_count(self) -> int:
        """Number of registered tasks (ids run from 1)."""
        return int(self._view(self.contract.functions.taskCount()))

    def binding_tag(self, task_id: int, round: int, submitter: str) -> int:
        """The tag a proof by ``submitter`` must carry in this task and round."""
        return hashes.binding_tag(
            self.chain_id, self.address, task_id, round, checksum(submitter, "submitter")
        )

    def global_tag(self, task_id: int, round: int, leader: str) -> int:
        """The tag a block's global-model proof by ``leader`` must carry."""
        return hashes.global_tag(
            self.chain_id, self.address, task_id, round, checksum(leader, "leader")
        )

    # ------------------------------------------------------------------ time

    def timestamp(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Mine a block ``seconds`` after the latest one (local chains); its timestamp."""
        uint("seconds", seconds, 2**40, minimum=1)
        target = self.timestamp() + seconds
        provider = self.w3.provider
        if isinstance(provider, EthereumTesterProvider):
            # eth-tester mines the block at one second before the time it travels to.
            provider.ethereum_tester.time_travel(target + 1)
        else:
            for method, params in (("evm_setNextBlockTimestamp", [target]), ("evm_mine", [])):
                response = provider.make_request(RPCEndpoint(method), params)
                if "error" in response:
                    raise LedgerError(f"{method} failed: {response['error']}")
        return self.timestamp()

    # ------------------------------------------------------------------ transactions

    def transact(
        self, account: LocalAccount | None, function: str, *args: Any, gas: int
    ) -> TxResult:
        """Call a ZKPoT function in a transaction, without checking the arguments.

        The protocol methods above check their arguments first and should be preferred;
        this is the raw path (``account=None`` sends from the development account).
        """
        data = self.contract.encode_abi(function, args=list(args))
        return self._send(account, self.address, bytes.fromhex(data[2:]), gas)

    def _send(
        self,
        account: LocalAccount | None,
        to: str | None,
        data: bytes,
        gas: int,
        *,
        value: int = 0,
    ) -> TxResult:
        sender = account.address if account is not None else self.dev_account
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(sender, "pending"),
            "gas": gas,
            "maxFeePerGas": 2 * base_fee + PRIORITY_FEE,
            "maxPriorityFeePerGas": PRIORITY_FEE,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        if account is not None:
            tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        else:
            tx_hash = self.w3.eth.send_transaction({**tx, "from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
        if receipt["status"] != 1:
            raise self._replay_failure(sender, to, data, gas, value, receipt["blockNumber"])
        result = TxResult(
            bytes(tx_hash),
            receipt["blockNumber"],
            receipt["gasUsed"],
            len(data),
            tuple(self._decode_events(receipt)),
        )
        self.last_tx = result
        return result

    def _replay_failure(
        self, sender: str, to: str | None, data: bytes, gas: int, value: int, block: int
    ) -> LedgerError:
        """Re-run a failed transaction as a call in its block to recover the revert data."""
        call: dict[str, Any] = {"from": sender, "data": data, "gas": gas, "value": value}
        if to is not None:
            call["to"] = to
        try:
            self.w3.eth.call(call, block_identifier=block)
        except REVERTS as error:
            data = _revert_data(error)
            if data is not None:
                return decode_revert(data)
            return TransactionReverted(f"transaction failed: {error}")
        return TransactionReverted("transaction failed (ran out of gas?)")

    def _view(self, call: Any) -> Any:
        try:
            return call.call()
        except REVERTS as error:
            data = _revert_data(error)
            if data is None:
                raise
            raise decode_revert(data) from None

    def _decode_events(self, receipt: Any) -> list[Event]:
        if self._contract is None:
            return []
        events = []
        for log in receipt["logs"]:
            if log["address"] != self._contract.address or not log["topics"]:
                continue
            name = self._events.get(bytes(log["topics"][0]))
            if name is None:
                continue
            decoded = self._contract.events[name]().process_log(log)
            events.append(Event(name, dict(decoded["args"])))
        return events


def _exclusion_args(decoded: Any) -> tuple[str, bytes]:
    """An ``Exclusion`` tuple as web3 decodes it from calldata (a dict by component name)."""
    if isinstance(decoded, dict):
        return str(decoded["submitter"]), bytes(decoded["key"])
    return str(decoded[0]), bytes(decoded[1])


def _revert_data(error: Exception) -> bytes | None:
    """The revert data carried by a node's error, if any."""
    data = getattr(error, "data", None) if isinstance(error, ContractLogicError) else None
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    # eth-tester reports revert data as the repr of a bytes object in its message.
    match = _ETH_TESTER_REVERT.search(str(error))
    if match is not None:
        value = ast.literal_eval(match.group(1))
        if isinstance(value, bytes):
            return value
    return None
