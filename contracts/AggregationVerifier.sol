// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {BN254} from "./BN254.sol";
import {IAggregationVerifier} from "./IZKPoT.sol";

/// @title Groth16 verifier over BN254 for a task's aggregation statement
/// @notice Checks a Groth16 proof for the aggregation circuit's public inputs, in this
///         order: [global commitment, then (commitment, weight) for each slot]. Their number
///         is fixed by the verifying key (1 + 2 * capacity). The key's alpha, beta, gamma
///         and delta are immutables; the input points (IC) live in storage.
contract AggregationVerifier is IAggregationVerifier {
    /// @notice A verifying-key word is not a canonical base-field element, or a key point
    ///         is not on its curve (index into the words; the length means the G2 points),
    ///         or the key has a length no aggregation key has.
    error InvalidVerifyingKey(uint256 index);

    /// @notice Number of public inputs a proof has.
    uint256 public immutable inputCount;

    uint256 private immutable ALPHA_X;
    uint256 private immutable ALPHA_Y;
    uint256 private immutable BETA_X1;
    uint256 private immutable BETA_X0;
    uint256 private immutable BETA_Y1;
    uint256 private immutable BETA_Y0;
    uint256 private immutable GAMMA_X1;
    uint256 private immutable GAMMA_X0;
    uint256 private immutable GAMMA_Y1;
    uint256 private immutable GAMMA_Y0;
    uint256 private immutable DELTA_X1;
    uint256 private immutable DELTA_X0;
    uint256 private immutable DELTA_Y1;
    uint256 private immutable DELTA_Y0;
    /// @dev IC0.x, IC0.y, IC1.x, ...: one point per public input, and IC0.
    uint256[] private _ic;

    /// @param vk [alpha (2 words), beta, gamma, delta (4 words each, c1 first), IC0.x, IC0.y,
    ///           IC1.x, ...]: 14 + 2 * (inputs + 1) words, with an odd number of inputs.
    constructor(uint256[] memory vk) {
        uint256 n = vk.length;
        if (n < 18 || n % 2 != 0 || ((n - 16) / 2) % 2 == 0) revert InvalidVerifyingKey(n);
        for (uint256 i = 0; i < n; ++i) {
            if (vk[i] >= BN254.Q) revert InvalidVerifyingKey(i);
        }
        if (!BN254.isG1(vk[0], vk[1])) revert InvalidVerifyingKey(0);
        for (uint256 w = 14; w < n; w += 2) {
            if (!BN254.isG1(vk[w], vk[w + 1])) revert InvalidVerifyingKey(w);
        }
        uint256[12] memory g2;
        for (uint256 i = 0; i < 12; ++i) {
            g2[i] = vk[2 + i];
        }
        if (!BN254.areG2(g2)) revert InvalidVerifyingKey(n);

        inputCount = (n - 16) / 2;
        ALPHA_X = vk[0];
        ALPHA_Y = vk[1];
        BETA_X1 = vk[2];
        BETA_X0 = vk[3];
        BETA_Y1 = vk[4];
        BETA_Y0 = vk[5];
        GAMMA_X1 = vk[6];
        GAMMA_X0 = vk[7];
        GAMMA_Y1 = vk[8];
        GAMMA_Y0 = vk[9];
        DELTA_X1 = vk[10];
        DELTA_X0 = vk[11];
        DELTA_Y1 = vk[12];
        DELTA_Y0 = vk[13];
        for (uint256 w = 14; w < n; ++w) {
            _ic.push(vk[w]);
        }
    }

    /// @notice Number of aggregation slots: (inputCount - 1) / 2.
    function capacity() external view returns (uint256) {
        return (inputCount - 1) / 2;
    }

    /// @notice Verify a proof for the public inputs `input` (inputCount of them).
    /// @return True iff every word is canonical, the input count matches and the pairing
    ///         equation holds. A failing precompile call yields false, never a revert.
    function verifyProof(uint256[8] calldata proof, uint256[] calldata input)
        external
        view
        returns (bool)
    {
        if (input.length != inputCount) return false;
        for (uint256 i = 0; i < input.length; ++i) {
            if (input[i] >= BN254.R) return false;
        }
        for (uint256 i = 0; i < 8; ++i) {
            if (proof[i] >= BN254.Q) return false;
        }
        uint256[2] memory vkX = [_ic[0], _ic[1]];
        for (uint256 i = 0; i < input.length; ++i) {
            if (!BN254.mulAdd(vkX, _ic[2 * i + 2], _ic[2 * i + 3], input[i])) return false;
        }
        uint256[14] memory key = [
            ALPHA_X,
            ALPHA_Y,
            BETA_X1,
            BETA_X0,
            BETA_Y1,
            BETA_Y0,
            GAMMA_X1,
            GAMMA_X0,
            GAMMA_Y1,
            GAMMA_Y0,
            DELTA_X1,
            DELTA_X0,
            DELTA_Y1,
            DELTA_Y0
        ];
        return BN254.pairingIsOne(BN254.pairingInput(proof, key, vkX));
    }
}
