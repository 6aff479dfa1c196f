// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title BN254 through the EVM's precompiles (EIP-196/197), for the Groth16 verifiers
/// @dev G2 coordinates follow EIP-197: the imaginary part (c1) comes first.
library BN254 {
    /// @dev Base field modulus q of BN254.
    uint256 internal constant Q =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @dev Scalar field order r of BN254 (the public inputs live in this field).
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @dev acc := acc + s * (px, py). False if a precompile call fails.
    function mulAdd(uint256[2] memory acc, uint256 px, uint256 py, uint256 s)
        internal
        view
        returns (bool ok)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, px)
            mstore(add(m, 0x20), py)
            mstore(add(m, 0x40), s)
            // ecMul writes s*P to m+0x40..m+0x80; ecAdd then reads acc followed by it.
            ok := staticcall(gas(), 0x07, m, 0x60, add(m, 0x40), 0x40)
            if ok {
                mstore(m, mload(acc))
                mstore(add(m, 0x20), mload(add(acc, 0x20)))
                ok := staticcall(gas(), 0x06, m, 0x80, acc, 0x40)
            }
        }
    }

    /// @dev True iff the pairing precompile accepts the four pairs and returns 1.
    function pairingIsOne(uint256[24] memory p) internal view returns (bool ok) {
        assembly ("memory-safe") {
            let out := mload(0x40)
            mstore(out, 0)
            ok := staticcall(gas(), 0x08, p, 0x300, out, 0x20)
            ok := and(ok, and(eq(returndatasize(), 0x20), eq(mload(out), 1)))
        }
    }

    /// @dev True iff (x, y) is a valid G1 point (or the point at infinity (0, 0)).
    function isG1(uint256 x, uint256 y) internal view returns (bool ok) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, x)
            mstore(add(m, 0x20), y)
            mstore(add(m, 0x40), 0)
            mstore(add(m, 0x60), 0)
            ok := staticcall(gas(), 0x06, m, 0x80, m, 0x40)
        }
    }

    /// @dev True iff the three G2 points in `g2` (beta, gamma, delta: 4 words each) are on
    ///      the twist and in the subgroup: each is paired with the G1 point at infinity, so
    ///      the product is 1 whenever the precompile accepts them.
    function areG2(uint256[12] memory g2) internal view returns (bool ok) {
        uint256[18] memory p;
        for (uint256 k = 0; k < 3; ++k) {
            for (uint256 j = 0; j < 4; ++j) {
                p[6 * k + 2 + j] = g2[4 * k + j];
            }
        }
        assembly ("memory-safe") {
            let out := mload(0x40)
            mstore(out, 0)
            ok := staticcall(gas(), 0x08, p, 0x240, out, 0x20)
            ok := and(ok, eq(mload(out), 1))
        }
    }

    /// @dev The pairing input e(-A, B) * e(alpha, beta) * e(vkX, gamma) * e(C, delta), from
    ///      the proof [A, B, C] and the key's [alpha, beta, gamma, delta] (14 words).
    function pairingInput(
        uint256[8] calldata proof,
        uint256[14] memory key,
        uint256[2] memory vkX
    ) internal pure returns (uint256[24] memory p) {
        p[0] = proof[0];
        p[1] = (Q - proof[1]) % Q;
        for (uint256 i = 2; i < 6; ++i) {
            p[i] = proof[i];
        }
        for (uint256 i = 0; i < 6; ++i) {
            p[6 + i] = key[i]; // alpha, beta
        }
        p[12] = vkX[0];
        p[13] = vkX[1];
        for (uint256 i = 0; i < 4; ++i) {
            p[14 + i] = key[6 + i]; // gamma
            p[20 + i] = key[10 + i]; // delta
        }
        p[18] = proof[6];
        p[19] = proof[7];
    }
}
