// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The part of a task verifier that the ledger calls (see Groth16Verifier.sol).
interface IZKPoTVerifier {
    function verifyProof(uint256[8] calldata proof, uint256[3] calldata input)
        external
        view
        returns (bool);
}

/// @title ZKPoT ledger: Zero-Knowledge Proof of Training consensus for federated learning
/// @notice A publisher registers a task (verifier, public test set, threshold, participants,
///         schedule). Each round, registered participants submit a model commitment with a
///         Groth16 proof that the committed model classifies `count` test samples correctly;
///         the proof is verified here, bound to (chain, ledger, task, round, sender) by a tag
///         recomputed on chain. When the round's window closes, the valid submission with the
///         highest count leads the round and alone may append the round block, which links to
///         the previous one by hash and opens the next round. The block carries a proof, for
///         the same circuit, that the published global model itself reaches the threshold.
///         A leader that has not appended a valid block one window after the deadline loses
///         its turn to the next-best submission, and so on down the ranking; once every
///         submitter has had its turn (or nobody submitted) anyone may skip the round, which
///         carries the previous global model over.
/// @dev Round r's window opens when the block of round r-1 is appended (round 0: at
///      registration) and is open for timestamps in [openedAt, openedAt + window); it closes
///      early once every registered participant has submitted. Leader ties are broken by the
///      lowest uint256(keccak256(abi.encode(round, submitter))), never by arrival order.
///      Leader turns: turn 0 lasts until deadline + window, turn k >= 1 covers timestamps in
///      [deadline + k * window, deadline + (k + 1) * window); the leader of turn k is the
///      (k+1)-th best valid submission in the order above.
contract ZKPoT {
    /// @dev Scalar field order r of BN254: commitments and tags are elements of this field.
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Largest number of test samples a task may have (counts are stored + 1 in 31 bits).
    uint32 public constant MAX_SAMPLES = (1 << 31) - 2;

    // Per-round submission records: one 32-bit entry per participant, seven per storage word,
    // indexed by registration order. Entry 0 means "no submission"; otherwise its low 31 bits
    // are count + 1 and bit 31 is set once the round block accepts the submission. Opening a
    // round writes MARKER into each of its words, so that a submission updates a non-zero
    // slot (5k gas) instead of creating one (22.1k gas): the opener pre-pays that storage.
    uint256 private constant ENTRIES_PER_WORD = 7;
    uint256 private constant ENTRY_BITS = 32;
    uint256 private constant ENTRY_MASK = 0xffffffff;
    uint256 private constant COUNT_MASK = 0x7fffffff;
    uint256 private constant ACCEPTED_BIT = 1 << 31;
    uint256 private constant MARKER = 1 << 255;
    /// @dev A 32-byte key in a libsodium sealed box (32-byte ephemeral key, 16-byte tag).
    uint256 private constant SEALED_KEY_BYTES = 80;
    /// @dev Domain of the binding tag of a global-model proof (see globalTag).
    bytes32 private constant GLOBAL_DOMAIN = keccak256("zkpot.global-model");

    /// @notice Lifecycle of a round, as reported by roundState.
    enum RoundStatus {
        NotOpened, // an earlier round has no block yet, or the round is past the task's end
        Open, // accepting submissions
        Closed, // window over, waiting for the current leader's block
        Finalized // block appended
    }

    /// @notice Everything a publisher fixes when registering a task.
    struct TaskParams {
        address verifier; // Groth16 verifier contract of the task's circuit
        bytes32 testSetHash; // hash of the public test set
        string testSetCid; // content identifier of the public test set
        bytes32 modelSpecHash; // hash of the model specification
        uint32 minCount; // accuracy threshold: minimum number of correct test samples
        uint32 numSamples; // number of test samples
        uint32 rounds; // number of rounds
        uint32 window; // submission window per round, in seconds
        uint256 initialCommitment; // commitment to the initial global model (field element)
        string initialCid; // content identifier of the initial global model
        address[] participants; // participant registry
        bytes32[] participantKeys; // their X25519 public keys, in the same order
    }

    /// @notice A registered task (returned by `task`).
    struct Task {
        // slot 0: what submit() needs to check a proof
        address verifier;
        uint32 minCount;
        uint32 numSamples;
        uint32 rounds;
        // slot 1: what submit() needs about the schedule
        address publisher;
        uint32 window;
        uint32 currentRound; // the round whose block comes next; == rounds once finished
        uint16 participantCount;
        bytes32 testSetHash;
        bytes32 modelSpecHash;
        uint256 initialCommitment;
        bytes32 genesisHash;
        string testSetCid;
        string initialCid;
    }

    /// @dev One storage slot per round, updated incrementally by submit().
    struct Round {
        uint40 openedAt;
        uint16 submitted;
        uint32 bestCount;
        address leader; // best valid submission so far
    }

    /// @dev The appended block of a round (leader zero: the round was skipped).
    struct RoundBlock {
        bytes32 blockHash;
        uint256 globalCommitment;
        string globalCid;
        address leader;
        uint32 leaderCount;
        uint32 globalCount; // proven count of the global model (0: the initial model)
    }

    /// @notice A round as seen by clients (returned by `roundState`).
    struct RoundView {
        RoundStatus status;
        uint256 openedAt;
        uint256 deadline; // openedAt + window; the round may close earlier
        uint16 submitted;
        address leader; // open: best so far; closed: the current turn's (zero: none left)
        uint32 bestCount; // the leader's count
        bytes32 blockHash; // zero until the block is appended
        uint256 turn; // closed: the current leader turn (see the contract's notes)
        uint256 turnEnds; // closed: when the current turn ends
    }

    /// @notice A submission as seen by clients (returned by `submission`).
    struct SubmissionView {
        bool submitted;
        bool accepted; // listed as accepted in the round block
        uint32 count;
        uint256 commitment;
    }

    /// @notice Number of registered tasks; task ids are 1..taskCount.
    uint256 public taskCount;

    mapping(uint256 => Task) private _tasks;
    mapping(uint256 => address[]) private _participants;
    mapping(uint256 => bytes32[]) private _keys;
    /// @dev Registration order + 1 of each participant (0: not registered).
    mapping(uint256 => mapping(address => uint256)) private _member;
    mapping(uint256 => mapping(uint32 => Round)) private _rounds;
    /// @dev Submission entries (see ENTRIES_PER_WORD), by task, round and word index.
    mapping(uint256 => mapping(uint32 => mapping(uint256 => uint256))) private _entries;
    /// @dev Model commitment of each submission; the model CID is only in the event.
    mapping(uint256 => mapping(uint32 => mapping(address => uint256))) private _commitments;
    mapping(uint256 => mapping(uint32 => RoundBlock)) private _blocks;

    event TaskRegistered(
        uint256 indexed taskId,
        address indexed publisher,
        address indexed verifier,
        bytes32 genesisHash
    );
    event RoundOpened(uint256 indexed taskId, uint32 indexed round, uint256 deadline);
    event Submitted(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed submitter,
        uint256 commitment,
        uint32 count,
        string modelCid
    );
    /// @notice Emitted by the submission that closes a round early (every participant in).
    ///         A round that closes at its deadline emits nothing until its block.
    event RoundClosed(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed leader,
        uint32 count
    );
    /// @notice A round block; leader zero marks a skipped round (previous model carried over).
    event BlockProposed(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed leader,
        bytes32 blockHash,
        bytes32 parentHash,
        uint32 leaderCount,
        uint256 globalCommitment,
        uint32 globalCount,
        string globalCid,
        address[] accepted
    );
    event TaskFinished(uint256 indexed taskId, bytes32 headHash);
    /// @notice Phase two of a round: a submitter hands the leader the key of its model
    ///         package, sealed to the leader's X25519 key (an 80-byte sealed box).
    event HandedOver(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed submitter,
        address leader,
        bytes sealedKey
    );

    error InvalidTaskParams(string reason);
    error UnknownTask(uint256 taskId);
    error RoundNotOpen(uint256 taskId, uint32 round, uint32 currentRound);
    error NotRegistered(address account);
    error DuplicateSubmission(address account);
    error LateSubmission(uint256 deadline, uint256 timestamp);
    error BelowThreshold(uint32 count, uint32 minCount);
    error CountAboveSamples(uint32 count, uint32 numSamples);
    error InvalidProof();
    error RoundStillOpen(uint256 deadline, uint256 timestamp);
    error NoSubmissions(uint256 taskId, uint32 round);
    error NotLeader(address sender, address leader);
    error BlockAlreadyProposed(uint256 taskId, uint32 round);
    error BadParent(bytes32 given, bytes32 expected);
    error InvalidCommitment(uint256 value);
    error AcceptedNotSorted(uint256 index);
    error NoValidSubmission(address account);
    error BadSealedKey(uint256 length);
    error GlobalBelowThreshold(uint32 count, uint32 minCount);
    error InvalidGlobalProof();
    error NoLeaderLeft(uint256 taskId, uint32 round);
    error RoundHasLeader(uint256 taskId, uint32 round, address leader);

    // ------------------------------------------------------------------ registration

    /// @notice Register a task; the caller is its publisher. Round 0 opens now.
    function registerTask(TaskParams calldata p) external returns (uint256 taskId) {
        _checkParams(p);
        taskId = ++taskCount;
        bytes32 genesis = keccak256(
            abi.encode(block.chainid, address(this), taskId, msg.sender, keccak256(abi.encode(p)))
        );

        Task storage t = _tasks[taskId];
        t.verifier = p.verifier;
        t.minCount = p.minCount;
        t.numSamples = p.numSamples;
        t.rounds = p.rounds;
        t.publisher = msg.sender;
        t.window = p.window;
        t.participantCount = uint16(p.participants.length);
        t.testSetHash = p.testSetHash;
        t.modelSpecHash = p.modelSpecHash;
        t.initialCommitment = p.initialCommitment;
        t.genesisHash = genesis;
        t.testSetCid = p.testSetCid;
        t.initialCid = p.initialCid;

        mapping(address => uint256) storage member = _member[taskId];
        for (uint256 i = 0; i < p.participants.length; ++i) {
            address a = p.participants[i];
            if (a == address(0)) revert InvalidTaskParams("zero participant address");
            if (p.participantKeys[i] == bytes32(0)) revert InvalidTaskParams("zero participant key");
            if (member[a] != 0) revert InvalidTaskParams("duplicate participant");
            member[a] = i + 1;
        }
        _participants[taskId] = p.participants;
        _keys[taskId] = p.participantKeys;

        emit TaskRegistered(taskId, msg.sender, p.verifier, genesis);
        _openRound(taskId, 0, p.window, p.participants.length);
    }

    function _checkParams(TaskParams calldata p) private view {
        if (p.verifier.code.length == 0) revert InvalidTaskParams("verifier has no code");
        if (p.numSamples == 0) revert InvalidTaskParams("no test samples");
        if (p.numSamples > MAX_SAMPLES) revert InvalidTaskParams("too many samples");
        if (p.minCount > p.numSamples) revert InvalidTaskParams("threshold above samples");
        if (p.rounds == 0) revert InvalidTaskParams("no rounds");
        if (p.window == 0) revert InvalidTaskParams("empty window");
        if (p.initialCommitment >= R) revert InvalidTaskParams("commitment not in field");
        uint256 n = p.participants.length;
        if (n == 0 || n > type(uint16).max) revert InvalidTaskParams("participant count");
        if (p.participantKeys.length != n) revert InvalidTaskParams("keys do not match");
    }

    // ------------------------------------------------------------------ submission

    /// @notice The ZKPoT transaction: commit to a model and prove, on chain, that it
    ///         classifies `count` of the task's test samples correctly.
    function submit(
        uint256 taskId,
        uint32 round,
        uint256 commitment,
        uint32 count,
        string calldata modelCid,
        uint256[8] calldata proof
    ) external {
        Task storage t = _tasks[taskId];
        address verifier = t.verifier;
        if (verifier == address(0)) revert UnknownTask(taskId);
        uint32 current = t.currentRound;
        if (round != current || current >= t.rounds) revert RoundNotOpen(taskId, round, current);
        uint256 index = _member[taskId][msg.sender];
        if (index == 0) revert NotRegistered(msg.sender);
        index -= 1;
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        uint256 word = entries[index / ENTRIES_PER_WORD];
        uint256 shift = (index % ENTRIES_PER_WORD) * ENTRY_BITS;
        if ((word >> shift) & ENTRY_MASK != 0) revert DuplicateSubmission(msg.sender);
        Round storage r = _rounds[taskId][round];
        uint256 deadline = uint256(r.openedAt) + t.window;
        // Every participant in also closes the window, but then this sender is a duplicate.
        if (block.timestamp >= deadline) revert LateSubmission(deadline, block.timestamp);
        if (count < t.minCount) revert BelowThreshold(count, t.minCount);
        if (count > t.numSamples) revert CountAboveSamples(count, t.numSamples);
        if (commitment >= R) revert InvalidProof();
        uint256 tag = bindingTag(taskId, round, msg.sender);
        if (!_verify(verifier, proof, commitment, count, tag)) revert InvalidProof();

        entries[index / ENTRIES_PER_WORD] = word | ((uint256(count) + 1) << shift);
        _commitments[taskId][round][msg.sender] = commitment;

        address leader = r.leader;
        uint32 best = r.bestCount;
        if (
            leader == address(0) || count > best
                || (count == best && _rank(round, msg.sender) < _rank(round, leader))
        ) {
            leader = msg.sender;
            best = count;
            r.leader = leader;
            r.bestCount = best;
        }
        uint16 submitted = r.submitted + 1;
        r.submitted = submitted;

        emit Submitted(taskId, round, msg.sender, commitment, count, modelCid);
        if (submitted == t.participantCount) emit RoundClosed(taskId, round, leader, best);
    }

    /// @notice Hand the current leader the key of this sender's model package, once the
    ///         window has closed and before the round's block (again for each new leader
    ///         turn). Emits an event only: the key is readable by that leader alone.
    /// @param leader the leader the key is sealed to: it must still hold the turn.
    function handOver(uint256 taskId, uint32 round, address leader, bytes calldata sealedKey)
        external
    {
        Task storage t = _known(taskId);
        uint32 current = t.currentRound;
        if (round != current || current >= t.rounds) revert RoundNotOpen(taskId, round, current);
        Round storage r = _rounds[taskId][round];
        uint256 deadline = uint256(r.openedAt) + t.window;
        if (block.timestamp < deadline && r.submitted < t.participantCount) {
            revert RoundStillOpen(deadline, block.timestamp);
        }
        uint256 index = _member[taskId][msg.sender];
        if (index == 0) revert NotRegistered(msg.sender);
        index -= 1;
        uint256 word = _entries[taskId][round][index / ENTRIES_PER_WORD];
        if ((word >> ((index % ENTRIES_PER_WORD) * ENTRY_BITS)) & ENTRY_MASK == 0) {
            revert NoValidSubmission(msg.sender);
        }
        if (sealedKey.length != SEALED_KEY_BYTES) revert BadSealedKey(sealedKey.length);
        (address holder,) = _leaderAt(taskId, round, r, _turn(t, r));
        if (holder == address(0)) revert NoLeaderLeft(taskId, round);
        if (leader != holder) revert NotLeader(leader, holder);
        emit HandedOver(taskId, round, msg.sender, leader, sealedKey);
    }

    /// @notice The public input that binds a proof to (chain, ledger, task, round, submitter).
    function bindingTag(uint256 taskId, uint32 round, address submitter)
        public
        view
        returns (uint256)
    {
        return uint256(
            keccak256(abi.encode(block.chainid, address(this), taskId, round, submitter))
        ) % R;
    }

    /// @notice The public input that binds a global-model proof to (chain, ledger, task,
    ///         round, leader); it differs from every submission's binding tag.
    function globalTag(uint256 taskId, uint32 round, address leader)
        public
        view
        returns (uint256)
    {
        return uint256(
            keccak256(
                abi.encode(block.chainid, address(this), taskId, round, leader, GLOBAL_DOMAIN)
            )
        ) % R;
    }

    /// @dev Calls the task verifier; anything but a well-formed `true` counts as invalid.
    function _verify(
        address verifier,
        uint256[8] calldata proof,
        uint256 commitment,
        uint32 count,
        uint256 tag
    ) private view returns (bool) {
        uint256[3] memory input = [commitment, uint256(count), tag];
        (bool ok, bytes memory ret) =
            verifier.staticcall(abi.encodeCall(IZKPoTVerifier.verifyProof, (proof, input)));
        return ok && ret.length == 32 && uint256(bytes32(ret)) == 1;
    }

    /// @dev Tie-break rank: the lowest rank wins among equal counts.
    function _rank(uint32 round, address submitter) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(round, submitter)));
    }

    // ------------------------------------------------------------------ round blocks

    /// @notice Append the block of `round`; only the current turn's leader, once the window
    ///         has closed. `globalProof` proves, for the task's circuit and the public inputs
    ///         [globalCommitment, globalCount, globalTag(taskId, round, leader)], that the
    ///         published global model classifies `globalCount` >= minCount test samples.
    /// @param accepted participants whose updates the global model aggregates, in strictly
    ///        ascending address order; each must have a valid submission in this round.
    function proposeBlock(
        uint256 taskId,
        uint32 round,
        bytes32 parentHash,
        uint256 globalCommitment,
        uint32 globalCount,
        string calldata globalCid,
        address[] calldata accepted,
        uint256[8] calldata globalProof
    ) external returns (bytes32 newHash) {
        Task storage t = _closedRound(taskId, round);
        Round storage r = _rounds[taskId][round];
        (address leader, uint32 leaderCount) = _leaderAt(taskId, round, r, _turn(t, r));
        if (leader == address(0)) revert NoLeaderLeft(taskId, round);
        if (msg.sender != leader) revert NotLeader(msg.sender, leader);
        bytes32 expected = _head(taskId, round);
        if (parentHash != expected) revert BadParent(parentHash, expected);
        if (globalCommitment >= R) revert InvalidCommitment(globalCommitment);
        if (globalCount < t.minCount) revert GlobalBelowThreshold(globalCount, t.minCount);
        if (globalCount > t.numSamples) revert CountAboveSamples(globalCount, t.numSamples);
        uint256 tag = globalTag(taskId, round, leader);
        if (!_verify(t.verifier, globalProof, globalCommitment, globalCount, tag)) {
            revert InvalidGlobalProof();
        }
        _accept(taskId, round, accepted);
        newHash = _append(
            taskId,
            round,
            parentHash,
            leader,
            leaderCount,
            globalCommitment,
            globalCount,
            globalCid,
            accepted
        );
    }

    /// @notice Append an empty block for a closed round that has no leader left: nobody
    ///         submitted, or every submitter's turn passed without a valid block. The
    ///         previous global model (and its proven count) carries over. Anyone may call.
    function skipRound(uint256 taskId, uint32 round) external returns (bytes32 newHash) {
        Task storage t = _closedRound(taskId, round);
        Round storage r = _rounds[taskId][round];
        (address leader,) = _leaderAt(taskId, round, r, _turn(t, r));
        if (leader != address(0)) revert RoundHasLeader(taskId, round, leader);
        uint256 commitment = t.initialCommitment;
        uint32 count = 0;
        string memory cid = t.initialCid;
        if (round > 0) {
            RoundBlock storage previous = _blocks[taskId][round - 1];
            commitment = previous.globalCommitment;
            count = previous.globalCount;
            cid = previous.globalCid;
        }
        newHash = _append(
            taskId,
            round,
            _head(taskId, round),
            address(0),
            0,
            commitment,
            count,
            cid,
            new address[](0)
        );
    }

    /// @dev The task, if `round` is its current round and the round's window has closed.
    function _closedRound(uint256 taskId, uint32 round) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.verifier == address(0)) revert UnknownTask(taskId);
        uint32 current = t.currentRound;
        if (round < current) revert BlockAlreadyProposed(taskId, round);
        if (round != current || current >= t.rounds) revert RoundNotOpen(taskId, round, current);
        Round storage r = _rounds[taskId][round];
        uint256 deadline = uint256(r.openedAt) + t.window;
        if (block.timestamp < deadline && r.submitted < t.participantCount) {
            revert RoundStillOpen(deadline, block.timestamp);
        }
    }

    /// @dev Writes the block, emits it and opens the next round (or finishes the task).
    function _append(
        uint256 taskId,
        uint32 round,
        bytes32 parentHash,
        address leader,
        uint32 leaderCount,
        uint256 globalCommitment,
        uint32 globalCount,
        string memory globalCid,
        address[] memory accepted
    ) private returns (bytes32 newHash) {
        newHash = keccak256(
            abi.encode(
                taskId,
                round,
                parentHash,
                leader,
                leaderCount,
                globalCommitment,
                globalCount,
                keccak256(bytes(globalCid)),
                keccak256(abi.encode(accepted))
            )
        );
        RoundBlock storage b = _blocks[taskId][round];
        b.blockHash = newHash;
        b.globalCommitment = globalCommitment;
        b.globalCid = globalCid;
        b.leader = leader;
        b.leaderCount = leaderCount;
        b.globalCount = globalCount;
        emit BlockProposed(
            taskId,
            round,
            leader,
            newHash,
            parentHash,
            leaderCount,
            globalCommitment,
            globalCount,
            globalCid,
            accepted
        );
        Task storage t = _tasks[taskId];
        uint32 next = round + 1;
        t.currentRound = next;
        if (next < t.rounds) _openRound(taskId, next, t.window, t.participantCount);
        else emit TaskFinished(taskId, newHash);
    }

    /// @dev The leader turn of a closed round (see the contract's notes).
    function _turn(Task storage t, Round storage r) private view returns (uint256) {
        uint256 deadline = uint256(r.openedAt) + t.window;
        if (block.timestamp < deadline + t.window) return 0;
        return (block.timestamp - deadline) / t.window;
    }

    /// @dev The leader of turn `turn`: the (turn+1)-th best valid submission of the round,
    ///      by count, then lowest tie-break rank; zero once the ranking is exhausted.
    function _leaderAt(uint256 taskId, uint32 round, Round storage r, uint256 turn)
        private
        view
        returns (address leader, uint32 count)
    {
        leader = r.leader;
        count = r.bestCount;
        if (turn == 0 || leader == address(0)) return (leader, count);
        if (turn >= r.submitted) return (address(0), 0);
        address[] storage members = _participants[taskId];
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        uint256 rank = _rank(round, leader);
        for (uint256 k = 0; k < turn; ++k) {
            // The best submission strictly after (count, rank) in the leader order.
            address next = address(0);
            uint32 nextCount = 0;
            uint256 nextRank = 0;
            for (uint256 i = 0; i < members.length; ++i) {
                uint256 entry =
                    (entries[i / ENTRIES_PER_WORD] >> ((i % ENTRIES_PER_WORD) * ENTRY_BITS))
                    & ENTRY_MASK;
                if (entry == 0) continue;
                uint32 c = uint32((entry & COUNT_MASK) - 1);
                if (c > count) continue;
                address a = members[i];
                uint256 ar = _rank(round, a);
                if (c == count && ar <= rank) continue;
                if (next == address(0) || c > nextCount || (c == nextCount && ar < nextRank)) {
                    next = a;
                    nextCount = c;
                    nextRank = ar;
                }
            }
            leader = next;
            count = nextCount;
            rank = nextRank;
        }
    }

    /// @dev Marks each accepted submission; the list must be strictly ascending.
    function _accept(uint256 taskId, uint32 round, address[] calldata accepted) private {
        mapping(address => uint256) storage member = _member[taskId];
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        address previous = address(0);
        for (uint256 i = 0; i < accepted.length; ++i) {
            address a = accepted[i];
            if (a <= previous) revert AcceptedNotSorted(i);
            previous = a;
            uint256 index = member[a];
            if (index == 0) revert NoValidSubmission(a);
            index -= 1;
            uint256 w = index / ENTRIES_PER_WORD;
            uint256 shift = (index % ENTRIES_PER_WORD) * ENTRY_BITS;
            uint256 word = entries[w];
            if ((word >> shift) & ENTRY_MASK == 0) revert NoValidSubmission(a);
            entries[w] = word | (ACCEPTED_BIT << shift);
        }
    }

    /// @dev Opens a round and pre-writes its submission words (see ENTRIES_PER_WORD).
    function _openRound(uint256 taskId, uint32 round, uint32 window, uint256 participantCount)
        private
    {
        _rounds[taskId][round].openedAt = uint40(block.timestamp);
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        uint256 words = (participantCount + ENTRIES_PER_WORD - 1) / ENTRIES_PER_WORD;
        for (uint256 w = 0; w < words; ++w) {
            entries[w] = MARKER;
        }
        emit RoundOpened(taskId, round, block.timestamp + window);
    }

    /// @dev Hash of the block preceding `round` (the genesis hash for round 0).
    function _head(uint256 taskId, uint32 round) private view returns (bytes32) {
        return round == 0 ? _tasks[taskId].genesisHash : _blocks[taskId][round - 1].blockHash;
    }

    // ------------------------------------------------------------------ views

    /// @notice The registered task (reverts UnknownTask).
    function task(uint256 taskId) external view returns (Task memory) {
        return _known(taskId);
    }

    /// @notice The participant registry: addresses and X25519 public keys, in order.
    function participants(uint256 taskId)
        external
        view
        returns (address[] memory accounts, bytes32[] memory keys)
    {
        _known(taskId);
        accounts = _participants[taskId];
        keys = _keys[taskId];
    }

    /// @notice X25519 public key of a participant (zero if not registered).
    function participantKey(uint256 taskId, address account) external view returns (bytes32) {
        uint256 index = _member[taskId][account];
        return index == 0 ? bytes32(0) : _keys[taskId][index - 1];
    }

    /// @notice Genesis hash of a task: the parent of round 0's block.
    function genesisHash(uint256 taskId) external view returns (bytes32) {
        return _known(taskId).genesisHash;
    }

    /// @notice Hash of the latest block (genesis if none) and the round whose block is next.
    function head(uint256 taskId) external view returns (bytes32 headHash, uint32 nextRound) {
        nextRound = _known(taskId).currentRound;
        headHash = _head(taskId, nextRound);
    }

    /// @notice State of a round of a known task. Once closed, `leader` is the current
    ///         turn's leader (zero when no leader is left); once finalized, the block's.
    function roundState(uint256 taskId, uint32 round) external view returns (RoundView memory v) {
        Task storage t = _known(taskId);
        Round storage r = _rounds[taskId][round];
        v.submitted = r.submitted;
        v.leader = r.leader;
        v.bestCount = r.bestCount;
        v.blockHash = _blocks[taskId][round].blockHash;
        if (round < t.currentRound) {
            v.status = RoundStatus.Finalized;
            v.leader = _blocks[taskId][round].leader;
            v.bestCount = _blocks[taskId][round].leaderCount;
        } else if (round > t.currentRound || round >= t.rounds) {
            return v; // NotOpened
        } else if (
            block.timestamp >= uint256(r.openedAt) + t.window
                || r.submitted == t.participantCount
        ) {
            v.status = RoundStatus.Closed;
            v.turn = _turn(t, r);
            (v.leader, v.bestCount) = _leaderAt(taskId, round, r, v.turn);
            v.turnEnds = uint256(r.openedAt) + t.window * (v.turn + 2);
        } else {
            v.status = RoundStatus.Open;
        }
        v.openedAt = r.openedAt;
        v.deadline = uint256(r.openedAt) + t.window;
    }

    /// @notice Leader of a round: for the current round once closed, the current turn's
    ///         leader and its proven count (reverts RoundStillOpen while the window is open,
    ///         NoSubmissions if nobody submitted, NoLeaderLeft once every turn has passed);
    ///         for a finalized round, the leader that appended its block (zero if skipped).
    function leaderOf(uint256 taskId, uint32 round)
        external
        view
        returns (address leader, uint32 count)
    {
        Task storage t = _known(taskId);
        uint32 current = t.currentRound;
        if (round > current || round >= t.rounds) revert RoundNotOpen(taskId, round, current);
        if (round < current) {
            RoundBlock storage b = _blocks[taskId][round];
            return (b.leader, b.leaderCount);
        }
        Round storage r = _rounds[taskId][round];
        uint256 deadline = uint256(r.openedAt) + t.window;
        if (block.timestamp < deadline && r.submitted < t.participantCount) {
            revert RoundStillOpen(deadline, block.timestamp);
        }
        if (r.leader == address(0)) revert NoSubmissions(taskId, round);
        (leader, count) = _leaderAt(taskId, round, r, _turn(t, r));
        if (leader == address(0)) revert NoLeaderLeft(taskId, round);
    }

    /// @notice A participant's submission in a round (all zero if none).
    function submission(uint256 taskId, uint32 round, address account)
        external
        view
        returns (SubmissionView memory v)
    {
        uint256 index = _member[taskId][account];
        if (index == 0) return v;
        index -= 1;
        uint256 word = _entries[taskId][round][index / ENTRIES_PER_WORD];
        uint256 entry = (word >> ((index % ENTRIES_PER_WORD) * ENTRY_BITS)) & ENTRY_MASK;
        if (entry == 0) return v;
        v.submitted = true;
        v.accepted = entry & ACCEPTED_BIT != 0;
        v.count = uint32((entry & COUNT_MASK) - 1);
        v.commitment = _commitments[taskId][round][account];
    }

    /// @notice The block of a round (all zero until appended).
    function roundBlock(uint256 taskId, uint32 round)
        external
        view
        returns (RoundBlock memory)
    {
        return _blocks[taskId][round];
    }

    /// @notice Hash of a round's block (zero until appended).
    function blockHash(uint256 taskId, uint32 round) external view returns (bytes32) {
        return _blocks[taskId][round].blockHash;
    }

    function _known(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.verifier == address(0)) revert UnknownTask(taskId);
    }
}
