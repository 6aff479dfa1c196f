// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IZKPoT} from "../../IZKPoT.sol";
import {ZKPoT} from "../../ZKPoT.sol";
import {StandInAggregationVerifier} from "../StandInAggregationVerifier.sol";
import {StandInVerifier} from "../StandInVerifier.sol";

/// @dev The Forge cheatcodes these tests use (the cheatcode contract's fixed address).
interface Vm {
    function prank(address sender) external;
    function warp(uint256 timestamp) external;
    function snapshotState() external returns (uint256 id);
    function revertToState(uint256 id) external returns (bool ok);
}

Vm constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

/// @title Random transactions against ZKPoT, with an independent record of the rules
/// @notice Forge's invariant fuzzer calls these functions in random sequences with random
///         arguments. Each sends one transaction to the ledger from an honest or a hostile
///         account (registered participants acting out of turn, an outsider), catches any
///         rejection, and, when the ledger accepted it, checks with `require` that the rules
///         allowed it. The rules are recomputed here from what was accepted (the tasks'
///         schedules, who submitted what, the leader order), never read back from the ledger.
///         The verifier is the stand-in (contracts/test/StandInVerifier.sol): a "proof" is
///         valid when its first word is the sum of the public inputs, so that valid and
///         invalid proofs cost nothing; the proof is not what these tests are about.
contract ZKPoTHandler {
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 public constant POOL = 5; // accounts that may be registered
    uint256 public constant MAX_TASKS = 4;
    uint32 public constant NUM_SAMPLES = 24;
    string internal constant CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
    /// @dev The package key of every hand-over here (a block excludes by showing it).
    bytes32 internal constant KEY = keccak256("package key");

    struct TaskGhost {
        uint256 id;
        uint32 window;
        uint32 rounds;
        uint32 minCount;
        address[] members;
        uint32 current; // the round whose block comes next
        uint256 openedAt; // of the current round
        bytes32 head; // hash of the latest block (genesis first)
        uint256 globalCommitment; // of the latest block (the initial model first)
        uint32 globalCount;
        string globalCid;
    }

    ZKPoT public immutable zkpot;
    StandInVerifier public immutable verifier;
    StandInAggregationVerifier public immutable aggregator;
    address[] internal _actors; // POOL accounts, then an outsider never registered
    TaskGhost[] internal _tasks;
    /// @dev task index => round => submitters in arrival order, and their counts.
    mapping(uint256 => mapping(uint32 => address[])) internal _submitters;
    mapping(uint256 => mapping(uint32 => mapping(address => uint32))) internal _counts;
    mapping(uint256 => mapping(uint32 => mapping(address => bool))) internal _submitted;
    /// @dev task index => round => submitter => the leader turn of its latest hand-over, + 1.
    mapping(uint256 => mapping(uint32 => mapping(address => uint256))) internal _handedTurn;
    /// @dev task index => round => blocks appended (the rules allow one).
    mapping(uint256 => mapping(uint32 => uint256)) public appended;
    /// @dev task index => round => the hash of each appended block, as recomputed here.
    mapping(uint256 => mapping(uint32 => bytes32)) public expectedHash;

    /// @dev The time of the sequence (each call warps to it first).
    uint256 public now_;

    constructor() {
        zkpot = new ZKPoT();
        verifier = new StandInVerifier();
        aggregator = new StandInAggregationVerifier(POOL);
        for (uint256 i = 0; i <= POOL; ++i) {
            _actors.push(address(uint160(0x10000 + i)));
        }
        now_ = 1_000_000;
        VM.warp(now_);
        // Three tasks of different shapes: a lone participant, a small federation with a
        // one-second window (every turn boundary is one second away), and the whole pool.
        _register(1, 1, 3, 1);
        _register(3, 1, 4, 12);
        _register(POOL, 60, 3, 6);
    }

    // ------------------------------------------------------------------ actions

    /// @notice Let time pass: a few seconds, or to a boundary of the current round of a task
    ///         (its deadline, a turn's start, one second before either).
    function wait(uint256 taskSeed, uint256 kind, uint256 amount) external {
        VM.warp(now_);
        TaskGhost storage g = _tasks[taskSeed % _tasks.length];
        uint256 deadline = g.openedAt + g.window;
        uint256 target;
        kind %= 4;
        if (kind == 0) {
            target = now_ + 1 + (amount % 3);
        } else {
            uint256 turnStart = deadline + (amount % (POOL + 2)) * g.window;
            target = kind == 1 ? turnStart : (kind == 2 ? turnStart - 1 : deadline);
        }
        if (target > now_) now_ = target;
        VM.warp(now_);
    }

    /// @notice Register another task (up to MAX_TASKS), or try to register a malformed one.
    function register(uint256 size, uint256 window, uint256 rounds, uint256 hostile) external {
        VM.warp(now_);
        if (hostile % 3 == 0) {
            IZKPoT.TaskParams memory p = _params(1 + size % POOL, 1 + uint32(window % 50), 1 + uint32(rounds % 3), 1);
            uint256 flaw = hostile % 4;
            // a duplicate (or zero) participant, a threshold above the samples, an empty
            // window, a commitment outside the field
            if (flaw == 0) p.participants[0] = p.participants.length > 1 ? p.participants[1] : address(0);
            else if (flaw == 1) p.minCount = NUM_SAMPLES + 1;
            else if (flaw == 2) p.window = 0;
            else p.initialCommitment = R;
            VM.prank(_actors[hostile % _actors.length]);
            try zkpot.registerTask(p) {
                require(false, "a malformed task was registered");
            } catch {}
            return;
        }
        if (_tasks.length >= MAX_TASKS) return;
        _register(1 + size % POOL, 1 + uint32(window % 50), 1 + uint32(rounds % 3), uint32(1 + window % 3));
    }

    /// @notice A submission; honest ones (most) use the current round, a fresh sender's valid
    ///         proof and a count above the threshold; hostile ones vary one of those.
    function submit(uint256 taskSeed, uint256 actorSeed, uint256 countSeed, uint256 flaw) external {
        VM.warp(now_);
        uint256 ti = taskSeed % _tasks.length;
        TaskGhost storage g = _tasks[ti];
        address sender = _actors[actorSeed % _actors.length];
        uint32 round = g.current;
        // Three counts only, so that ties (broken by rank) are common.
        uint32 count = g.minCount + uint32(countSeed % 3);
        uint256 commitment = uint256(keccak256(abi.encode(countSeed))) % R;
        flaw %= 8;
        if (flaw == 1) round = round + 1;
        else if (flaw == 2 && round > 0) round = round - 1;
        else if (flaw == 3 && g.minCount > 0) count = g.minCount - 1;
        else if (flaw == 4) count = NUM_SAMPLES + 1;
        uint256[8] memory proof;
        proof[0] = commitment + count + _bindingTag(g.id, round, sender);
        if (flaw == 5) proof[0] += 1;
        VM.prank(sender);
        try zkpot.submit(g.id, round, commitment, count, CID, proof) {
            // The rules allowed it: the current round, still open, a registered sender's
            // first submission, a count in range, a valid proof.
            require(round == g.current && g.current < g.rounds, "submission outside the current round");
            require(now_ < g.openedAt + g.window, "submission after the deadline");
            require(_submitters[ti][round].length < g.members.length, "submission to a full round");
            require(_isMember(g, sender), "submission by an outsider");
            require(!_submitted[ti][round][sender], "double submission");
            require(count >= g.minCount && count <= NUM_SAMPLES, "count out of range");
            require(flaw != 5, "invalid proof accepted");
            _submitted[ti][round][sender] = true;
            _counts[ti][round][sender] = count;
            _submitters[ti][round].push(sender);
            // The same submission again, at once: refused.
            VM.prank(sender);
            try zkpot.submit(g.id, round, commitment, count, CID, proof) {
                require(false, "double submission");
            } catch {}
        } catch {
            // refused: the rules are checked only for what the ledger accepts
        }
    }

    /// @notice Phase two: a submitter hands its key to a leader it names.
    function handOver(uint256 taskSeed, uint256 actorSeed, uint256 leaderSeed, uint256 flaw) external {
        VM.warp(now_);
        uint256 ti = taskSeed % _tasks.length;
        TaskGhost storage g = _tasks[ti];
        address sender = _actors[actorSeed % _actors.length];
        (address expected,) = _leaderNow(ti);
        address named = flaw % 3 == 0 ? _actors[leaderSeed % _actors.length] : expected;
        VM.prank(sender);
        try zkpot.handOver(g.id, g.current, named, new bytes(80), keccak256(abi.encode(KEY))) {
            require(g.current < g.rounds && _closed(ti), "hand-over before the round closed");
            require(_submitted[ti][g.current][sender], "hand-over by a non-submitter");
            require(named != address(0) && named == expected, "hand-over to a leader out of turn");
            uint256 turn = _turnNow(ti) + 1;
            require(_handedTurn[ti][g.current][sender] != turn, "a second hand-over in one turn");
            _handedTurn[ti][g.current][sender] = turn;
        } catch {
            // refused: the rules are checked only for what the ledger accepts
        }
    }

    /// @notice A block proposal; honest ones come from the turn's leader with the right
    ///         parent, a valid global proof and accepted submitters in ascending order.
    function propose(uint256 taskSeed, uint256 actorSeed, uint256 countSeed, uint256 flaw, uint256 subset)
        external
    {
        VM.warp(now_);
        uint256 ti = taskSeed % _tasks.length;
        TaskGhost storage g = _tasks[ti];
        (address expected, uint32 leaderCount) = _leaderNow(ti);
        flaw %= 10; // 9 (and 0): no flaw; 8: the hand-overs left out
        Proposal memory p;
        p.sender = (flaw == 1 || expected == address(0)) ? _actors[actorSeed % _actors.length] : expected;
        p.round = flaw == 2 ? g.current + 1 : g.current;
        p.parent = flaw == 3 ? keccak256(abi.encode(g.head)) : g.head;
        p.count = g.minCount + uint32(countSeed % (NUM_SAMPLES - g.minCount + 1));
        if (flaw == 4 && g.minCount > 0) p.count = g.minCount - 1;
        p.commitment = uint256(keccak256(abi.encode("global", countSeed))) % R;
        p.accepted = _acceptedSubset(ti, p.round, subset, flaw == 5);
        // A hostile proposer (flaw 1) replays the leader's own global proof, as one that
        // copied the leader's pending transaction would; flaw 6 sends an invalid proof.
        address prover = flaw == 1 && expected != address(0) ? expected : p.sender;
        p.proof[0] = p.commitment + p.count + _globalTag(g.id, p.round, prover);
        if (flaw == 6) p.proof[0] += 1;
        uint256[8] memory aggregation = aggregationProof(g.id, p.round, p.commitment, p.accepted);
        if (flaw == 7) aggregation[0] += 1;
        // Flaw 8 leaves the turn's hand-overs out of the block instead of excluding them.
        IZKPoT.Exclusion[] memory excluded = flaw == 8
            ? new IZKPoT.Exclusion[](0)
            : _owedExclusions(ti, p.accepted);
        bool owesAny = _owedExclusions(ti, p.accepted).length > 0;
        bytes memory call = blockCall(
            g.id, p.round, p.parent, p.commitment, p.count, p.accepted, excluded, p.proof, aggregation
        );
        if (flaw == 0 && expected != address(0)) _frontRun(ti, expected, call);
        VM.prank(p.sender);
        (bool ok, bytes memory returned) = address(zkpot).call(call);
        if (!ok) return; // refused: the rules are checked only for what the ledger accepts
        require(p.round == g.current && g.current < g.rounds, "block for another round");
        require(_closed(ti), "block before the round closed");
        require(expected != address(0) && p.sender == expected, "block by a leader out of turn");
        require(p.parent == g.head, "block not linked to the head");
        require(p.count >= g.minCount && p.count <= NUM_SAMPLES, "global count out of range");
        require(flaw != 5 && flaw != 6 && flaw != 7, "invalid block accepted");
        require(flaw != 8 || !owesAny, "a block that leaves a hand-over out");
        require(p.accepted.length > 0, "a block that aggregates nothing");
        bytes32 computed = keccak256(
            abi.encode(
                g.id,
                p.round,
                p.parent,
                p.sender,
                leaderCount,
                p.commitment,
                p.count,
                keccak256(bytes(CID)),
                keccak256(abi.encode(p.accepted))
            )
        );
        require(abi.decode(returned, (bytes32)) == computed, "block hash is not the documented one");
        _appended(ti, p.round, computed, p.commitment, p.count, CID);
    }

    struct Proposal {
        address sender;
        uint32 round;
        bytes32 parent;
        uint256 commitment;
        uint32 count;
        address[] accepted;
        uint256[8] proof;
    }

    /// @dev Before an honest block: every other account sends the leader's own block (as
    ///      one that copied the leader's pending transaction would), and the leader sends a
    ///      valid block with another parent; the ledger must refuse each.
    function _frontRun(uint256 ti, address leader, bytes memory call) internal {
        for (uint256 i = 0; i < _actors.length; ++i) {
            if (_actors[i] == leader) continue;
            VM.prank(_actors[i]);
            (bool ok,) = address(zkpot).call(call);
            require(!ok, "block by a leader out of turn");
        }
        TaskGhost storage g = _tasks[ti];
        uint256[8] memory proof;
        proof[0] = 1 + g.minCount + _globalTag(g.id, g.current, leader);
        address[] memory own = new address[](1);
        own[0] = leader;
        bytes memory stray = blockCall(
            g.id,
            g.current,
            keccak256(abi.encode(g.head)),
            1,
            g.minCount,
            own,
            _owedExclusions(ti, own),
            proof,
            aggregationProof(g.id, g.current, 1, own)
        );
        VM.prank(leader);
        (bool linked,) = address(zkpot).call(stray);
        require(!linked, "block not linked to the head");
    }

    /// @notice The calldata of a block proposal: the one place that spells out
    ///         proposeBlock's arguments, so that a change to them changes this alone.
    function blockCall(
        uint256 id,
        uint32 round,
        bytes32 parent,
        uint256 commitment,
        uint32 count,
        address[] memory accepted,
        IZKPoT.Exclusion[] memory excluded,
        uint256[8] memory proof,
        uint256[8] memory aggregation
    ) public pure returns (bytes memory) {
        return abi.encodeCall(
            ZKPoT.proposeBlock,
            (id, round, parent, commitment, count, CID, accepted, excluded, proof, aggregation)
        );
    }

    /// @dev Every hand-over of the current turn that `accepted` leaves out, excluded by
    ///      showing its key, in ascending address order.
    function _owedExclusions(uint256 ti, address[] memory accepted)
        internal
        view
        returns (IZKPoT.Exclusion[] memory excluded)
    {
        TaskGhost storage g = _tasks[ti];
        uint256 turn = _turnNow(ti) + 1;
        address[] storage subs = _submitters[ti][g.current];
        address[] memory owed = new address[](subs.length);
        uint256 n = 0;
        for (uint256 i = 0; i < subs.length; ++i) {
            if (_handedTurn[ti][g.current][subs[i]] != turn) continue;
            bool listed = false;
            for (uint256 j = 0; j < accepted.length; ++j) {
                if (accepted[j] == subs[i]) listed = true;
            }
            if (!listed) owed[n++] = subs[i];
        }
        for (uint256 i = 0; i < n; ++i) {
            for (uint256 j = i + 1; j < n; ++j) {
                if (owed[j] < owed[i]) (owed[i], owed[j]) = (owed[j], owed[i]);
            }
        }
        excluded = new IZKPoT.Exclusion[](n);
        for (uint256 i = 0; i < n; ++i) {
            excluded[i] = IZKPoT.Exclusion(owed[i], KEY);
        }
    }

    /// @dev The leader turn of the current round of task `ti` now (0 before it closes).
    function _turnNow(uint256 ti) internal view returns (uint256) {
        TaskGhost storage g = _tasks[ti];
        uint256 deadline = g.openedAt + g.window;
        return now_ < deadline + g.window ? 0 : (now_ - deadline) / g.window;
    }

    /// @notice A stand-in aggregation proof of `accepted` for the statement the ledger
    ///         gives it (zero words where the ledger refuses the list itself).
    function aggregationProof(uint256 id, uint32 round, uint256 commitment, address[] memory accepted)
        public
        view
        returns (uint256[8] memory proof)
    {
        try zkpot.aggregationInputs(id, round, commitment, accepted) returns (uint256[] memory inputs) {
            for (uint256 i = 0; i < inputs.length; ++i) {
                proof[0] = addmod(proof[0], inputs[i], R);
            }
        } catch {}
    }

    /// @notice Anyone asks to skip the current round of a task.
    function skip(uint256 taskSeed, uint256 actorSeed) external {
        VM.warp(now_);
        uint256 ti = taskSeed % _tasks.length;
        TaskGhost storage g = _tasks[ti];
        (address expected,) = _leaderNow(ti);
        uint32 round = g.current;
        VM.prank(_actors[actorSeed % _actors.length]);
        try zkpot.skipRound(g.id, round) returns (bytes32 newHash) {
            require(round < g.rounds && _closed(ti), "skip before the round closed");
            require(expected == address(0), "skip while a leader holds its turn");
            bytes32 computed = keccak256(
                abi.encode(
                    g.id,
                    round,
                    g.head,
                    address(0),
                    uint32(0),
                    g.globalCommitment,
                    g.globalCount,
                    keccak256(bytes(g.globalCid)),
                    keccak256(abi.encode(new address[](0)))
                )
            );
            require(newHash == computed, "skipped block hash is not the documented one");
            _appended(ti, round, computed, g.globalCommitment, g.globalCount, g.globalCid);
        } catch {
            // refused: the rules are checked only for what the ledger accepts
        }
    }

    // ------------------------------------------------------------------ what the invariants read

    function taskCount() external view returns (uint256) {
        return _tasks.length;
    }

    function ghost(uint256 ti)
        external
        view
        returns (uint256 id, uint32 current, uint32 rounds, uint256 openedAt, uint32 window, bytes32 head)
    {
        TaskGhost storage g = _tasks[ti];
        return (g.id, g.current, g.rounds, g.openedAt, g.window, g.head);
    }

    function submittersOf(uint256 ti, uint32 round) external view returns (address[] memory) {
        return _submitters[ti][round];
    }

    /// @notice The leader the rules give the current turn of task `ti` (zero: none).
    function leaderNow(uint256 ti) external view returns (address, uint32) {
        return _leaderNow(ti);
    }

    /// @notice A valid block of the current round of task `ti` by `leader` (its own
    ///         submission accepted, valid global and aggregation proofs), as calldata.
    function honestBlock(uint256 ti, address leader) external view returns (bytes memory) {
        TaskGhost storage g = _tasks[ti];
        uint256[8] memory proof;
        uint256 commitment = 7;
        proof[0] = commitment + g.minCount + _globalTag(g.id, g.current, leader);
        address[] memory own = new address[](1);
        own[0] = leader;
        uint256[8] memory aggregation = aggregationProof(g.id, g.current, commitment, own);
        IZKPoT.Exclusion[] memory excluded = _owedExclusions(ti, own);
        return blockCall(
            g.id, g.current, g.head, commitment, g.minCount, own, excluded, proof, aggregation
        );
    }

    // ------------------------------------------------------------------ the rules, recomputed

    function _leaderNow(uint256 ti) internal view returns (address, uint32) {
        TaskGhost storage g = _tasks[ti];
        if (g.current >= g.rounds || !_closed(ti)) return (address(0), 0);
        return _leaderOfTurn(ti, _turnNow(ti));
    }

    /// @notice The leader the rules give turn `turn` of the current round of task `ti`.
    function leaderOfTurn(uint256 ti, uint256 turn) external view returns (address, uint32) {
        return _leaderOfTurn(ti, turn);
    }

    function _leaderOfTurn(uint256 ti, uint256 turn) internal view returns (address, uint32) {
        TaskGhost storage g = _tasks[ti];
        address[] storage subs = _submitters[ti][g.current];
        if (turn >= subs.length) return (address(0), 0);
        // The (turn+1)-th best: count descending, then tie-break rank ascending.
        address[] memory order = new address[](subs.length);
        for (uint256 i = 0; i < subs.length; ++i) {
            order[i] = subs[i];
        }
        for (uint256 i = 0; i < order.length; ++i) {
            for (uint256 j = i + 1; j < order.length; ++j) {
                if (_better(ti, g.current, order[j], order[i])) (order[i], order[j]) = (order[j], order[i]);
            }
        }
        return (order[turn], _counts[ti][g.current][order[turn]]);
    }

    function _better(uint256 ti, uint32 round, address a, address b) internal view returns (bool) {
        uint32 ca = _counts[ti][round][a];
        uint32 cb = _counts[ti][round][b];
        if (ca != cb) return ca > cb;
        return uint256(keccak256(abi.encode(round, a))) < uint256(keccak256(abi.encode(round, b)));
    }

    /// @dev The current round is closed: its deadline passed, or every member submitted.
    function _closed(uint256 ti) internal view returns (bool) {
        TaskGhost storage g = _tasks[ti];
        return now_ >= g.openedAt + g.window || _submitters[ti][g.current].length == g.members.length;
    }

    function _bindingTag(uint256 id, uint32 round, address sender) internal view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(zkpot), id, round, sender))) % R;
    }

    function _globalTag(uint256 id, uint32 round, address leader) internal view returns (uint256) {
        bytes32 domain = keccak256("zkpot.global-model");
        return uint256(keccak256(abi.encode(block.chainid, address(zkpot), id, round, leader, domain))) % R;
    }

    function _acceptedSubset(uint256 ti, uint32 round, uint256 subset, bool hostile)
        internal
        view
        returns (address[] memory accepted)
    {
        address[] storage subs = _submitters[ti][round];
        address[] memory chosen = new address[](subs.length + 1);
        uint256 n = 0;
        for (uint256 i = 0; i < subs.length; ++i) {
            if ((subset >> i) & 1 == 1) chosen[n++] = subs[i];
        }
        if (hostile) chosen[n++] = _actors[POOL]; // never a submitter
        accepted = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            accepted[i] = chosen[i];
        }
        for (uint256 i = 0; i < n; ++i) {
            for (uint256 j = i + 1; j < n; ++j) {
                if (accepted[j] < accepted[i]) (accepted[i], accepted[j]) = (accepted[j], accepted[i]);
            }
        }
    }

    function _appended(
        uint256 ti,
        uint32 round,
        bytes32 newHash,
        uint256 commitment,
        uint32 count,
        string memory cid
    ) internal {
        TaskGhost storage g = _tasks[ti];
        appended[ti][round] += 1;
        expectedHash[ti][round] = newHash;
        g.head = newHash;
        g.globalCommitment = commitment;
        g.globalCount = count;
        g.globalCid = cid;
        g.current = round + 1;
        g.openedAt = now_;
    }

    function _register(uint256 size, uint32 window, uint32 rounds, uint32 minCount) internal {
        IZKPoT.TaskParams memory p = _params(size, window, rounds, minCount);
        address publisher = _actors[_tasks.length % _actors.length];
        VM.prank(publisher);
        uint256 id = zkpot.registerTask(p);
        TaskGhost storage g = _tasks.push();
        g.id = id;
        g.window = window;
        g.rounds = rounds;
        g.minCount = minCount;
        g.members = p.participants;
        g.openedAt = now_;
        g.head = keccak256(abi.encode(block.chainid, address(zkpot), id, publisher, keccak256(abi.encode(p))));
        g.globalCommitment = p.initialCommitment;
        g.globalCid = p.initialCid;
        require(zkpot.genesisHash(id) == g.head, "genesis hash is not the documented one");
    }

    function _params(uint256 size, uint32 window, uint32 rounds, uint32 minCount)
        internal
        view
        returns (IZKPoT.TaskParams memory p)
    {
        p.verifier = address(verifier);
        p.testSetHash = keccak256("test set");
        p.testSetCid = CID;
        p.modelSpecHash = keccak256("model spec");
        p.minCount = minCount;
        p.numSamples = NUM_SAMPLES;
        p.rounds = rounds;
        p.window = window;
        p.initialCommitment = 12345;
        p.initialCid = CID;
        p.participants = new address[](size);
        p.participantKeys = new bytes32[](size);
        p.sampleCounts = new uint32[](size);
        p.aggregator = address(aggregator);
        p.paddingCommitment = 777;
        // Rotate the pool so that tasks differ in who is registered and in which order.
        for (uint256 i = 0; i < size; ++i) {
            p.participants[i] = _actors[(i + _tasks.length) % POOL];
            p.participantKeys[i] = bytes32(i + 1);
            p.sampleCounts[i] = uint32(10 * (i + 1));
        }
    }

    function _isMember(TaskGhost storage g, address a) internal view returns (bool) {
        for (uint256 i = 0; i < g.members.length; ++i) {
            if (g.members[i] == a) return true;
        }
        return false;
    }
}

/// @title The ledger's invariants under random sequences of transactions (see ZKPoTHandler)
/// @notice After every transaction of every sequence, for every task: one block per round,
///         blocks hash-linked from genesis, only the turn's leader proposes, no submission
///         after the deadline, no double submission, and the round always ends. The
///         handler checks the per-transaction rules as it goes; the functions below check
///         the state they leave.
contract ZKPoTInvariants {
    ZKPoTHandler internal handler;

    function setUp() external {
        handler = new ZKPoTHandler();
    }

    /// @dev Forge fuzzes the handler only.
    function targetContracts() external view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @notice One block per round, appended in round order; the ledger's chain is the one
    ///         recomputed from the documented hash, linked from genesis to the head.
    function invariant_oneBlockPerRoundAndHashLinked() external view {
        ZKPoT zkpot = handler.zkpot();
        for (uint256 ti = 0; ti < handler.taskCount(); ++ti) {
            (uint256 id, uint32 current, uint32 rounds,,, bytes32 head) = handler.ghost(ti);
            IZKPoT.Task memory t = zkpot.task(id);
            require(t.currentRound == current, "rounds appended differ from the blocks accepted");
            require(current <= rounds, "more rounds than the task has");
            bytes32 parent = t.genesisHash;
            for (uint32 r = 0; r < current; ++r) {
                require(handler.appended(ti, r) == 1, "not exactly one block in a finalized round");
                bytes32 h = zkpot.blockHash(id, r);
                require(h != bytes32(0) && h == handler.expectedHash(ti, r), "block hash differs");
                require(h != parent, "a block is its own parent");
                parent = h;
            }
            require(handler.appended(ti, current) == 0, "a block in an unfinished round");
            if (current < rounds) require(zkpot.blockHash(id, current) == bytes32(0), "block ahead of the head");
            (bytes32 headHash, uint32 next) = zkpot.head(id);
            require(headHash == parent && headHash == head && next == current, "head is not the chain's tip");
        }
    }

    /// @notice No double submission: the ledger counts each submitter once, never more than
    ///         the registry, and reports exactly the submissions the rules allowed.
    function invariant_submissionsCountedOnce() external {
        VM.warp(handler.now_());
        ZKPoT zkpot = handler.zkpot();
        for (uint256 ti = 0; ti < handler.taskCount(); ++ti) {
            (uint256 id, uint32 current, uint32 rounds,,,) = handler.ghost(ti);
            if (current >= rounds) continue;
            address[] memory subs = handler.submittersOf(ti, current);
            IZKPoT.RoundView memory v = zkpot.roundState(id, current);
            require(v.submitted == subs.length, "submissions counted differ");
            require(v.submitted <= zkpot.task(id).participantCount, "more submissions than participants");
            for (uint256 i = 0; i < subs.length; ++i) {
                require(zkpot.submission(id, current, subs[i]).submitted, "a submission is missing");
            }
        }
    }

    /// @dev At the start of each turn still ahead, the ledger names the leader the rules
    ///      give that turn (time moves forward only; the caller reverts the state after).
    function _checkLaterTurns(ZKPoT zkpot, uint256 ti) internal {
        (uint256 id, uint32 current,, uint256 openedAt, uint32 window,) = handler.ghost(ti);
        uint256 submitted = handler.submittersOf(ti, current).length;
        for (uint256 turn = 1; turn < submitted; ++turn) {
            uint256 start = openedAt + window + turn * window;
            if (start <= handler.now_()) continue;
            VM.warp(start);
            (address expected,) = handler.leaderOfTurn(ti, turn);
            require(zkpot.roundState(id, current).leader == expected, "ledger's leader of a later turn differs");
        }
    }

    /// @notice The ledger names the leader the rules give the current turn and each later
    ///         one, and the round always ends: now, the turn's leader can append a valid
    ///         block; and at the end of the last turn (the deadline if nobody submitted),
    ///         anyone can skip the round, while one second earlier a leader still holds it.
    function invariant_leaderAndRoundAlwaysEnds() external {
        ZKPoT zkpot = handler.zkpot();
        address outsider = address(uint160(0x10000 + handler.POOL()));
        for (uint256 ti = 0; ti < handler.taskCount(); ++ti) {
            VM.warp(handler.now_());
            (uint256 id, uint32 current, uint32 rounds, uint256 openedAt, uint32 window,) = handler.ghost(ti);
            if (current >= rounds) continue;
            (address leader,) = handler.leaderNow(ti);
            IZKPoT.RoundView memory v = zkpot.roundState(id, current);
            if (v.status == IZKPoT.RoundStatus.Closed) require(v.leader == leader, "ledger's leader differs");

            uint256 snapshot = VM.snapshotState();
            _checkLaterTurns(zkpot, ti);
            VM.revertToState(snapshot);
            VM.warp(handler.now_());
            snapshot = VM.snapshotState();
            if (leader != address(0)) {
                bytes memory call = handler.honestBlock(ti, leader);
                VM.prank(leader);
                (bool ok,) = address(zkpot).call(call);
                require(ok, "the leader's valid block was refused");
                require(zkpot.task(id).currentRound == current + 1, "the leader's block did not end the round");
                VM.revertToState(snapshot);
                snapshot = VM.snapshotState();
            }
            uint256 submitted = handler.submittersOf(ti, current).length;
            uint256 end = openedAt + window + submitted * window;
            if (end < handler.now_()) end = handler.now_();
            if (submitted > 0 && end - 1 >= handler.now_()) {
                VM.warp(end - 1);
                VM.prank(outsider);
                try zkpot.skipRound(id, current) {
                    revert("skipped while a leader held its turn");
                } catch {}
            }
            VM.warp(end);
            VM.prank(outsider);
            zkpot.skipRound(id, current);
            require(zkpot.task(id).currentRound == current + 1, "the skip did not end the round");
            VM.revertToState(snapshot);
        }
    }
}
