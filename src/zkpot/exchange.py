"""What participants exchange through the content store, always encrypted.

- A **model package**: a participant's quantised model, the salt that opens its on-chain
  commitment, and its training-sample count. It is encrypted under a fresh key at
  submission time (its CID goes on chain with the proof); the key is handed to the round's
  leader, sealed to the leader's X25519 key, once the leader is known.
- A **global model envelope**: the round's global model as a model package (the leader's
  quantised FedAvg, the salt of its commitment and the number of samples behind it)
  encrypted under a fresh key, that key sealed to every registered participant. Its
  commitment is the same Poseidon commitment a submission carries, so the block can prove
  the global model's accuracy with the task's own circuit.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from zkpot import safejson
from zkpot.learning.integer_model import ModelSpec, QuantizationError, QuantizedModel
from zkpot.learning.model import initial_model
from zkpot.learning.quantize import quantize
from zkpot.proving import FIELD_ORDER, commit
from zkpot.store.sealed import SealError, decrypt, encrypt, seal, unseal

PACKAGE_MAGIC = b"ZKPOTPKG"
PARAMS_MAGIC = b"ZKPOTPRM"


class ExchangeError(ValueError):
    """A package or envelope is malformed, or does not open with the given key."""


@dataclass(frozen=True)
class ModelPackage:
    """A submitted model, the salt of its commitment and its training-set size."""

    model: QuantizedModel
    salt: int
    num_samples: int

    def to_bytes(self) -> bytes:
        body = self.model.to_bytes()
        return (
            PACKAGE_MAGIC
            + self.salt.to_bytes(32, "big")
            + struct.pack("<Q", self.num_samples)
            + body
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelPackage:
        head = len(PACKAGE_MAGIC) + 32 + 8
        if len(data) < head or not data.startswith(PACKAGE_MAGIC):
            raise ExchangeError("not a model package")
        salt = int.from_bytes(data[len(PACKAGE_MAGIC) : len(PACKAGE_MAGIC) + 32], "big")
        if salt >= FIELD_ORDER:
            raise ExchangeError("the salt is not a field element")
        (num_samples,) = struct.unpack("<Q", data[head - 8 : head])
        try:
            model = QuantizedModel.from_bytes(data[head:])
        except QuantizationError as exc:
            raise ExchangeError(f"bad model in package: {exc}") from exc
        return cls(model, salt, num_samples)


def seal_package(package: ModelPackage) -> tuple[bytes, bytes]:
    """``(key, ciphertext)``: the package encrypted under a fresh key."""
    return encrypt(package.to_bytes())


def open_package(key: bytes, ciphertext: bytes) -> ModelPackage:
    try:
        return ModelPackage.from_bytes(decrypt(key, ciphertext))
    except SealError as exc:
        raise ExchangeError(str(exc)) from exc


def params_to_bytes(params: Sequence[NDArray[np.float64]]) -> bytes:
    """Canonical bytes of float parameters: shapes, then little-endian float64 values."""
    out = bytearray(PARAMS_MAGIC + struct.pack("<I", len(params)))
    for p in params:
        a = np.ascontiguousarray(p, dtype="<f8")
        out += struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}Q", *a.shape)
    for p in params:
        out += np.ascontiguousarray(p, dtype="<f8").tobytes()
    return bytes(out)


def params_from_bytes(data: bytes) -> list[NDArray[np.float64]]:
    try:
        if not data.startswith(PARAMS_MAGIC):
            raise ExchangeError("not a parameter blob")
        pos = len(PARAMS_MAGIC)
        (count,) = struct.unpack_from("<I", data, pos)
        pos += 4
        shapes = []
        for _ in range(count):
            (ndim,) = struct.unpack_from("<I", data, pos)
            if ndim == 0:  # params_to_bytes writes every array with at least one axis
                raise ExchangeError("a parameter without axes")
            if 8 * ndim > len(data) - pos - 4:
                raise ExchangeError("truncated parameter blob")
            shapes.append(struct.unpack_from(f"<{ndim}Q", data, pos + 4))
            pos += 4 + 8 * ndim
        params = []
        for shape in shapes:
            if 0 in shape:  # a model has no empty layer
                raise ExchangeError("a parameter with an empty axis")
            size = math.prod(shape)  # exact: no int64 wrap-around
            chunk = data[pos : pos + 8 * size]
            if len(chunk) != 8 * size:
                raise ExchangeError("truncated parameter blob")
            params.append(np.frombuffer(chunk, dtype="<f8").reshape(shape).astype(np.float64))
            pos += 8 * size
    except struct.error as exc:
        raise ExchangeError("truncated parameter blob") from exc
    if pos != len(data):
        raise ExchangeError("trailing bytes after parameters")
    if not all(np.isfinite(p).all() for p in params):
        raise ExchangeError("parameters must be finite")
    return params


def global_commitment(package: ModelPackage) -> int:
    """The on-chain commitment of a global model: Poseidon over its weights and salt."""
    return commit(package.model, package.salt)


def initial_global(
    spec: ModelSpec,
    test_x: NDArray[np.integer],
    seed: int,
    salt: int,
    scales: tuple[float, ...] | None = None,
) -> ModelPackage:
    """A task's initial global model (:func:`~zkpot.learning.model.initial_model`),
    quantised for the task (in its fixed-point format ``scales``, where it has one), under
    ``salt``."""
    model = quantize(initial_model(spec.widths, seed), spec, test_x, scales=scales)
    return ModelPackage(model, salt, 0)


def seal_global(package: ModelPackage, recipients: Mapping[str, bytes]) -> bytes:
    """An envelope only the given participants (address -> X25519 public key) can open."""
    key, ciphertext = encrypt(package.to_bytes())
    keys = {address: seal(key, public).hex() for address, public in sorted(recipients.items())}
    return json.dumps({"box": ciphertext.hex(), "keys": keys, "v": 2}, sort_keys=True).encode()


def open_global(envelope: bytes, address: str, private_key: bytes) -> ModelPackage:
    """The global model package in ``envelope``, opened with ``address``'s key."""
    try:
        doc = safejson.loads(envelope)
        sealed_key = bytes.fromhex(doc["keys"][address])
        plain = decrypt(unseal(sealed_key, private_key), bytes.fromhex(doc["box"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, SealError) as exc:
        raise ExchangeError(f"cannot open the global model for {address}: {exc}") from exc
    return ModelPackage.from_bytes(plain)
