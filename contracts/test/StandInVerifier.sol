// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title A stand-in task verifier for tests of the ledger's rules: it proves nothing.
/// @notice Accepts a "proof" whose first word is the sum of the three public inputs
///         (commitment, count, tag) and rejects anything else, so that a test can make a
///         valid or an invalid proof for any statement without proving. Never register it
///         for a real task: a task's verifier is the Groth16Verifier of its circuit.
contract StandInVerifier {
    function verifyProof(uint256[8] calldata proof, uint256[3] calldata input)
        external
        pure
        returns (bool)
    {
        return proof[0] == input[0] + input[1] + input[2];
    }
}
