"""The files of a standalone accuracy proof: a task directory and a proof file.

A task directory (written by ``zkpot task create``) holds

* ``task.json``: format, name, dataset, model spec, threshold, test-set seed and size, and
  the sha256 of every other file;
* ``test_set.npz``: the public test set (``x`` uint8 ``n x d``, ``y`` int64 ``n``), whose
  :func:`~zkpot.learning.datasets.test_set_hash` is also recorded;
* ``pk.bin``, ``vk.bin``: the Groth16 keys in the prover's canonical byte format;
* ``Verifier.sol``: a Solidity verifier with the verifying key built in.

A proof file (``zkpot prove``) is JSON: the task's digest, the public statement
(commitment, count, tag), the label the tag binds and the proof bytes. The commitment's
salt goes to a separate file, which stays with the prover.

Every file read here comes from someone else, so each is checked before use: schema,
types, ranges, hashes, and that the keys belong to the test set and spec they claim.
:class:`ArtefactError` names the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkpot import proving, safejson
from zkpot.learning.datasets import test_set_hash
from zkpot.learning.integer_model import ModelSpec, QuantizationError, QuantizedModel
from zkpot.ledger.verifier import export_solidity_verifier
from zkpot.protocol import Task

__all__ = [
    "PROOF_FORMAT",
    "TASK_FORMAT",
    "ArtefactError",
    "ProofFile",
    "TaskDir",
    "read_model",
    "read_proof",
    "read_salt",
    "statement_tag",
    "write_proof",
    "write_task",
]

TASK_FORMAT = "zkpot-task/1"
PROOF_FORMAT = "zkpot-proof/1"
SALT_FORMAT = "zkpot-salt/1"
_TAG_DOMAIN = b"zkpot/standalone-tag/v1\x00"
#: Upper bounds on what a reader loads, so a hostile file cannot exhaust memory.
_MAX_JSON = 1 << 20
_MAX_TEST_SET = 64 << 20
_MAX_KEY = 1 << 30
_FILES = ("test_set.npz", "pk.bin", "vk.bin", "Verifier.sol")


class ArtefactError(ValueError):
    """A task directory, proof, salt or model file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class TaskDir:
    """A task directory, read and checked."""

    path: Path
    task: Task
    seed: int
    pk: proving.ProvingKey | None
    vk: proving.VerifyingKey
    digest: bytes

    @classmethod
    def read(cls, path: Path, with_pk: bool = False) -> TaskDir:
        """Read ``path``; the proving key (large) only when ``with_pk``."""
        meta_file = path / "task.json"
        raw = _read(meta_file, _MAX_JSON)
        meta = _json(meta_file, raw)
        _expect_keys(
            meta_file,
            meta,
            {
                "format",
                "name",
                "dataset",
                "spec",
                "threshold",
                "seed",
                "test_samples",
                "test_set_hash",
                "sha256",
            },
        )
        if meta["format"] != TASK_FORMAT:
            raise ArtefactError(f"{meta_file}: format {meta['format']!r}, expected {TASK_FORMAT!r}")
        hashes = meta["sha256"]
        if not isinstance(hashes, dict) or set(hashes) != set(_FILES):
            raise ArtefactError(f"{meta_file}: 'sha256' must name exactly {', '.join(_FILES)}")
        contents = {}
        for name in _FILES:
            if name == "pk.bin" and not with_pk:
                continue
            limit = _MAX_KEY if name == "pk.bin" else _MAX_TEST_SET
            contents[name] = _read_pinned(path / name, hashes[name], limit)
        try:
            spec = ModelSpec.from_dict(meta["spec"])
        except (ValueError, TypeError) as exc:
            raise ArtefactError(f"{meta_file}: invalid model spec ({exc})") from exc
        x, y = _test_set(path / "test_set.npz", contents["test_set.npz"], spec)
        if test_set_hash(x, y).hex() != meta["test_set_hash"]:
            raise ArtefactError(
                f"{path / 'test_set.npz'}: its test-set hash differs from task.json"
            )
        if len(y) != meta["test_samples"]:
            raise ArtefactError(f"{meta_file}: test_samples differs from the test set's size")
        seed = meta["seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ArtefactError(f"{meta_file}: seed must be a non-negative integer")
        threshold = meta["threshold"]
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise ArtefactError(f"{meta_file}: threshold must be a number in [0, 1]")
        for key in ("name", "dataset"):
            if not isinstance(meta[key], str):
                raise ArtefactError(f"{meta_file}: {key} must be a string")
        try:
            task = Task(meta["name"], meta["dataset"], spec, x, y, float(threshold), 1, 3600)
        except ValueError as exc:
            raise ArtefactError(f"{path}: not a consistent task ({exc})") from exc
        vk = _key(path / "vk.bin", proving.VerifyingKey, contents["vk.bin"])
        pk = None
        if with_pk:
            pk = _key(path / "pk.bin", proving.ProvingKey, contents["pk.bin"])
            if pk.verifying_key().to_bytes() != contents["vk.bin"]:
                raise ArtefactError(f"{path}: pk.bin and vk.bin are not one key pair")
        digest = hashlib.sha256(raw).digest()
        return cls(path, task, seed, pk, vk, digest)


def write_task(path: Path, task: Task, seed: int) -> TaskDir:
    """Set up ``task``'s circuit and write the task directory ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    pk, vk = proving.setup(task.circuit)
    buffer = io.BytesIO()
    np.savez(buffer, x=task.test_x, y=task.test_y.astype(np.int64))
    files = {
        "test_set.npz": buffer.getvalue(),
        "pk.bin": pk.to_bytes(),
        "vk.bin": vk.to_bytes(),
        "Verifier.sol": export_solidity_verifier(vk.to_evm()).encode(),
    }
    for name, data in files.items():
        (path / name).write_bytes(data)
    meta = {
        "format": TASK_FORMAT,
        "name": task.name,
        "dataset": task.dataset,
        "spec": task.spec.to_dict(),
        "threshold": task.threshold,
        "seed": seed,
        "test_samples": task.num_samples,
        "test_set_hash": task.test_set_hash.hex(),
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    (path / "task.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return TaskDir.read(path, with_pk=True)


def statement_tag(task_digest: bytes, label: str) -> int:
    """The tag a standalone proof binds: sha256(domain || task digest || label) mod r.

    It ties the proof to this task directory and to the prover's label (a name, a model
    version), so the proof cannot be presented as one for another task or label."""
    data = _TAG_DOMAIN + task_digest + label.encode()
    return int.from_bytes(hashlib.sha256(data).digest(), "big") % proving.FIELD_ORDER


@dataclass(frozen=True)
class ProofFile:
    """The public half of a standalone proof."""

    task_digest: bytes
    label: str
    commitment: int
    count: int
    samples: int
    tag: int
    proof: proving.Proof

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "task": self.task_digest.hex(),
            "label": self.label,
            "commitment": _hex32(self.commitment),
            "count": self.count,
            "samples": self.samples,
            "accuracy": round(self.count / self.samples, 6),
            "tag": _hex32(self.tag),
            "proof": self.proof.to_bytes().hex(),
        }


def write_proof(path: Path, proof: ProofFile, salt: int, salt_path: Path) -> None:
    """The proof to ``path``, the salt (secret: it opens the commitment) to ``salt_path``."""
    path.write_text(json.dumps(proof.to_json(), indent=2) + "\n")
    salt_json = {
        "format": SALT_FORMAT,
        "commitment": _hex32(proof.commitment),
        "salt": _hex32(salt),
    }
    fd = os.open(salt_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(salt_json, indent=2) + "\n")


def read_proof(path: Path) -> ProofFile:
    """Read and check the shape of a proof file (not its validity: that is ``verify``)."""
    meta = _json(path, _read(path, _MAX_JSON))
    _expect_keys(
        path,
        meta,
        {"format", "task", "label", "commitment", "count", "samples", "accuracy", "tag", "proof"},
    )
    if meta["format"] != PROOF_FORMAT:
        raise ArtefactError(f"{path}: format {meta['format']!r}, expected {PROOF_FORMAT!r}")
    if not isinstance(meta["label"], str):
        raise ArtefactError(f"{path}: label must be a string")
    for key in ("count", "samples"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 0:
            raise ArtefactError(f"{path}: {key} must be a non-negative integer")
    try:
        proof = proving.Proof.from_bytes(_hex_bytes(path, "proof", meta["proof"]))
    except proving.ProverError as exc:
        raise ArtefactError(f"{path}: the proof bytes are not a Groth16 proof ({exc})") from exc
    return ProofFile(
        task_digest=_hex_bytes(path, "task", meta["task"]),
        label=meta["label"],
        commitment=_field(path, "commitment", meta["commitment"]),
        count=meta["count"],
        samples=meta["samples"],
        tag=_field(path, "tag", meta["tag"]),
        proof=proof,
    )


def read_salt(path: Path) -> tuple[int, int]:
    """(salt, commitment) from a salt file."""
    meta = _json(path, _read(path, _MAX_JSON))
    _expect_keys(path, meta, {"format", "commitment", "salt"})
    if meta["format"] != SALT_FORMAT:
        raise ArtefactError(f"{path}: format {meta['format']!r}, expected {SALT_FORMAT!r}")
    return _field(path, "salt", meta["salt"]), _field(path, "commitment", meta["commitment"])


def read_model(path: Path, spec: ModelSpec) -> QuantizedModel:
    """A ``.qm`` file (the canonical QuantizedModel encoding) whose spec is ``spec``."""
    try:
        model = QuantizedModel.from_bytes(_read(path, _MAX_TEST_SET))
    except QuantizationError as exc:
        raise ArtefactError(f"{path}: not a quantised model ({exc})") from exc
    if model.spec != spec:
        raise ArtefactError(
            f"{path}: the model's spec {model.spec.to_json()} is not the task's {spec.to_json()}"
        )
    return model


# --------------------------------------------------------------------------- checks


def _read(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ArtefactError(f"{path}: {size} bytes, more than the {limit} allowed")
        return path.read_bytes()
    except OSError as exc:
        raise ArtefactError(f"{path}: cannot read ({exc.strerror})") from exc


def _read_pinned(path: Path, expected: object, limit: int) -> bytes:
    data = _read(path, limit)
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ArtefactError(f"{path}: sha256 {digest} differs from task.json's {expected!r}")
    return data


def _json(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        value = safejson.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ArtefactError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ArtefactError(f"{path}: expected a JSON object")
    return value


def _expect_keys(path: Path, meta: dict[str, Any], keys: set[str]) -> None:
    if set(meta) != keys:
        missing, extra = sorted(keys - set(meta)), sorted(set(meta) - keys)
        raise ArtefactError(f"{path}: missing keys {missing}, unexpected keys {extra}")


def _hex_bytes(path: Path, key: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ArtefactError(f"{path}: {key} must be a hex string")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise ArtefactError(f"{path}: {key} is not hex") from exc


def _hex32(value: int) -> str:
    """A field element as 0x and 64 hex digits."""
    return "0x" + value.to_bytes(32, "big").hex()


def _field(path: Path, key: str, value: object) -> int:
    raw = _hex_bytes(path, key, value)
    if len(raw) != 32:
        raise ArtefactError(f"{path}: {key} must be 32 bytes (0x and 64 hex digits)")
    number = int.from_bytes(raw, "big")
    if number >= proving.FIELD_ORDER:
        raise ArtefactError(f"{path}: {key} is not below the BN254 field order")
    return number


#: What a hostile archive can raise while it is read (zlib.error included).
_ARCHIVE_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    KeyError,
    zlib.error,
)


def _check_npz(path: Path, data: bytes) -> None:
    """Every member's declared array fits in its declared size, and both in the limit, so
    that ``np.load`` allocates nothing that the archive does not hold."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if sorted(i.filename for i in infos) != ["x.npy", "y.npy"]:
            raise ArtefactError(f"{path}: expected arrays x and y only")
        if sum(i.file_size for i in infos) > _MAX_TEST_SET:
            raise ArtefactError(f"{path}: the arrays exceed {_MAX_TEST_SET} bytes")
        for info in infos:
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                if math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ArtefactError(f"{path}: {info.filename} declares more than it holds")


def _test_set(path: Path, data: bytes, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    try:
        _check_npz(path, data)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if set(npz.files) != {"x", "y"}:
                raise ArtefactError(f"{path}: expected arrays x and y, found {npz.files}")
            x, y = npz["x"], npz["y"]
    except _ARCHIVE_ERRORS as exc:
        raise ArtefactError(f"{path}: not a test-set npz ({exc})") from exc
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != spec.widths[0]:
        raise ArtefactError(
            f"{path}: x must be uint8 n x {spec.widths[0]}, got {x.dtype} {x.shape}"
        )
    if y.dtype.kind not in "iu" or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ArtefactError(f"{path}: y must hold {x.shape[0]} integer labels")
    if y.min() < 0 or y.max() >= spec.widths[-1]:
        raise ArtefactError(f"{path}: labels must lie in [0, {spec.widths[-1]})")
    return x, y.astype(np.int64)


def _key(path: Path, kind: Any, data: bytes) -> Any:
    try:
        return kind.from_bytes(data)
    except (proving.ProverError, ValueError) as exc:
        raise ArtefactError(f"{path}: not a {kind.__name__} ({exc})") from exc
