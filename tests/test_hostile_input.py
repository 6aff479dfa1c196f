"""Hand-made hostile inputs for every decoder of untrusted bytes: each returns a value or
raises its documented exception (never another one, never an allocation that the input
does not pay for). Each case is an input that once broke that rule, or its class."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zkpot import _prover, proving
from zkpot.exchange import ExchangeError, open_global, params_from_bytes, params_to_bytes
from zkpot.learning.integer_model import ModelSpec, QuantizationError, QuantizedModel
from zkpot.node.keys import KeyFileError, read_key_file, read_participants_file
from zkpot.node.manifest import ManifestError, TaskManifest, TaskRef
from zkpot.onramp.artefacts import ArtefactError, _test_set, read_proof
from zkpot.protocol import hashes
from zkpot.proving import AccuracyCircuit, setup
from zkpot.store.cid import block_cid, read_dag
from zkpot.store.errors import IntegrityError
from zkpot.store.unixfs import PBLink, PBNode, encode_file_data, encode_pbnode

DEEP = b"[" * 200_000
NOT_UTF8 = b'{"format": "\xff\xfe"}'
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("data", [NOT_UTF8, DEEP])
def test_key_participants_and_task_files(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(KeyFileError):
        read_key_file(_write(tmp_path, "a.key", data))
    with pytest.raises(KeyFileError):
        read_participants_file(_write(tmp_path, "p.jsonl", data))
    with pytest.raises(ManifestError):
        TaskRef.read(_write(tmp_path, "task.json", data))
    with pytest.raises(ManifestError):
        TaskManifest.from_bytes(data)
    with pytest.raises(ExchangeError):
        open_global(data, "0x" + "11" * 20, bytes(32))
    with pytest.raises(QuantizationError):
        QuantizedModel.from_bytes(b"ZKPOTQM\x00" + struct.pack("<HI", 1, len(data)) + data)
    with pytest.raises(ArtefactError):
        read_proof(_write(tmp_path, "proof.json", data))


def _ref(**changes: object) -> bytes:
    doc = {"format": "zkpot-task-ref/v1", "chain_id": 1, "zkpot": "0x" + "11" * 20,
           "task_id": 1, "manifest": CID, **changes}  # fmt: skip
    return json.dumps(doc).encode().replace(b'"INF"', b"Infinity")


@pytest.mark.parametrize(
    "changes",
    [{"task_id": -1}, {"task_id": 2**256}, {"task_id": "1"}, {"task_id": 1.0},
     {"chain_id": "INF"}, {"chain_id": True}, {"manifest": "not a cid"}, {"manifest": 7}],
)  # fmt: skip
def test_a_task_file_holds_exact_integers_and_a_cid(tmp_path: Path, changes: dict) -> None:
    assert TaskRef.read(_write(tmp_path, "ok.json", _ref())).task_id == 1
    with pytest.raises(ManifestError):
        TaskRef.read(_write(tmp_path, "task.json", _ref(**changes)))


def test_a_manifest_field_of_the_wrong_type_is_refused() -> None:
    spec = ModelSpec((4, 2), ())
    doc = {"format": "zkpot-task/v2", "name": "t", "dataset": "digits", "spec": spec.to_dict(),
           "threshold": 0.5, "rounds": 1, "window": 60, "test_samples": 1, "seed": 0,
           "test_set_cid": CID, "test_set_hash": "00", "model_spec_hash": "00",
           "proving_key_cid": CID, "verifying_key_cid": CID, "verifier": "0x00",
           "constraints": 1, "weight_scales": [0.01], "aggregation_key_cid": CID,
           "aggregator": "0x00"}  # fmt: skip
    assert TaskManifest.from_bytes(json.dumps(doc).encode()).rounds == 1
    for key, value in [("name", 3), ("proving_key_cid", None), ("threshold", "high"),
                       ("threshold", 2), ("rounds", 2**64), ("window", -1),
                       ("weight_scales", [0.01, 0.02]), ("weight_scales", [-1.0]),
                       ("weight_scales", [True]), ("weight_scales", "0.01"),
                       ("aggregation_key_cid", 5), ("aggregator", None)]:  # fmt: skip
        with pytest.raises(ManifestError, match=key):
            TaskManifest.from_bytes(json.dumps({**doc, key: value}).encode())


def _blob(*shapes: tuple[int, ...], payload: bytes = b"") -> bytes:
    out = b"ZKPOTPRM" + struct.pack("<I", len(shapes))
    for shape in shapes:
        out += struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *shape)
    return out + payload


@pytest.mark.parametrize(
    "data",
    [
        _blob((2**32 * 3, 0x2F00000000000000 + 12)),  # the product wraps to 0 in int64
        _blob((0, 2**60)),  # empty, with an axis numpy cannot allocate
        _blob(()),  # a scalar, which params_to_bytes never writes
        b"ZKPOTPRM" + struct.pack("<II", 1, 2**32 - 1),  # 2^32 axes declared
    ],
)
def test_a_parameter_blob_pays_for_its_shapes(data: bytes) -> None:
    with pytest.raises(ExchangeError):
        params_from_bytes(data)
    good = [np.ones((2, 3)), np.zeros(4)]
    assert [p.shape for p in params_from_bytes(params_to_bytes(good))] == [(2, 3), (4,)]


def test_a_dag_node_linking_to_a_non_cid_is_an_integrity_error() -> None:
    data = encode_file_data(6, [3, 3])
    node = encode_pbnode(PBNode((PBLink(b"\x01\x55\x99\xff\xff", "", 3),) * 2, data))
    root = block_cid(node, "dag-pb")
    with pytest.raises(IntegrityError, match="not a UnixFS file node"):
        read_dag(str(root), lambda cid: node)


def _npz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return np.lib.format.magic(1, 0) + header.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04 not a zip",
        _npz({"x.npy": _npy_header((10**12, 64), "|u1"), "y.npy": _npy_header((1,), "<i8")}),
        _npz({"x.npy": b"\x93NUMPY", "y.npy": b""}),
        _npz({"x.npy": b"", "y.npy": b"", "z.npy": b""}),
    ],
)
def test_a_test_set_archive_declares_only_what_it_holds(data: bytes) -> None:
    spec = ModelSpec((64, 10), ())
    with pytest.raises(ArtefactError):
        _test_set(Path("test_set.npz"), data, spec)
    good = io.BytesIO()
    np.savez_compressed(good, x=np.zeros((2, 64), np.uint8), y=np.array([1, 2]))
    x, y = _test_set(Path("test_set.npz"), good.getvalue(), spec)
    assert x.shape == (2, 64) and list(y) == [1, 2]


def test_a_proving_key_with_corrupted_lengths_is_a_prover_error() -> None:
    spec = ModelSpec((3, 2), (), input_bits=2, weight_bits=3, bias_bits=4, act_bits=2)
    x, y = np.array([[0, 1, 2], [3, 2, 1]], np.uint8), np.array([0, 1])
    pk, _ = setup(AccuracyCircuit(spec, x, y))
    key = pk.to_bytes()
    # The u64 after the uncompressed vk's four points is gamma_abc's length (4).
    vk_at = 8 + 4 + 4 * 2 + 16 + 8 + 8 + 6 + 8 + 2
    at = vk_at + 64 + 3 * 128
    assert struct.unpack_from("<Q", key, at)[0] == 4
    for value in (5, 2**40, 2**64 - 1):
        bad = key[:at] + struct.pack("<Q", value) + key[at + 8 :]
        with pytest.raises(_prover.ProverError, match="proving key"):
            _prover.ProvingKey.from_bytes(bad)
    assert _prover.ProvingKey.from_bytes(key).num_constraints == pk.num_constraints


def test_nesting_is_measured_outside_strings() -> None:
    from zkpot import safejson

    assert safejson.nesting(b'{"a": [1, {"b": "[[[[{{{{"}], "c": "\\"]]"}') == 3
    assert safejson.loads('{"a": "[[[[[[[["}', max_depth=1) == {"a": "[[[[[[[["}
    assert safejson.loads(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(ValueError, match="deeper"):
        safejson.loads(b"[" * 65 + b"]" * 65)


@pytest.mark.parametrize(
    "words",
    [
        [1, 2] * 4,  # points off the curve
        [0] * 7,
        [0] * 9,
        [2**256] + [0] * 7,
        [-1] + [0] * 7,
        [True] + [0] * 7,
        "01234567",
        [hashes.BASE_FIELD] + [0] * 7,  # a coordinate that is not reduced
    ],
)
def test_proof_words_from_a_transaction_are_checked(words) -> None:
    """A block's proof words come from calldata: anything but 8 words of curve points is
    refused with a clear error, never a panic."""
    with pytest.raises((ValueError, _prover.ProverError)):
        proving.proof_from_evm(words)
    assert proving.proof_from_evm([0] * 8).to_evm() == [0] * 8  # all at infinity
