"""The integer model that the Groth16 circuit evaluates: its :class:`ModelSpec` (layer
widths, one requantisation shift per hidden layer, bit widths) and its weights, a
:class:`QuantizedModel`, with their canonical encodings.

:mod:`zkpot.learning.quantize` makes a :class:`QuantizedModel` from a float MLP;
:mod:`zkpot.learning.inference` defines what it computes.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zkpot import safejson

__all__ = [
    "INT64_SAFE_BOUND",
    "ModelSpec",
    "QuantizationError",
    "QuantizedModel",
    "input_scale",
    "rounding_offset",
]

#: Bound on the magnitude of every intermediate value, enforced by ``ModelSpec``.
INT64_SAFE_BOUND = 2**62

# The circuit's limits (prover/src/spec.rs): the Rust and Python validations accept
# exactly the same specs (tests/test_spec_parity.py).
MAX_WIDTHS = 64
MAX_WIDTH = 1 << 16
MAX_SHIFT = 48
#: Widest output-comparison slot: the inference holds a slot and its offset in an int64.
MAX_SLOT_BITS = 63
_BIT_RANGES = {
    "input_bits": (1, 8),
    "weight_bits": (2, 16),
    "bias_bits": (2, 32),
    "act_bits": (1, 16),
}


def rounding_offset(shift: int) -> int:
    """``2^(shift - 1)`` for ``shift >= 1``, else 0: adding it makes the shift round half up."""
    return 1 << (shift - 1) if shift >= 1 else 0


IntArray = NDArray[np.int64]

_SPEC_KEYS = frozenset({"widths", "shifts", "input_bits", "weight_bits", "bias_bits", "act_bits"})
_MAGIC = b"ZKPOTQM\x00"
_VERSION = 1
_PREFIX = struct.Struct("<8sHI")  # magic, format version, header length
_MAX_RESCALES = 4096


class QuantizationError(ValueError):
    """A quantised model or its encoding is invalid, or quantisation is impossible."""


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelSpec:
    """The public description of the circuit: widths, shifts and bit widths.

    ``widths`` has at least two entries (input, ..., classes); ``shifts`` holds one
    requantisation shift per hidden layer.  Inputs lie in ``[0, 2^input_bits)``, weights
    in ``[-2^(weight_bits-1), 2^(weight_bits-1))``, biases in
    ``[-2^(bias_bits-1), 2^(bias_bits-1))`` and hidden activations in ``[0, 2^act_bits)``.
    """

    widths: tuple[int, ...]
    shifts: tuple[int, ...]
    input_bits: int = 8
    weight_bits: int = 8
    bias_bits: int = 20
    act_bits: int = 8

    def __post_init__(self) -> None:
        for name in ("widths", "shifts"):
            values = getattr(self, name)
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ValueError(f"{name} must be a sequence of integers, got {values!r}")
            if not all(_is_int(v) for v in values):
                raise ValueError(f"{name} must contain integers only, got {values!r}")
            object.__setattr__(self, name, tuple(int(v) for v in values))
        self._check_shape()
        self._check_bits()
        self._check_int64_safety()

    def _check_shape(self) -> None:
        if not 2 <= len(self.widths) <= MAX_WIDTHS:
            raise ValueError(f"widths must have 2..{MAX_WIDTHS} entries, got {len(self.widths)}")
        if min(self.widths) < 1 or max(self.widths) > MAX_WIDTH:
            raise ValueError(f"layer widths must be in 1..{MAX_WIDTH}, got {self.widths}")
        if self.widths[-1] < 2:
            raise ValueError("the output layer needs at least 2 classes")
        if len(self.shifts) != len(self.widths) - 2:
            raise ValueError(
                f"{len(self.widths) - 2} hidden layers need as many shifts, got {self.shifts}"
            )
        if any(not 0 <= k <= MAX_SHIFT for k in self.shifts):
            raise ValueError(f"shifts must be in 0..{MAX_SHIFT}, got {self.shifts}")

    def _check_bits(self) -> None:
        for name, (low, high) in _BIT_RANGES.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
            object.__setattr__(self, name, int(value))

    def _check_int64_safety(self) -> None:
        for layer in range(self.num_layers):
            bound = self.intermediate_bound(layer)
            if bound >= INT64_SAFE_BOUND:
                raise ValueError(
                    f"layer {layer}: values up to {bound} do not fit the exact int64 "
                    f"reference; reduce the widths, bit widths or shift"
                )
        if self.slot_width > MAX_SLOT_BITS:
            raise ValueError(
                f"output comparisons need {self.slot_width} bits, more than {MAX_SLOT_BITS}"
            )

    @property
    def slot_width(self) -> int:
        """Bits of one output-comparison slot of the circuit (``slot_width`` in
        prover/src/spec.rs): the worst-case logit gap plus a sign bit."""
        last = self.num_layers - 1
        in_bits = self.input_bits if last == 0 else self.act_bits
        bound = self.widths[last] * ((1 << in_bits) - 1) * ((1 << self.weight_bits) - 1) + (
            1 << self.bias_bits
        )
        return bound.bit_length() + 1

    @property
    def num_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.widths) - 1

    @property
    def weight_range(self) -> tuple[int, int]:
        """Inclusive range of a weight: ``[-2^(wb-1), 2^(wb-1) - 1]``."""
        return -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1

    @property
    def bias_range(self) -> tuple[int, int]:
        """Inclusive range of a bias: ``[-2^(bb-1), 2^(bb-1) - 1]``."""
        return -(1 << (self.bias_bits - 1)), (1 << (self.bias_bits - 1)) - 1

    def preactivation_bound(self, layer: int) -> int:
        """Upper bound on ``|z|`` of ``layer`` over all in-range models and inputs.

        For the output layer this bounds the logits.
        """
        in_bits = self.input_bits if layer == 0 else self.act_bits
        max_in = (1 << in_bits) - 1
        return self.widths[layer] * max_in * (1 << (self.weight_bits - 1)) + (
            1 << (self.bias_bits - 1)
        )

    def overflow_bound(self, layer: int) -> int:
        """``2^(k_l + act_bits)``: hidden layer ``layer`` requires ``-B <= u < B``."""
        return 1 << (self.shifts[layer] + self.act_bits)

    def intermediate_bound(self, layer: int) -> int:
        """Bound on the magnitude of every value the reference computes in ``layer``.

        Covers the products and partial sums of ``z``, ``u = z + 2^(k-1)`` and the
        overflow window of a hidden layer; validation keeps it below 2^62.
        """
        bound = self.preactivation_bound(layer)
        if layer < self.num_layers - 1:
            offset = rounding_offset(self.shifts[layer])
            bound = max(bound + offset, self.overflow_bound(layer))
        return bound

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {
            "widths": list(self.widths),
            "shifts": list(self.shifts),
            "input_bits": self.input_bits,
            "weight_bits": self.weight_bits,
            "bias_bits": self.bias_bits,
            "act_bits": self.act_bits,
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace."""
        return _canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: object) -> ModelSpec:
        """Strict inverse of :meth:`to_dict`: every key present, no others, integers only."""
        if not isinstance(data, dict) or set(data) != _SPEC_KEYS:
            raise ValueError(f"a model spec needs exactly the keys {sorted(_SPEC_KEYS)}")
        for key in ("widths", "shifts"):
            if not isinstance(data[key], list):
                raise ValueError(f"{key} must be a list of integers")
        return cls(
            widths=tuple(data["widths"]),
            shifts=tuple(data["shifts"]),
            input_bits=data["input_bits"],
            weight_bits=data["weight_bits"],
            bias_bits=data["bias_bits"],
            act_bits=data["act_bits"],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        """Parse a JSON spec (any key order; see :meth:`from_dict`)."""
        try:
            data = safejson.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"model spec is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _reject_constant(name: str) -> float:
    raise ValueError(f"JSON constant {name} is not allowed")


def _canonical_json(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def input_scale(spec: ModelSpec) -> float:
    """``S_x = 1 / (2^input_bits - 1)``; 1/255 for 8-bit inputs."""
    return 1.0 / ((1 << spec.input_bits) - 1)


def _storage_dtype(bits: int) -> np.dtype[Any]:
    """Little-endian signed integer type used to store values of ``bits`` bits."""
    if bits <= 8:
        return np.dtype("<i1")
    return np.dtype("<i2") if bits <= 16 else np.dtype("<i4")


def _as_int_array(value: ArrayLike, what: str) -> IntArray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.integer):
        raise QuantizationError(f"{what} must be integers, got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and int(array.max()) >= 2**63:
        raise QuantizationError(f"{what} does not fit int64")
    result = array.astype(np.int64)
    result.setflags(write=False)
    return result


@dataclass(frozen=True, eq=False)
class QuantizedModel:
    """Integer weights ``(in, out)`` and biases ``(out,)`` per layer, plus weight scales.

    Arrays are stored as read-only int64 copies.  ``weight_scales`` are metadata for
    :meth:`dequantize`; the circuit does not use them.  Construction only normalises
    types; :meth:`validate` checks shapes and ranges against ``spec``.
    """

    spec: ModelSpec
    weights: tuple[IntArray, ...]
    biases: tuple[IntArray, ...]
    weight_scales: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.spec, ModelSpec):
            raise QuantizationError("spec must be a ModelSpec")
        weights = tuple(_as_int_array(w, f"weights[{i}]") for i, w in enumerate(self.weights))
        biases = tuple(_as_int_array(b, f"biases[{i}]") for i, b in enumerate(self.biases))
        try:
            scales = tuple(float(s) for s in self.weight_scales)
        except (TypeError, ValueError) as exc:
            raise QuantizationError("weight_scales must be numbers") from exc
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "weight_scales", scales)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantizedModel):
            return NotImplemented
        return (
            self.spec == other.spec
            and self.weight_scales == other.weight_scales
            and len(self.weights) == len(other.weights)
            and len(self.biases) == len(other.biases)
            and all(np.array_equal(a, b) for a, b in zip(self.weights, other.weights, strict=True))
            and all(np.array_equal(a, b) for a, b in zip(self.biases, other.biases, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def validate(self) -> None:
        """Raise :class:`QuantizationError` unless shapes, ranges and scales match the spec."""
        spec = self.spec
        counts = {len(self.weights), len(self.biases), len(self.weight_scales)}
        if counts != {spec.num_layers}:
            raise QuantizationError(
                f"spec has {spec.num_layers} layers; got {len(self.weights)} weight arrays, "
                f"{len(self.biases)} bias arrays and {len(self.weight_scales)} scales"
            )
        for layer in range(spec.num_layers):
            self._validate_layer(layer)

    def _validate_layer(self, layer: int) -> None:
        spec = self.spec
        fan_in, fan_out = spec.widths[layer], spec.widths[layer + 1]
        w, b, s = self.weights[layer], self.biases[layer], self.weight_scales[layer]
        if w.shape != (fan_in, fan_out) or b.shape != (fan_out,):
            raise QuantizationError(
                f"layer {layer}: shapes {w.shape} / {b.shape}, expected "
                f"({fan_in}, {fan_out}) / ({fan_out},)"
            )
        for name, values, (lo, hi) in (
            ("weights", w, spec.weight_range),
            ("biases", b, spec.bias_range),
        ):
            if values.size and (int(values.min()) < lo or int(values.max()) > hi):
                raise QuantizationError(f"layer {layer}: {name} outside [{lo}, {hi}]")
        if not (math.isfinite(s) and s > 0):
            raise QuantizationError(f"layer {layer}: weight scale {s} must be finite and > 0")

    def input_scales(self) -> tuple[float, ...]:
        """``S_in`` of every layer: ``S_x`` then ``S_in * S_w * 2^k`` of the layer before."""
        scales = [input_scale(self.spec)]
        for layer, shift in enumerate(self.spec.shifts):
            scales.append(scales[-1] * self.weight_scales[layer] * 2.0**shift)
        return tuple(scales)

    def dequantize(self) -> list[NDArray[np.float64]]:
        """Float parameters ``[W_0, b_0, ...]``: ``W = S_w q_w``, ``b = S_in S_w q_b``."""
        self.validate()
        params: list[NDArray[np.float64]] = []
        for layer, s_in in enumerate(self.input_scales()):
            s_w = self.weight_scales[layer]
            params.append(self.weights[layer].astype(np.float64) * s_w)
            params.append(self.biases[layer].astype(np.float64) * (s_in * s_w))
        return params

    def to_bytes(self) -> bytes:
        """Canonical encoding; see :meth:`from_bytes` for the layout."""
        self.validate()
        header = _header_bytes(self.spec, self.weight_scales)
        parts = [_PREFIX.pack(_MAGIC, _VERSION, len(header)), header]
        w_dtype = _storage_dtype(self.spec.weight_bits)
        b_dtype = _storage_dtype(self.spec.bias_bits)
        for w, b in zip(self.weights, self.biases, strict=True):
            parts.append(w.astype(w_dtype).tobytes())
            parts.append(b.astype(b_dtype).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantizedModel:
        """Decode and fully validate bytes received from another party.

        Layout: ``b"ZKPOTQM\\0"``, format version (u16 LE, = 1), header length (u32 LE),
        the header (canonical JSON ``{"spec": ..., "weight_scales": [...]}``), then per
        layer the weights row-major and the biases, as little-endian signed integers of 1,
        2 or 4 bytes (the smallest holding ``weight_bits`` / ``bias_bits``).  Anything
        else, including trailing bytes or a non-canonical header, is rejected.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise QuantizationError("from_bytes expects bytes")
        raw = bytes(data)
        spec, scales, offset = _decode_header(raw)
        weights, biases = _decode_body(raw, offset, spec)
        model = cls(spec=spec, weights=weights, biases=biases, weight_scales=scales)
        model.validate()
        return model


def _header_bytes(spec: ModelSpec, scales: Sequence[float]) -> bytes:
    return _canonical_json({"spec": spec.to_dict(), "weight_scales": list(scales)}).encode()


def _decode_header(raw: bytes) -> tuple[ModelSpec, tuple[float, ...], int]:
    if len(raw) < _PREFIX.size:
        raise QuantizationError("truncated quantised model: prefix incomplete")
    magic, version, header_len = _PREFIX.unpack_from(raw)
    if magic != _MAGIC:
        raise QuantizationError("not a quantised model (bad magic)")
    if version != _VERSION:
        raise QuantizationError(f"unsupported quantised model format version {version}")
    end = _PREFIX.size + header_len
    if len(raw) < end:
        raise QuantizationError("truncated quantised model: header incomplete")
    header = raw[_PREFIX.size : end]
    try:
        decoded = safejson.loads(header.decode("utf-8"), parse_constant=_reject_constant)
        if not isinstance(decoded, dict) or set(decoded) != {"spec", "weight_scales"}:
            raise ValueError("header needs exactly the keys 'spec' and 'weight_scales'")
        spec = ModelSpec.from_dict(decoded["spec"])
        scales = decoded["weight_scales"]
        if not isinstance(scales, list) or not all(type(s) is float for s in scales):
            raise ValueError("weight_scales must be a list of floats")
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError("weight_scales must be finite and positive")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise QuantizationError(f"invalid quantised model header: {exc}") from exc
    if _header_bytes(spec, scales) != header:
        raise QuantizationError("quantised model header is not in canonical form")
    return spec, tuple(scales), end


def _decode_body(
    raw: bytes, offset: int, spec: ModelSpec
) -> tuple[tuple[IntArray, ...], tuple[IntArray, ...]]:
    w_dtype = _storage_dtype(spec.weight_bits)
    b_dtype = _storage_dtype(spec.bias_bits)
    layers = list(zip(spec.widths[:-1], spec.widths[1:], strict=True))
    expected = sum(i * o * w_dtype.itemsize + o * b_dtype.itemsize for i, o in layers)
    if len(raw) - offset != expected:
        problem = "truncated" if len(raw) - offset < expected else "trailing bytes after"
        raise QuantizationError(
            f"{problem} quantised model body: {len(raw) - offset} bytes, expected {expected}"
        )
    weights, biases = [], []
    for fan_in, fan_out in layers:
        w = np.frombuffer(raw, dtype=w_dtype, count=fan_in * fan_out, offset=offset)
        offset += w.nbytes
        b = np.frombuffer(raw, dtype=b_dtype, count=fan_out, offset=offset)
        offset += b.nbytes
        weights.append(w.astype(np.int64).reshape(fan_in, fan_out))
        biases.append(b.astype(np.int64))
    return tuple(weights), tuple(biases)
