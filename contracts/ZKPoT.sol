// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAggregationVerifier, IZKPoT, IZKPoTVerifier} from "./IZKPoT.sol";
import {SubmissionEntries} from "./SubmissionEntries.sol";

/// @title ZKPoT ledger: Zero-Knowledge Proof of Training consensus for federated learning
/// @notice A publisher registers a task (verifier, public test set, threshold, participants,
///         schedule). Each round, registered participants submit a model commitment with a
///         Groth16 proof that the committed model classifies `count` test samples correctly;
///         the proof is verified here, bound to (chain, ledger, task, round, sender) by a tag
///         recomputed on chain. When the round's window closes, the valid submission with the
///         highest count leads the round and alone may append the round block, which links to
///         the previous one by hash and opens the next round. The block carries a proof, for
///         the same circuit, that the published global model itself reaches the threshold,
///         and a proof, for the task's aggregation circuit, that the global model is the
///         average of exactly the accepted submissions' committed models, weighted by their
///         registered sample counts.
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
///      (k+1)-th best valid submission in the order above. A leader's block accounts for
///      every submitter that handed it a key in its turn: accepted, or excluded with the
///      handed key (which must hash to the hand-over's keyHash), or excluded without a key
///      after the leader contested the hand-over and its submitter did not re-open the key
///      within a quarter window. One status function (_status)
///      says where a round stands, and every entry point guards on it; each then checks its
///      arguments, verifies the proof, writes and emits, in that order.
contract ZKPoT is IZKPoT {
    using SubmissionEntries for mapping(uint256 => uint256);

    /// @dev Scalar field order r of BN254: commitments and tags are elements of this field.
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Largest number of test samples a task may have (counts are stored + 1 in 31 bits).
    uint32 public constant MAX_SAMPLES = (1 << 31) - 2;

    /// @dev Low 32 bits of a re-ranking heap key: the submission's index (see _heapKey).
    uint256 private constant INDEX_MASK = 0xffffffff;
    /// @dev A 32-byte key in a libsodium sealed box (32-byte ephemeral key, 16-byte tag).
    uint256 private constant SEALED_KEY_BYTES = 80;
    /// @dev Domain of the binding tag of a global-model proof (see globalTag).
    bytes32 private constant GLOBAL_DOMAIN = keccak256("zkpot.global-model");
    /// @notice Fractional bits F of an aggregation weight: the weight of accepted submission
    ///         k is floor((2^(F+1) * n_k + N) / (2N)), n_k / N rounded half up, with n_k its
    ///         registered sample count and N the accepted submissions' total
    ///         (zkpot.learning.aggregate.aggregation_weights).
    uint256 public constant AGGREGATION_FRAC_BITS = 14;
    /// @notice The most aggregation slots a task's aggregation circuit may have.
    uint256 public constant MAX_CAPACITY = 64;
    /// @notice A contested submitter has ceil(window / RESPONSE_DIVISOR) seconds to re-open.
    uint256 public constant RESPONSE_DIVISOR = 4;

    /// @notice Number of registered tasks; task ids are 1..taskCount.
    uint256 public taskCount;

    mapping(uint256 => Task) private _tasks;
    mapping(uint256 => address[]) private _participants;
    mapping(uint256 => bytes32[]) private _keys;
    mapping(uint256 => uint32[]) private _sampleCounts;
    /// @dev Registration order + 1 of each participant (0: not registered).
    mapping(uint256 => mapping(address => uint256)) private _member;
    mapping(uint256 => mapping(uint32 => Round)) private _rounds;
    /// @dev Submission entries (see SubmissionEntries), by task, round and word index.
    mapping(uint256 => mapping(uint32 => mapping(uint256 => uint256))) private _entries;
    /// @dev Model commitment of each submission; the model CID is only in the event.
    mapping(uint256 => mapping(uint32 => mapping(address => uint256))) private _commitments;
    mapping(uint256 => mapping(uint32 => RoundBlock)) private _blocks;
    /// @dev Each submitter's latest hand-over, by task and round.
    mapping(uint256 => mapping(uint32 => mapping(address => HandOver))) private _handOvers;
    /// @dev Hand-overs made in a round's latest turn that has any: (turn + 1) << 32 | count.
    mapping(uint256 => mapping(uint32 => uint256)) private _handedCounts;

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
        t.aggregator = p.aggregator;
        t.capacity = _capacity(p.aggregator);
        t.paddingCommitment = p.paddingCommitment;
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
            if (p.sampleCounts[i] == 0) revert InvalidTaskParams("zero sample count");
            if (member[a] != 0) revert InvalidTaskParams("duplicate participant");
            member[a] = i + 1;
        }
        _participants[taskId] = p.participants;
        _keys[taskId] = p.participantKeys;
        _sampleCounts[taskId] = p.sampleCounts;

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
        _checkRegistry(p);
        if (p.paddingCommitment >= R) revert InvalidTaskParams("padding not in field");
        _capacity(p.aggregator);
    }

    /// @dev The registry's lists have one entry per participant (the entries themselves are
    ///      checked as they are stored).
    function _checkRegistry(TaskParams calldata p) private pure {
        uint256 n = p.participants.length;
        if (n == 0 || n > type(uint16).max) revert InvalidTaskParams("participant count");
        if (p.participantKeys.length != n) revert InvalidTaskParams("keys do not match");
        if (p.sampleCounts.length != n) revert InvalidTaskParams("sample counts do not match");
    }

    /// @dev The number of slots of an aggregation verifier (reverts if it has none).
    function _capacity(address aggregator) private view returns (uint16) {
        if (aggregator.code.length == 0) revert InvalidTaskParams("aggregator has no code");
        try IAggregationVerifier(aggregator).capacity() returns (uint256 slots) {
            if (slots == 0 || slots > MAX_CAPACITY) {
                revert InvalidTaskParams("aggregator capacity");
            }
            return uint16(slots);
        } catch {
            revert InvalidTaskParams("aggregator has no capacity");
        }
    }

    // ------------------------------------------------------------------ where a round stands

    /// @dev Where `round` of a known task stands now. Every entry point guards on this.
    function _status(Task storage t, Round storage r, uint32 round)
        private
        view
        returns (RoundStatus)
    {
        uint32 current = t.currentRound;
        if (round < current) return RoundStatus.Finalized;
        if (round > current || current >= t.rounds) return RoundStatus.NotOpened;
        if (block.timestamp < _deadline(t, r) && r.submitted < t.participantCount) {
            return RoundStatus.Open;
        }
        return RoundStatus.Closed;
    }

    function _deadline(Task storage t, Round storage r) private view returns (uint256) {
        return uint256(r.openedAt) + t.window;
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
        // state: the round is open to this sender
        Task storage t = _known(taskId);
        Round storage r = _rounds[taskId][round];
        RoundStatus status = _status(t, r, round);
        if (status == RoundStatus.NotOpened || status == RoundStatus.Finalized) {
            revert RoundNotOpen(taskId, round, t.currentRound);
        }
        uint256 index = _index(taskId, msg.sender);
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        if (entries.get(index) != 0) revert DuplicateSubmission(msg.sender);
        // Every participant in also closes the window, but then this sender is a duplicate.
        if (status != RoundStatus.Open) revert LateSubmission(_deadline(t, r), block.timestamp);
        // arguments
        if (count < t.minCount) revert BelowThreshold(count, t.minCount);
        if (count > t.numSamples) revert CountAboveSamples(count, t.numSamples);
        if (commitment >= R) revert InvalidProof();
        // proof
        uint256 tag = bindingTag(taskId, round, msg.sender);
        if (!_verify(t.verifier, proof, commitment, count, tag)) revert InvalidProof();
        // write
        entries.record(index, count);
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
        // emit
        emit Submitted(taskId, round, msg.sender, commitment, count, modelCid);
        if (submitted == t.participantCount) emit RoundClosed(taskId, round, leader, best);
    }

    /// @notice Hand the current leader the key of this sender's model package, once the
    ///         window has closed and before the round's block (again for each new leader
    ///         turn). The key is readable by that leader alone; `keyHash` commits to it, so
    ///         that the leader can exclude the submission only by showing the key (see
    ///         proposeBlock), and the sender can re-open it if the leader contests it.
    /// @param leader the leader the key is sealed to: it must still hold the turn.
    /// @param keyHash keccak256 of the 32-byte package key.
    function handOver(
        uint256 taskId,
        uint32 round,
        address leader,
        bytes calldata sealedKey,
        bytes32 keyHash
    ) external {
        // state: the round is closed, this sender submitted, a leader holds the turn
        Task storage t = _known(taskId);
        Round storage r = _rounds[taskId][round];
        RoundStatus status = _status(t, r, round);
        if (status == RoundStatus.Open) revert RoundStillOpen(_deadline(t, r), block.timestamp);
        if (status != RoundStatus.Closed) revert RoundNotOpen(taskId, round, t.currentRound);
        uint256 index = _index(taskId, msg.sender);
        if (_entries[taskId][round].get(index) == 0) revert NoValidSubmission(msg.sender);
        uint256 turn = _turn(t, r);
        HandOver storage h = _handOvers[taskId][round][msg.sender];
        if (h.turn == turn + 1) revert DuplicateHandOver(msg.sender);
        // arguments
        if (sealedKey.length != SEALED_KEY_BYTES) revert BadSealedKey(sealedKey.length);
        (address holder,) = _leaderAt(taskId, round, r, turn);
        if (holder == address(0)) revert NoLeaderLeft(taskId, round);
        if (leader != holder) revert NotLeader(leader, holder);
        // write and emit
        h.turn = uint32(turn + 1);
        h.contestedAt = 0;
        h.reopened = false;
        h.keyHash = keyHash;
        uint256 counted = _handedCounts[taskId][round];
        if (counted >> 32 != turn + 1) counted = (turn + 1) << 32;
        _handedCounts[taskId][round] = counted + 1;
        emit HandedOver(taskId, round, msg.sender, leader, sealedKey, keyHash);
    }

    /// @notice As the turn's leader, say that `submitter`'s hand-over of this turn does not
    ///         open. Its submitter may re-open the key until the returned time; if it does
    ///         not, the block may exclude it without a key.
    function contest(uint256 taskId, uint32 round, address submitter)
        external
        returns (uint256 respondBy)
    {
        // state: the round is closed, this sender leads the turn, the hand-over is this turn's
        (Task storage t, Round storage r) = _closedRound(taskId, round);
        uint256 turn = _turn(t, r);
        (address leader,) = _leaderAt(taskId, round, r, turn);
        if (leader == address(0)) revert NoLeaderLeft(taskId, round);
        if (msg.sender != leader) revert NotLeader(msg.sender, leader);
        HandOver storage h = _handOvers[taskId][round][submitter];
        if (h.turn != turn + 1) revert NotHandedOver(submitter);
        if (h.reopened) revert AlreadyReopened(submitter);
        if (h.contestedAt != 0) revert AlreadyContested(submitter);
        // write and emit
        h.contestedAt = uint40(block.timestamp);
        respondBy = block.timestamp + _responseTime(t);
        emit Contested(taskId, round, submitter, leader, respondBy);
    }

    /// @notice Publish this sender's package key for its hand-over of the current turn: the
    ///         turn's leader can then no longer say the hand-over does not open. The key
    ///         becomes public, and with it the sender's model.
    function reopen(uint256 taskId, uint32 round, bytes32 key) external {
        // state: the round is closed and this sender handed over in the current turn
        (Task storage t, Round storage r) = _closedRound(taskId, round);
        uint256 turn = _turn(t, r);
        (address leader,) = _leaderAt(taskId, round, r, turn);
        if (leader == address(0)) revert NoLeaderLeft(taskId, round);
        HandOver storage h = _handOvers[taskId][round][msg.sender];
        if (h.turn != turn + 1) revert NotHandedOver(msg.sender);
        if (h.reopened) revert AlreadyReopened(msg.sender);
        // arguments
        if (keccak256(abi.encode(key)) != h.keyHash) revert KeyMismatch(msg.sender);
        // write and emit
        h.reopened = true;
        emit Reopened(taskId, round, msg.sender, key);
    }

    /// @dev Seconds a contested submitter has to re-open its key.
    function _responseTime(Task storage t) private view returns (uint256) {
        return (uint256(t.window) + RESPONSE_DIVISOR - 1) / RESPONSE_DIVISOR;
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
    ///         `aggregationProof` proves, for the task's aggregation circuit and the public
    ///         inputs aggregationInputs(taskId, round, globalCommitment, accepted), that the
    ///         global model is the weighted average of the accepted submissions' models.
    /// @param accepted participants whose updates the global model aggregates, in strictly
    ///        ascending address order, at least one and at most the task's capacity; each
    ///        must have a valid submission in this round.
    /// @param excluded the submitters that handed this leader a key in its turn and are not
    ///        accepted, in strictly ascending address order; with `accepted` they must
    ///        cover every hand-over of the turn (see Exclusion).
    function proposeBlock(
        uint256 taskId,
        uint32 round,
        bytes32 parentHash,
        uint256 globalCommitment,
        uint32 globalCount,
        string calldata globalCid,
        address[] calldata accepted,
        Exclusion[] calldata excluded,
        uint256[8] calldata globalProof,
        uint256[8] calldata aggregationProof
    ) external returns (bytes32 newHash) {
        // state: the round is closed and this sender leads the turn
        (Task storage t, Round storage r) = _closedRound(taskId, round);
        uint256 turn = _turn(t, r);
        (address leader, uint32 leaderCount) = _leaderAt(taskId, round, r, turn);
        if (leader == address(0)) revert NoLeaderLeft(taskId, round);
        if (msg.sender != leader) revert NotLeader(msg.sender, leader);
        // arguments
        bytes32 expected = _head(taskId, round);
        if (parentHash != expected) revert BadParent(parentHash, expected);
        if (globalCommitment >= R) revert InvalidCommitment(globalCommitment);
        if (globalCount < t.minCount) revert GlobalBelowThreshold(globalCount, t.minCount);
        if (globalCount > t.numSamples) revert CountAboveSamples(globalCount, t.numSamples);
        // proof
        uint256 tag = globalTag(taskId, round, leader);
        if (!_verify(t.verifier, globalProof, globalCommitment, globalCount, tag)) {
            revert InvalidGlobalProof();
        }
        uint256[] memory inputs = _aggregationInputs(t, taskId, round, globalCommitment, accepted);
        _checkHandOvers(t, taskId, round, turn, accepted, excluded);
        if (!IAggregationVerifier(t.aggregator).verifyProof(aggregationProof, inputs)) {
            revert InvalidAggregationProof();
        }
        // write and emit
        _accept(taskId, round, accepted);
        for (uint256 i = 0; i < excluded.length; ++i) {
            emit Excluded(taskId, round, excluded[i].submitter, leader, excluded[i].key);
        }
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
        // state: the round is closed and no leader is left
        (Task storage t, Round storage r) = _closedRound(taskId, round);
        (address leader,) = _leaderAt(taskId, round, r, _turn(t, r));
        if (leader != address(0)) revert RoundHasLeader(taskId, round, leader);
        // write and emit
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

    /// @dev The task and round, if `round` is the task's current round and it has closed.
    function _closedRound(uint256 taskId, uint32 round)
        private
        view
        returns (Task storage t, Round storage r)
    {
        t = _known(taskId);
        r = _rounds[taskId][round];
        RoundStatus status = _status(t, r, round);
        if (status == RoundStatus.Finalized) revert BlockAlreadyProposed(taskId, round);
        if (status == RoundStatus.NotOpened) revert RoundNotOpen(taskId, round, t.currentRound);
        if (status == RoundStatus.Open) revert RoundStillOpen(_deadline(t, r), block.timestamp);
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
        uint256 deadline = _deadline(t, r);
        if (block.timestamp < deadline + t.window) return 0;
        return (block.timestamp - deadline) / t.window;
    }

    /// @dev The leader of turn `turn`: the (turn+1)-th best valid submission of the round,
    ///      by count, then lowest tie-break rank; zero once the ranking is exhausted. Turn 0
    ///      is the best so far (one read). A later turn reads the round's entries once into
    ///      a heap in memory and pops it, from the best or from the worst end, whichever is
    ///      nearer: O(n) storage reads and O(n + min(turn, n - turn) * log n) memory work for
    ///      n participants.
    function _leaderAt(uint256 taskId, uint32 round, Round storage r, uint256 turn)
        private
        view
        returns (address leader, uint32 count)
    {
        leader = r.leader;
        count = r.bestCount;
        if (turn == 0 || leader == address(0)) return (leader, count);
        uint256 size = r.submitted;
        if (turn >= size) return (address(0), 0);
        // The (turn+1)-th best is the (size-turn)-th worst: pop from the nearer end.
        bool fromWorst = 2 * turn >= size;
        uint256 pops = fromWorst ? size - 1 - turn : turn;
        address[] storage members = _participants[taskId];
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        address[] memory accounts = new address[](size);
        uint256[] memory ranks = new uint256[](size);
        uint256[] memory heap = new uint256[](size);
        uint256 found = 0;
        for (uint256 i = 0; found < size; ++i) {
            uint256 entry = entries.get(i);
            if (entry == 0) continue;
            address a = members[i];
            uint256 rank = _rank(round, a);
            accounts[found] = a;
            ranks[found] = rank;
            heap[found] = _heapKey(SubmissionEntries.count(entry), rank, found, fromWorst);
            ++found;
        }
        for (uint256 i = size / 2; i > 0; --i) {
            _siftDown(heap, i - 1, size, ranks, fromWorst);
        }
        for (uint256 k = 0; k < pops; ++k) {
            --size;
            heap[0] = heap[size];
            _siftDown(heap, 0, size, ranks, fromWorst);
        }
        uint256 top = heap[0];
        uint256 c = top >> 224;
        return (accounts[top & INDEX_MASK], uint32(fromWorst ? type(uint32).max - c : c));
    }

    /// @dev Heap keys: the largest key is on top. Bits 224..255 hold the count (inverted
    ///      when popping from the worst end), bits 32..223 the top 192 bits of the inverted
    ///      tie-break rank (not inverted from the worst end), bits 0..31 the submission's
    ///      index; keys equal above bit 32 fall back to the full ranks (see _above).
    function _heapKey(uint32 proven, uint256 rank, uint256 index, bool fromWorst)
        private
        pure
        returns (uint256)
    {
        uint256 c = fromWorst ? type(uint32).max - proven : proven;
        uint256 prefix = fromWorst ? rank >> 64 : (type(uint256).max - rank) >> 64;
        return (c << 224) | (prefix << 32) | index;
    }

    /// @dev Whether key `a` belongs above key `b` in the heap.
    function _above(uint256 a, uint256 b, uint256[] memory ranks, bool fromWorst)
        private
        pure
        returns (bool)
    {
        if (a >> 32 != b >> 32) return a > b;
        uint256 rankA = ranks[a & INDEX_MASK];
        uint256 rankB = ranks[b & INDEX_MASK];
        return fromWorst ? rankA > rankB : rankA < rankB;
    }

    /// @dev Restores the heap order below position `i`.
    function _siftDown(
        uint256[] memory heap,
        uint256 i,
        uint256 size,
        uint256[] memory ranks,
        bool fromWorst
    ) private pure {
        uint256 key = heap[i];
        while (true) {
            uint256 child = 2 * i + 1;
            if (child >= size) break;
            uint256 childKey = heap[child];
            if (child + 1 < size) {
                uint256 right = heap[child + 1];
                if (_above(right, childKey, ranks, fromWorst)) {
                    ++child;
                    childKey = right;
                }
            }
            if (!_above(childKey, key, ranks, fromWorst)) break;
            heap[i] = childKey;
            i = child;
        }
        heap[i] = key;
    }

    /// @dev Every hand-over of this turn is accepted or excluded, and each exclusion shows why:
    ///      the handed key (it hashes to keyHash: the sealed key opened, so whether the
    ///      package opens under it is now public), or a contest its submitter let pass.
    function _checkHandOvers(
        Task storage t,
        uint256 taskId,
        uint32 round,
        uint256 turn,
        address[] calldata accepted,
        Exclusion[] calldata excluded
    ) private view {
        mapping(address => HandOver) storage handOvers = _handOvers[taskId][round];
        uint32 current = uint32(turn + 1);
        uint256 accounted = 0;
        for (uint256 i = 0; i < accepted.length; ++i) {
            if (handOvers[accepted[i]].turn == current) ++accounted;
        }
        address previous = address(0);
        uint256 j = 0;
        for (uint256 i = 0; i < excluded.length; ++i) {
            address a = excluded[i].submitter;
            if (a <= previous) revert ExcludedNotSorted(i);
            previous = a;
            while (j < accepted.length && accepted[j] < a) ++j;
            if (j < accepted.length && accepted[j] == a) revert ExcludedAndAccepted(a);
            _checkExclusion(t, handOvers[a], current, excluded[i]);
            ++accounted;
        }
        uint256 counted = _handedCounts[taskId][round];
        uint256 handed = counted >> 32 == current ? uint32(counted) : 0;
        if (accounted == handed) return;
        // Name the first submitter left out (the revert path alone pays for the scan).
        address[] storage everyone = _participants[taskId];
        for (uint256 i = 0; i < everyone.length; ++i) {
            address a = everyone[i];
            if (handOvers[a].turn != current || _listed(a, accepted, excluded)) continue;
            revert HandOverLeftOut(a);
        }
        revert HandOverLeftOut(address(0));
    }

    /// @dev One exclusion of a hand-over of turn `current` shows why (see _checkHandOvers).
    function _checkExclusion(
        Task storage t,
        HandOver storage h,
        uint32 current,
        Exclusion calldata e
    ) private view {
        if (h.turn != current) revert NotHandedOver(e.submitter);
        if (e.key != bytes32(0)) {
            if (keccak256(abi.encode(e.key)) != h.keyHash) revert KeyMismatch(e.submitter);
            return;
        }
        bool answered = h.reopened || h.contestedAt == 0;
        if (answered || block.timestamp < uint256(h.contestedAt) + _responseTime(t)) {
            revert ExclusionNotShown(e.submitter);
        }
    }

    /// @dev Whether `a` is in `accepted` or `excluded` (a linear scan; revert path only).
    function _listed(address a, address[] calldata accepted, Exclusion[] calldata excluded)
        private
        pure
        returns (bool)
    {
        for (uint256 i = 0; i < accepted.length; ++i) {
            if (accepted[i] == a) return true;
        }
        for (uint256 i = 0; i < excluded.length; ++i) {
            if (excluded[i].submitter == a) return true;
        }
        return false;
    }

    /// @notice The public inputs of a block's aggregation proof: [globalCommitment, then
    ///         (commitment, weight) per slot], the accepted submissions' commitments first, in
    ///         the order given, then empty slots (the padding commitment at weight 0). Reverts
    ///         with the rule an accepted list breaks (see proposeBlock).
    function aggregationInputs(
        uint256 taskId,
        uint32 round,
        uint256 globalCommitment,
        address[] calldata accepted
    ) external view returns (uint256[] memory) {
        return _aggregationInputs(_known(taskId), taskId, round, globalCommitment, accepted);
    }

    /// @dev See aggregationInputs. Checks the accepted list: strictly ascending, each with a
    ///      valid submission in the round, one to `capacity` of them.
    function _aggregationInputs(
        Task storage t,
        uint256 taskId,
        uint32 round,
        uint256 globalCommitment,
        address[] calldata accepted
    ) private view returns (uint256[] memory inputs) {
        uint256 m = accepted.length;
        if (m == 0) revert EmptyAggregate();
        if (m > t.capacity) revert TooManyContributions(m, t.capacity);
        mapping(address => uint256) storage member = _member[taskId];
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        mapping(address => uint256) storage commitments = _commitments[taskId][round];
        uint32[] storage counts = _sampleCounts[taskId];
        uint256[] memory n = new uint256[](m);
        uint256 total = 0;
        address previous = address(0);
        for (uint256 i = 0; i < m; ++i) {
            address a = accepted[i];
            if (a <= previous) revert AcceptedNotSorted(i);
            previous = a;
            uint256 index = member[a];
            if (index == 0 || entries.get(index - 1) == 0) revert NoValidSubmission(a);
            n[i] = counts[index - 1];
            total += n[i];
        }
        inputs = new uint256[](1 + 2 * uint256(t.capacity));
        inputs[0] = globalCommitment;
        for (uint256 i = 0; i < t.capacity; ++i) {
            if (i < m) {
                inputs[1 + 2 * i] = commitments[accepted[i]];
                inputs[2 + 2 * i] = ((n[i] << (AGGREGATION_FRAC_BITS + 1)) + total) / (2 * total);
            } else {
                inputs[1 + 2 * i] = t.paddingCommitment;
            }
        }
    }

    /// @dev Marks each accepted submission (checked by _aggregationInputs before).
    function _accept(uint256 taskId, uint32 round, address[] calldata accepted) private {
        mapping(address => uint256) storage member = _member[taskId];
        mapping(uint256 => uint256) storage entries = _entries[taskId][round];
        for (uint256 i = 0; i < accepted.length; ++i) {
            if (!entries.accept(member[accepted[i]] - 1)) revert NoValidSubmission(accepted[i]);
        }
    }

    /// @dev Opens a round and pre-writes its submission words (see SubmissionEntries).
    function _openRound(uint256 taskId, uint32 round, uint32 window, uint256 participantCount)
        private
    {
        _rounds[taskId][round].openedAt = uint40(block.timestamp);
        _entries[taskId][round].open(participantCount);
        emit RoundOpened(taskId, round, block.timestamp + window);
    }

    /// @dev Hash of the block preceding `round` (the genesis hash for round 0).
    function _head(uint256 taskId, uint32 round) private view returns (bytes32) {
        return round == 0 ? _tasks[taskId].genesisHash : _blocks[taskId][round - 1].blockHash;
    }

    /// @dev Registration index of `account` in the task (reverts NotRegistered).
    function _index(uint256 taskId, address account) private view returns (uint256) {
        uint256 index = _member[taskId][account];
        if (index == 0) revert NotRegistered(account);
        return index - 1;
    }

    // ------------------------------------------------------------------ views

    /// @notice The registered task (reverts UnknownTask).
    function task(uint256 taskId) external view returns (Task memory) {
        return _known(taskId);
    }

    /// @notice The registered sample counts (FedAvg weights), in registration order.
    function sampleCounts(uint256 taskId) external view returns (uint32[] memory) {
        _known(taskId);
        return _sampleCounts[taskId];
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
        v.status = _status(t, r, round);
        v.submitted = r.submitted;
        v.leader = r.leader;
        v.bestCount = r.bestCount;
        v.blockHash = _blocks[taskId][round].blockHash;
        if (v.status == RoundStatus.NotOpened) return v;
        if (v.status == RoundStatus.Finalized) {
            v.leader = _blocks[taskId][round].leader;
            v.bestCount = _blocks[taskId][round].leaderCount;
        } else if (v.status == RoundStatus.Closed) {
            v.turn = _turn(t, r);
            (v.leader, v.bestCount) = _leaderAt(taskId, round, r, v.turn);
            v.turnEnds = uint256(r.openedAt) + t.window * (v.turn + 2);
        }
        v.openedAt = r.openedAt;
        v.deadline = _deadline(t, r);
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
        Round storage r = _rounds[taskId][round];
        RoundStatus status = _status(t, r, round);
        if (status == RoundStatus.NotOpened) revert RoundNotOpen(taskId, round, t.currentRound);
        if (status == RoundStatus.Finalized) {
            RoundBlock storage b = _blocks[taskId][round];
            return (b.leader, b.leaderCount);
        }
        if (status == RoundStatus.Open) revert RoundStillOpen(_deadline(t, r), block.timestamp);
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
        uint256 entry = _entries[taskId][round].get(index - 1);
        if (entry == 0) return v;
        v.submitted = true;
        v.accepted = SubmissionEntries.accepted(entry);
        v.count = SubmissionEntries.count(entry);
        v.commitment = _commitments[taskId][round][account];
    }

    /// @notice A submitter's latest hand-over in a round (all zero if none).
    function handOverState(uint256 taskId, uint32 round, address account)
        external
        view
        returns (HandOver memory)
    {
        return _handOvers[taskId][round][account];
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
