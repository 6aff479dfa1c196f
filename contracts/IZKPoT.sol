// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The part of a task verifier that the ledger calls (see Groth16Verifier.sol).
interface IZKPoTVerifier {
    function verifyProof(uint256[8] calldata proof, uint256[3] calldata input)
        external
        view
        returns (bool);
}

/// @notice The part of a task's aggregation verifier that the ledger calls (see
///         AggregationVerifier.sol): inputs [global commitment, (commitment, weight) per slot].
interface IAggregationVerifier {
    function capacity() external view returns (uint256);

    function verifyProof(uint256[8] calldata proof, uint256[] calldata input)
        external
        view
        returns (bool);
}

/// @title The ZKPoT ledger's types, events and errors (implemented by ZKPoT.sol)
/// @notice Structs are what a publisher registers and what the views return; each custom
///         error is one rule of the round (zkpot.protocol.errors mirrors them in Python).
interface IZKPoT {
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
        uint32[] sampleCounts; // their registered sample counts (FedAvg weights), same order
        address aggregator; // Groth16 verifier of the task's aggregation circuit
        uint256 paddingCommitment; // commitment of an empty aggregation slot
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
        // slot 2: what proposeBlock() needs to check the aggregate
        address aggregator;
        uint16 capacity; // aggregation slots: the most models one block may aggregate
        bytes32 testSetHash;
        bytes32 modelSpecHash;
        uint256 initialCommitment;
        bytes32 genesisHash;
        uint256 paddingCommitment;
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

    /// @notice A leader's exclusion of a submission that handed it a key (see proposeBlock):
    ///         `key` is the package key the hand-over carried (it must hash to the
    ///         hand-over's keyHash), or zero for a hand-over that the leader contested
    ///         and its submitter did not re-open in time.
    struct Exclusion {
        address submitter;
        bytes32 key;
    }

    /// @notice A submitter's latest hand-over in a round (returned by `handOverState`).
    struct HandOver {
        uint32 turn; // the leader turn it was made in, plus one (0: none)
        uint40 contestedAt; // when that turn's leader contested it (0: never)
        bool reopened; // whether its submitter re-opened the key on chain
        bytes32 keyHash; // keccak256 of the package key it carries
    }

    /// @notice A submission as seen by clients (returned by `submission`).
    struct SubmissionView {
        bool submitted;
        bool accepted; // listed as accepted in the round block
        uint32 count;
        uint256 commitment;
    }

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
    ///         package, sealed to the leader's X25519 key (an 80-byte sealed box), and
    ///         commits to it by its keccak256 hash.
    event HandedOver(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed submitter,
        address leader,
        bytes sealedKey,
        bytes32 keyHash
    );
    /// @notice The turn's leader says a hand-over's sealed key does not open: its submitter
    ///         may re-open the key on chain until `respondBy` (exclusive).
    event Contested(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed submitter,
        address leader,
        uint256 respondBy
    );
    /// @notice A submitter publishes its package key (it hashes to its hand-over's keyHash).
    event Reopened(
        uint256 indexed taskId, uint32 indexed round, address indexed submitter, bytes32 key
    );
    /// @notice A block leaves out a submission that handed its leader a key (see Exclusion).
    event Excluded(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed submitter,
        address leader,
        bytes32 key
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
    error EmptyAggregate();
    error TooManyContributions(uint256 accepted, uint256 capacity);
    error InvalidAggregationProof();
    error DuplicateHandOver(address account);
    error NotHandedOver(address account);
    error AlreadyContested(address account);
    error AlreadyReopened(address account);
    error KeyMismatch(address account);
    error ExcludedNotSorted(uint256 index);
    error ExcludedAndAccepted(address account);
    error ExclusionNotShown(address account);
    error HandOverLeftOut(address account);
}
