// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The packed submission entries of one round
/// @notice One 32-bit entry per participant, seven per storage word, indexed by registration
///         order. Entry 0 means "no submission"; otherwise its low 31 bits are count + 1 and
///         bit 31 is set once the round block accepts the submission. Opening a round writes
///         MARKER into each of its words, so that a submission updates a non-zero slot (5k
///         gas) instead of creating one (22.1k gas): the opener pre-pays that storage.
library SubmissionEntries {
    uint256 private constant PER_WORD = 7;
    uint256 private constant BITS = 32;
    uint256 private constant MASK = 0xffffffff;
    uint256 private constant COUNT_MASK = 0x7fffffff;
    uint256 private constant ACCEPTED_BIT = 1 << 31;
    uint256 private constant MARKER = 1 << 255;

    /// @dev Pre-writes the words of a round with `participants` entries, all empty.
    function open(mapping(uint256 => uint256) storage words, uint256 participants) internal {
        uint256 used = (participants + PER_WORD - 1) / PER_WORD;
        for (uint256 w = 0; w < used; ++w) {
            words[w] = MARKER;
        }
    }

    /// @dev The entry of participant `index` (0: no submission).
    function get(mapping(uint256 => uint256) storage words, uint256 index)
        internal
        view
        returns (uint256)
    {
        return (words[index / PER_WORD] >> ((index % PER_WORD) * BITS)) & MASK;
    }

    /// @dev Records the count `proven` for participant `index`, whose entry must be empty.
    function record(mapping(uint256 => uint256) storage words, uint256 index, uint32 proven)
        internal
    {
        words[index / PER_WORD] |= (uint256(proven) + 1) << ((index % PER_WORD) * BITS);
    }

    /// @dev Marks participant `index`'s submission accepted; false if it has none.
    function accept(mapping(uint256 => uint256) storage words, uint256 index)
        internal
        returns (bool)
    {
        uint256 w = index / PER_WORD;
        uint256 shift = (index % PER_WORD) * BITS;
        uint256 word = words[w];
        if ((word >> shift) & MASK == 0) return false;
        words[w] = word | (ACCEPTED_BIT << shift);
        return true;
    }

    /// @dev The proven count of a non-empty entry.
    function count(uint256 entry) internal pure returns (uint32) {
        return uint32((entry & COUNT_MASK) - 1);
    }

    /// @dev Whether the round block accepted the entry's submission.
    function accepted(uint256 entry) internal pure returns (bool) {
        return entry & ACCEPTED_BIT != 0;
    }
}
