// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title A stand-in aggregation verifier for tests of the ledger's rules: it proves nothing.
/// @notice Has `slots` aggregation slots and accepts a "proof" whose first word is the sum of
///         the public inputs modulo the BN254 scalar field order r (global commitment, then commitment and weight per slot), so that
///         a test can make a valid or an invalid aggregation proof for any statement without
///         proving. Never register it for a real task: a task's aggregator is the
///         AggregationVerifier of its aggregation circuit.
contract StandInAggregationVerifier {
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    uint256 public immutable capacity;

    constructor(uint256 slots) {
        capacity = slots;
    }

    function verifyProof(uint256[8] calldata proof, uint256[] calldata input)
        external
        view
        returns (bool)
    {
        if (input.length != 1 + 2 * capacity) return false;
        uint256 sum = 0;
        for (uint256 i = 0; i < input.length; ++i) {
            sum = addmod(sum, input[i], R);
        }
        return proof[0] == sum;
    }
}
