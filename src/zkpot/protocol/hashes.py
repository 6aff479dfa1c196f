"""The protocol's hashes, each exactly as ``contracts/ZKPoT.sol`` computes it.

Each function mirrors one expression of the contract (ABI encoding and Keccak-256 from
eth_abi / eth_utils), so that clients can derive the binding tag before proving and check
the chain of round blocks without trusting the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from zkpot.protocol.types import FIELD_ORDER, Address, FieldElement, Hash32

#: Modulus q of the BN254 base field (curve point coordinates: proof and key words).
BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583

#: ABI type of ZKPoT.TaskParams.
TASK_PARAMS_TYPE = (
    "(address,bytes32,string,bytes32,uint32,uint32,uint32,uint32,"
    "uint256,string,address[],bytes32[],uint32[],address,uint256)"
)


def binding_tag(
    chain_id: int, contract_address: str, task_id: int, round: int, submitter: str
) -> FieldElement:
    """The binding tag, exactly as ``ZKPoT.bindingTag`` computes it::

        uint256(keccak256(abi.encode(block.chainid, address(this), taskId, round, msg.sender))) % r

    It is the third public input of a ZKPoT proof: it binds the proof to one chain, ledger
    contract, task, round and submitter, so a proof cannot be replayed elsewhere.
    """
    data = encode(
        ["uint256", "address", "uint256", "uint32", "address"],
        [chain_id, contract_address, task_id, round, submitter],
    )
    return FieldElement(int.from_bytes(keccak(data), "big") % FIELD_ORDER)


#: ZKPoT.GLOBAL_DOMAIN: separates global-model tags from submission tags.
GLOBAL_DOMAIN = keccak(b"zkpot.global-model")


def global_tag(
    chain_id: int, contract_address: str, task_id: int, round: int, leader: str
) -> FieldElement:
    """The tag of a global-model proof, exactly as ``ZKPoT.globalTag`` computes it::

        uint256(keccak256(abi.encode(
            block.chainid, address(this), taskId, round, leader, GLOBAL_DOMAIN))) % r

    The extra domain word makes it differ from every submission's binding tag, so a
    participant's proof can never stand in for a block's global-model proof.
    """
    data = encode(
        ["uint256", "address", "uint256", "uint32", "address", "bytes32"],
        [chain_id, contract_address, task_id, round, leader, GLOBAL_DOMAIN],
    )
    return FieldElement(int.from_bytes(keccak(data), "big") % FIELD_ORDER)


def tie_break_rank(round: int, submitter: str) -> int:
    """``uint256(keccak256(abi.encode(round, submitter)))``: the lowest wins a tie on count."""
    return int.from_bytes(keccak(encode(["uint32", "address"], [round, submitter])), "big")


def block_hash(
    task_id: int,
    round: int,
    parent_hash: bytes,
    leader: str,
    leader_count: int,
    global_commitment: int,
    global_count: int,
    global_cid: str,
    accepted: Sequence[str],
) -> Hash32:
    """Hash of a round block, exactly as ``proposeBlock`` and ``skipRound`` compute it
    (a skipped round has the zero leader, count 0 and no accepted submissions)."""
    accepted_hash = keccak(encode(["address[]"], [list(accepted)]))
    return Hash32(
        keccak(
            encode(
                [
                    "uint256",
                    "uint32",
                    "bytes32",
                    "address",
                    "uint32",
                    "uint256",
                    "uint32",
                    "bytes32",
                    "bytes32",
                ],
                [
                    task_id,
                    round,
                    parent_hash,
                    leader,
                    leader_count,
                    global_commitment,
                    global_count,
                    keccak(global_cid.encode()),
                    accepted_hash,
                ],
            )
        )
    )


def genesis_hash(
    chain_id: int, contract_address: str, task_id: int, publisher: str, params: tuple[Any, ...]
) -> Hash32:
    """Parent hash of round 0's block, exactly as ``registerTask`` computes it::

        keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender,
                             keccak256(abi.encode(p))))

    ``params`` is the ``TaskParams`` tuple in ABI order.
    """
    params_hash = keccak(encode([TASK_PARAMS_TYPE], [params]))
    return Hash32(
        keccak(
            encode(
                ["uint256", "address", "uint256", "address", "bytes32"],
                [chain_id, contract_address, task_id, publisher, params_hash],
            )
        )
    )


def sort_addresses(addresses: Sequence[str]) -> list[Address]:
    """Checksummed addresses in the ascending numeric order that ``proposeBlock`` requires."""
    return sorted((Address(to_checksum_address(a)) for a in addresses), key=lambda a: int(a, 16))


def key_hash(key: bytes) -> Hash32:
    """A hand-over's commitment to its package key, as ``ZKPoT.handOver`` checks it::

    keccak256(abi.encode(bytes32 key))
    """
    if len(key) != 32:
        raise ValueError(f"a package key is 32 bytes, not {len(key)}")
    return Hash32(keccak(encode(["bytes32"], [key])))
