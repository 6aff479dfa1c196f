"""One harness per decoder of bytes that another party (or the disk) hands a node.

Each harness feeds its input to one decoder and accepts exactly two outcomes: a value, or
the decoder's documented exception. Anything else (another exception, a panic across
the FFI, an abort, an allocation beyond the fuzzer's RSS limit) is a crash.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class Harness:
    name: str
    doc: str
    check: Callable[[bytes], None]


@cache
def _workdir() -> Path:
    """A scratch directory for the harnesses that read files: the one ``fuzz.run`` made for
    this child (``ZKPOT_FUZZ_WORKDIR``, removed by it), else a new one removed at exit."""
    if "ZKPOT_FUZZ_WORKDIR" in os.environ:
        return Path(os.environ["ZKPOT_FUZZ_WORKDIR"])
    path = Path(tempfile.mkdtemp(prefix="zkpot-fuzz-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# The fixed X25519 identity the global-package seeds are sealed to (public test keys).
RECIPIENT_PRIVATE = bytes(range(1, 33))
RECIPIENT_ADDRESS = "0x" + "ab" * 20


# The Rust decoders are not instrumented, so coverage alone would not lead libFuzzer into
# them: an input whose first byte is odd is instead a recipe of edits to the committed
# valid seed (the largest file of the harness's corpus), aimed at its length fields.


@cache
def _seed(name: str) -> bytes:
    return max((p.read_bytes() for p in (CORPUS / name).iterdir()), key=len)


def _spec_end(key: bytes) -> int:
    """Where a key's model spec (after the 8-byte magic) ends."""
    (layers,) = struct.unpack_from("<I", key, 8)
    return 8 + 4 + 4 * layers + 4 * (layers - 2) + 16


def _pk_length_fields(key: bytes) -> list[int]:
    """Offsets of every u64 length in a proving key: test set, the arkworks key's vectors
    (gamma_abc, five queries) and the matrices' counts."""
    off = _spec_end(key)
    fields = [off]  # dim
    off += 8
    for _ in range(2):  # inputs, labels
        fields.append(off)
        off += 8 + struct.unpack_from("<Q", key, off)[0]
    return fields + _groth16_length_fields(key, off)


def _aggregation_length_fields(key: bytes) -> list[int]:
    """Offsets of every u64 length in an aggregation key: the capacity, the arkworks key's
    vectors and the matrices' counts."""
    off = _spec_end(key)
    return [off, *_groth16_length_fields(key, off + 8 + 4)]


def _groth16_length_fields(key: bytes, off: int) -> list[int]:
    """Offsets of the u64 lengths of an arkworks proving key at ``off`` (gamma_abc, five
    queries) and of the matrices' counts after it."""
    fields: list[int] = []
    off += 64 + 3 * 128
    for size in (64, None, 64, 64, 128, 64, 64):
        if size is None:  # beta_g1, delta_g1
            off += 128
            continue
        fields.append(off)
        off += 8 + size * struct.unpack_from("<Q", key, off)[0]
    fields += [off, off + 8, off + 16, off + 24]  # instance, witness, constraints, coefficients
    return fields


_LENGTHS = [0, 1, 2, 3, 4, 5, 2**16, 2**31, 2**32 - 1, 2**32, 2**40, 2**63, 2**64 - 1]


def _edited(seed: bytes, recipe: bytes, fields: list[int]) -> bytes:
    """``seed`` with the edits of ``recipe``: 4-byte steps of (kind, where, value)."""
    out = bytearray(seed)
    for i in range(1, len(recipe) - 3, 4):
        kind, where, value = recipe[i] % 4, int.from_bytes(recipe[i + 1 : i + 3]), recipe[i + 3]
        if kind == 0 and fields:  # a length field set to a boundary or a random value
            at = fields[where % len(fields)]
            n = _LENGTHS[value % len(_LENGTHS)] if value < 200 else int.from_bytes(recipe[i:])
            out[at : at + 8] = (n % 2**64).to_bytes(8, "little")
        elif kind == 1 and out:  # one byte anywhere
            out[(where * 257 + value) % len(out)] ^= value or 1
        elif kind == 2:  # truncated
            del out[(where * 131) % (len(out) + 1) :]
        else:  # bytes inserted
            at = (where * 131) % (len(out) + 1)
            out[at:at] = bytes([value]) * (value % 9)
    return bytes(out)


def _input(name: str, data: bytes, fields: Callable[[bytes], list[int]]) -> bytes:
    if data and data[0] & 1:
        seed = _seed(name)
        return _edited(seed, data, fields(seed))
    return data


def proving_key(data: bytes) -> None:
    from zkpot import _prover

    data = _input("proving_key", data, _pk_length_fields)
    with contextlib.suppress(_prover.ProverError):
        _prover.ProvingKey.from_bytes(data)


def aggregation_key(data: bytes) -> None:
    from zkpot import _prover

    data = _input("aggregation_key", data, _aggregation_length_fields)
    with contextlib.suppress(_prover.ProverError):
        _prover.AggregationKey.from_bytes(data)


def verifying_key(data: bytes) -> None:
    from zkpot import _prover

    # Compressed: magic, alpha (32), beta, gamma, delta (64 each), then gamma_abc's length.
    data = _input("verifying_key", data, lambda _: [8 + 32 + 3 * 64])
    try:
        vk = _prover.VerifyingKey.from_bytes(data)
    except _prover.ProverError:
        return
    assert _prover.VerifyingKey.from_bytes(vk.to_bytes()) == vk


def proof(data: bytes) -> None:
    from zkpot import _prover

    data = _input("proof", data, lambda _: [])
    try:
        p = _prover.Proof.from_bytes(data)
    except _prover.ProverError:
        return
    assert p.to_bytes() == data


def quantized_model(data: bytes) -> None:
    from zkpot.learning.integer_model import QuantizationError, QuantizedModel

    try:
        model = QuantizedModel.from_bytes(data)
    except QuantizationError:
        return
    assert model.to_bytes() == data


def model_package(data: bytes) -> None:
    from zkpot.exchange import ExchangeError, ModelPackage

    try:
        package = ModelPackage.from_bytes(data)
    except ExchangeError:
        return
    assert package.to_bytes() == data


def global_package(data: bytes) -> None:
    from zkpot.exchange import ExchangeError, open_global

    with contextlib.suppress(ExchangeError):
        open_global(data, RECIPIENT_ADDRESS, RECIPIENT_PRIVATE)


def params_blob(data: bytes) -> None:
    from zkpot.exchange import ExchangeError, params_from_bytes, params_to_bytes

    try:
        params = params_from_bytes(data)
    except ExchangeError:
        return
    assert params_to_bytes(params) == data


def task_manifest(data: bytes) -> None:
    from zkpot.node.manifest import ManifestError, TaskManifest

    with contextlib.suppress(ManifestError):
        TaskManifest.from_bytes(data)


def task_file(data: bytes) -> None:
    from zkpot.node.manifest import ManifestError, TaskRef

    path = _workdir() / "task.json"
    path.write_bytes(data)
    try:
        ref = TaskRef.read(path)
    except ManifestError:
        return
    assert TaskRef.from_json(ref.to_json()) == ref


def state_file(data: bytes) -> None:
    from zkpot.node.state import ParticipantState, StateError

    path = _workdir() / "state.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(data)
    try:
        with ParticipantState(path) as state:
            state.records()
    except StateError:
        pass


def store_blocks(data: bytes) -> None:
    """The first byte picks the codec of a root block; the rest is the block. The block's
    own CID names it, so the walk reaches the decoding of a hostile node."""
    from zkpot.store.cid import block_cid, parse_cid, read_dag
    from zkpot.store.errors import NotFoundError, StoreError

    if not data:
        return
    codec = "raw" if data[0] & 1 else "dag-pb"
    block = data[1:]
    root = block_cid(block, codec)
    blocks = {str(root): block}

    def load(cid: object) -> bytes:
        try:
            return blocks[str(cid)]
        except KeyError:
            raise NotFoundError(str(cid)) from None

    with contextlib.suppress(StoreError):
        assert read_dag(str(root), load) is not None
    with contextlib.suppress(StoreError):
        parse_cid(block.decode("utf-8", "replace"))


def key_file(data: bytes) -> None:
    from zkpot.node.keys import KeyFileError, read_key_file

    path = _workdir() / "node.key"
    path.write_bytes(data)
    path.chmod(0o600)
    with contextlib.suppress(KeyFileError):
        read_key_file(path)


def participants_file(data: bytes) -> None:
    """What ``zkpot keygen`` prints, one line per participant, as the publisher reads it."""
    from zkpot.node.keys import KeyFileError, read_participants_file

    path = _workdir() / "participants.jsonl"
    path.write_bytes(data)
    with contextlib.suppress(KeyFileError):
        read_participants_file(path)


def sealed_key(data: bytes) -> None:
    """A package key sealed to this node (a hand-over), and a package encrypted under a key
    (the first 32 bytes)."""
    from zkpot.store.sealed import SealError, decrypt, unseal

    with contextlib.suppress(SealError):
        unseal(data, RECIPIENT_PRIVATE)
    with contextlib.suppress(SealError):
        decrypt(data[:32], data[32:])


HARNESSES = {
    h.name: h
    for h in [
        Harness("proving_key", "ProvingKey.from_bytes: ProverError", proving_key),
        Harness("aggregation_key", "AggregationKey.from_bytes: ProverError", aggregation_key),
        Harness("verifying_key", "VerifyingKey.from_bytes: ProverError", verifying_key),
        Harness("proof", "Proof.from_bytes: ProverError", proof),
        Harness("quantized_model", "QuantizedModel.from_bytes: QuantizationError", quantized_model),
        Harness("model_package", "ModelPackage.from_bytes: ExchangeError", model_package),
        Harness("global_package", "open_global: ExchangeError", global_package),
        Harness("params_blob", "params_from_bytes: ExchangeError", params_blob),
        Harness("task_manifest", "TaskManifest.from_bytes: ManifestError", task_manifest),
        Harness("task_file", "TaskRef.read: ManifestError", task_file),
        Harness("state_file", "ParticipantState: StateError", state_file),
        Harness("store_blocks", "read_dag, parse_cid: StoreError", store_blocks),
        Harness("key_file", "read_key_file: KeyFileError", key_file),
        Harness("participants_file", "read_participants_file: KeyFileError", participants_file),
        Harness("sealed_key", "unseal, decrypt: SealError", sealed_key),
    ]
}

__all__ = ["HARNESSES", "Harness"]


def test_set_npz(data: bytes) -> None:
    """The test set of a task directory (``zkpot verify --task``): an npz archive."""
    from zkpot.learning.integer_model import ModelSpec
    from zkpot.onramp.artefacts import ArtefactError, _test_set

    spec = ModelSpec((64, 2, 10), (4,), input_bits=4, weight_bits=4, bias_bits=8, act_bits=4)
    with contextlib.suppress(ArtefactError):
        _test_set(Path("test_set.npz"), data, spec)


def proof_file(data: bytes) -> None:
    """A proof file (``zkpot verify``), JSON with the proof in hex."""
    from zkpot.onramp.artefacts import ArtefactError, read_proof

    path = _workdir() / "proof.json"
    path.write_bytes(data)
    with contextlib.suppress(ArtefactError):
        read_proof(path)


HARNESSES["test_set_npz"] = Harness(
    "test_set_npz", "a task's test set: ArtefactError", test_set_npz
)
HARNESSES["proof_file"] = Harness("proof_file", "read_proof: ArtefactError", proof_file)
