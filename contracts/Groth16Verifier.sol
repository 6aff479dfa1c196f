// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {BN254} from "./BN254.sol";

/// @title Groth16 verifier over BN254 for the ZKPoT statement
/// @notice Checks a Groth16 proof for exactly three public inputs, in this order:
///         [commitment, count, tag]. The verifying key is fixed at deployment and kept
///         in immutables, so reading it costs no storage access.
/// @dev The proof is accepted iff
///         e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) == 1
///      with vk_x = IC0 + input0*IC1 + input1*IC2 + input2*IC3, evaluated with the
///      precompiles 0x06 (ecAdd), 0x07 (ecMul) and one call to 0x08 (pairing).
///      G2 coordinates follow EIP-197: the imaginary part (c1) comes first.
contract Groth16Verifier {
    /// @dev Base field modulus q of BN254.
    uint256 internal constant Q = BN254.Q;
    /// @dev Scalar field order r of BN254 (the public inputs live in this field).
    uint256 internal constant R = BN254.R;

    /// @notice A verifying-key word is not a canonical base-field element, or a key point is
    ///         not on its curve (index into the 22 words; 22 means the G2 points as a whole).
    error InvalidVerifyingKey(uint256 index);

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
    uint256 private immutable IC0_X;
    uint256 private immutable IC0_Y;
    uint256 private immutable IC1_X;
    uint256 private immutable IC1_Y;
    uint256 private immutable IC2_X;
    uint256 private immutable IC2_Y;
    uint256 private immutable IC3_X;
    uint256 private immutable IC3_Y;

    /// @param vk [alpha.x, alpha.y, beta.x_c1, beta.x_c0, beta.y_c1, beta.y_c0,
    ///           gamma (4 words, same order), delta (4 words), IC0.x, IC0.y, ..., IC3.x, IC3.y]
    constructor(uint256[22] memory vk) {
        for (uint256 i = 0; i < 22; ++i) {
            if (vk[i] >= Q) revert InvalidVerifyingKey(i);
        }
        // Every G1 point must be on the curve: ecAdd(P, O) fails otherwise.
        uint8[5] memory g1 = [0, 14, 16, 18, 20];
        for (uint256 k = 0; k < 5; ++k) {
            uint256 w = g1[k];
            if (!BN254.isG1(vk[w], vk[w + 1])) revert InvalidVerifyingKey(w);
        }
        // The G2 points must be on the twist and in the subgroup: the pairing precompile
        // checks both, so pair each of them with the point at infinity.
        uint256[12] memory g2;
        for (uint256 i = 0; i < 12; ++i) {
            g2[i] = vk[2 + i];
        }
        if (!BN254.areG2(g2)) revert InvalidVerifyingKey(22);

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
        IC0_X = vk[14];
        IC0_Y = vk[15];
        IC1_X = vk[16];
        IC1_Y = vk[17];
        IC2_X = vk[18];
        IC2_Y = vk[19];
        IC3_X = vk[20];
        IC3_Y = vk[21];
    }

    /// @notice Verify a proof for the public inputs [commitment, count, tag].
    /// @param proof [A.x, A.y, B.x_c1, B.x_c0, B.y_c1, B.y_c0, C.x, C.y]
    /// @param input [commitment, count, tag], each below the scalar field order r
    /// @return True iff every word is canonical and the pairing equation holds. A failing
    ///         precompile call (e.g. a point off the curve) yields false, never a revert.
    function verifyProof(uint256[8] calldata proof, uint256[3] calldata input)
        external
        view
        returns (bool)
    {
        for (uint256 i = 0; i < 3; ++i) {
            if (input[i] >= R) return false;
        }
        for (uint256 i = 0; i < 8; ++i) {
            if (proof[i] >= Q) return false;
        }

        // vk_x = IC0 + input0*IC1 + input1*IC2 + input2*IC3
        uint256[2] memory vkX = [IC0_X, IC0_Y];
        if (!BN254.mulAdd(vkX, IC1_X, IC1_Y, input[0])) return false;
        if (!BN254.mulAdd(vkX, IC2_X, IC2_Y, input[1])) return false;
        if (!BN254.mulAdd(vkX, IC3_X, IC3_Y, input[2])) return false;

        uint256[24] memory p;
        // (-A, B)
        p[0] = proof[0];
        p[1] = (Q - proof[1]) % Q;
        p[2] = proof[2];
        p[3] = proof[3];
        p[4] = proof[4];
        p[5] = proof[5];
        // (alpha, beta)
        p[6] = ALPHA_X;
        p[7] = ALPHA_Y;
        p[8] = BETA_X1;
        p[9] = BETA_X0;
        p[10] = BETA_Y1;
        p[11] = BETA_Y0;
        // (vk_x, gamma)
        p[12] = vkX[0];
        p[13] = vkX[1];
        p[14] = GAMMA_X1;
        p[15] = GAMMA_X0;
        p[16] = GAMMA_Y1;
        p[17] = GAMMA_Y0;
        // (C, delta)
        p[18] = proof[6];
        p[19] = proof[7];
        p[20] = DELTA_X1;
        p[21] = DELTA_X0;
        p[22] = DELTA_Y1;
        p[23] = DELTA_Y0;

        return BN254.pairingIsOne(p);
    }
}
