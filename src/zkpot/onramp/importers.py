"""Float MLPs trained elsewhere, read into a :class:`~zkpot.learning.model.MLP`.

Three formats are read, each into the one network shape the circuit proves: fully
connected layers with ReLU between them and a linear output layer.

* scikit-learn ``MLPClassifier`` saved with joblib (``.joblib``, ``.pkl``): ``activation``
  must be ``"relu"`` and the classes ``0..k-1``. Loading a pickle runs code chosen by
  whoever wrote it: import only pickles you trust.
* ONNX (``.onnx``): a chain of ``Gemm`` (``alpha = beta = 1``, ``transA = 0``) or
  ``MatMul`` + ``Add`` layers with ``Relu`` between them, as PyTorch's exporter emits an
  ``nn.Sequential`` of ``Linear`` and ``ReLU``. A leading ``Flatten`` and a trailing
  ``Softmax``/``LogSoftmax`` are accepted: neither changes the predicted class.
* safetensors (``.safetensors``): the state dict of an ``nn.Sequential`` of ``Linear`` and
  ``ReLU`` (keys ``<i>.weight``, ``<i>.bias``, with one prefix allowed). A state dict does
  not record activations, so a ``ReLU`` is taken to sit between consecutive ``Linear``
  layers; their indices must differ by exactly 2.

Anything else (other activations, batch norm, convolutions, a head that is not a linear
layer, branches) is rejected with :class:`ModelImportError`, naming what was found.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from zkpot.learning.model import MLP

__all__ = ["FORMATS", "ModelImportError", "load_float_model"]

Params = list[NDArray[np.float64]]


class ModelImportError(ValueError):
    """A model file cannot be read, or holds something the circuit cannot prove."""


def load_float_model(path: Path, fmt: str | None = None) -> MLP:
    """Read ``path`` (format from ``fmt`` or the file suffix) as a float MLP."""
    fmt = fmt or _format_of(path)
    if fmt not in FORMATS:
        raise ModelImportError(
            f"unknown model format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    params = FORMATS[fmt](path)
    _check_params(params, path)
    return MLP.from_params(params)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    for fmt, suffixes in _SUFFIXES.items():
        if suffix in suffixes:
            return fmt
    raise ModelImportError(
        f"{path}: cannot tell the format from the suffix {suffix!r}; "
        "use .joblib/.pkl (scikit-learn), .onnx or .safetensors, or pass --format"
    )


def _check_params(params: Params, path: Path) -> None:
    if not params:
        raise ModelImportError(f"{path}: no layers found")
    for i in range(0, len(params), 2):
        w, b = params[i], params[i + 1]
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ModelImportError(
                f"{path}: layer {i // 2} has weight {w.shape} and bias {b.shape}, "
                "which do not form a linear layer"
            )
        if i and w.shape[0] != params[i - 2].shape[1]:
            raise ModelImportError(
                f"{path}: layer {i // 2} takes {w.shape[0]} inputs but the layer before "
                f"gives {params[i - 2].shape[1]}"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ModelImportError(f"{path}: layer {i // 2} has non-finite parameters")


# ------------------------------------------------------------------------ scikit-learn


def _load_sklearn(path: Path) -> Params:
    import joblib
    from sklearn.neural_network import MLPClassifier

    try:
        model = joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise ModelImportError(f"{path}: not a readable joblib file ({exc})") from exc
    if not isinstance(model, MLPClassifier):
        raise ModelImportError(
            f"{path}: holds a {type(model).__name__}; only sklearn MLPClassifier is supported"
        )
    if not hasattr(model, "coefs_"):
        raise ModelImportError(f"{path}: the MLPClassifier is not fitted")
    if model.activation != "relu":
        raise ModelImportError(
            f"{path}: activation {model.activation!r} is not supported; the circuit proves ReLU"
        )
    if model.out_activation_ != "softmax":
        raise ModelImportError(
            f"{path}: output {model.out_activation_!r} (a binary or multi-label model); "
            "the circuit proves a multi-class argmax over a softmax classifier's logits"
        )
    classes = np.asarray(model.classes_)
    if classes.dtype.kind not in "iu" or not np.array_equal(classes, np.arange(classes.size)):
        raise ModelImportError(
            f"{path}: classes {classes.tolist()} must be the integers 0..k-1 in order"
        )
    params: Params = []
    for w, b in zip(model.coefs_, model.intercepts_, strict=True):
        params += [np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)]
    return params


# ------------------------------------------------------------------------------- ONNX

_ONNX_SKIPPED_AT_END = ("Softmax", "LogSoftmax")
_ONNX_HANDLERS = {
    "Flatten": "_flatten",
    "Gemm": "_gemm",
    "MatMul": "_matmul",
    "Add": "_add",
    "Relu": "_relu",
    "Softmax": "_softmax",
    "LogSoftmax": "_softmax",
}


def _load_onnx(path: Path) -> Params:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf and checker errors have no common base
        raise ModelImportError(f"{path}: not a valid ONNX model ({exc})") from exc
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelImportError(
            f"{path}: the graph has inputs {inputs} and {len(graph.output)} outputs; "
            "exactly one input and one output are supported"
        )
    chain = _OnnxChain(path, inputs[0], constants)
    for node in graph.node:
        chain.feed(node)
    if chain.current != graph.output[0].name:
        raise ModelImportError(f"{path}: the graph output is not the end of the layer chain")
    return chain.finish()


class _OnnxChain:
    """Walks a sequential ONNX graph and collects its linear layers."""

    def __init__(self, path: Path, start: str, constants: dict[str, NDArray[np.float64]]) -> None:
        self.path = path
        self.current = start
        self.constants = constants
        self.params: Params = []
        self.last = "input"  # the kind of the previous step: input, linear, matmul, relu, end
        self.pending: NDArray[np.float64] | None = None

    def fail(self, node: Any, why: str) -> ModelImportError:
        return ModelImportError(
            f"{self.path}: node {node.name or node.op_type} ({node.op_type}): {why}"
        )

    def feed(self, node: Any) -> None:
        op = node.op_type
        if op == "Constant":
            raise self.fail(node, "Constant nodes are not supported; store weights as initializers")
        operands = [i for i in node.input if i not in self.constants]
        if operands != [self.current]:
            raise self.fail(node, "the graph is not a single chain of layers")
        if self.last == "end":
            raise self.fail(node, f"nothing may follow the final {_ONNX_SKIPPED_AT_END}")
        if self.last == "matmul" and op != "Add":
            raise self.fail(node, "a MatMul must be followed by the Add of its bias")
        handler = getattr(self, _ONNX_HANDLERS.get(op, ""), None)
        if handler is None:
            raise self.fail(
                node,
                "unsupported operator; supported are Gemm, MatMul+Add, Relu, a leading "
                "Flatten and a trailing Softmax/LogSoftmax",
            )
        handler(node)
        self.current = node.output[0]

    def _attrs(self, node: Any) -> dict[str, Any]:
        import onnx

        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _const(self, node: Any, name: str) -> NDArray[np.float64]:
        if name not in self.constants:
            raise self.fail(node, f"operand {name!r} must be an initializer")
        return self.constants[name]

    def _flatten(self, node: Any) -> None:
        if self.last != "input" or self._attrs(node).get("axis", 1) != 1:
            raise self.fail(node, "only a leading Flatten with axis=1 is supported")

    def _gemm(self, node: Any) -> None:
        a = self._attrs(node)
        if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            raise self.fail(node, "only alpha=1, beta=1, transA=0 are supported")
        if len(node.input) != 3:
            raise self.fail(node, "a Gemm without a bias is not supported")
        w = self._const(node, node.input[1])
        w = w.T if a.get("transB", 0) else w
        self._linear(node, w, self._const(node, node.input[2]))

    def _matmul(self, node: Any) -> None:
        if node.input[0] != self.current:
            raise self.fail(node, "the weight must be the right operand (x @ W)")
        self._check_order(node)
        self.pending = self._const(node, node.input[1])
        self.last = "matmul"

    def _add(self, node: Any) -> None:
        if self.last != "matmul" or self.pending is None:
            raise self.fail(node, "an Add must follow a MatMul (as its bias)")
        bias = [i for i in node.input if i != self.current]
        if len(bias) != 1:
            raise self.fail(node, "the Add must add one initializer bias")
        w, self.pending, self.last = self.pending, None, "relu"  # skip the order check
        self._linear(node, w, self._const(node, bias[0]))

    def _check_order(self, node: Any) -> None:
        if self.last == "linear":
            raise self.fail(node, "two linear layers need a Relu between them")

    def _linear(self, node: Any, w: NDArray[np.float64], b: NDArray[np.float64]) -> None:
        if w.ndim != 2 or b.reshape(-1).shape != (w.shape[1],):
            raise self.fail(node, f"weight {w.shape} and bias {b.shape} do not form a layer")
        if node.op_type == "Gemm":
            self._check_order(node)
        self.params += [w, b.reshape(-1)]
        self.last = "linear"

    def _relu(self, node: Any) -> None:
        if self.last != "linear":
            raise self.fail(node, "a Relu must follow a linear layer")
        self.last = "relu"

    def _softmax(self, node: Any) -> None:
        if self.last != "linear":
            raise self.fail(
                node,
                "a softmax head must follow a linear output layer (found after a non-linear step)",
            )
        if self._attrs(node).get("axis", -1) not in (-1, 1):
            raise self.fail(node, "the softmax must run over the class axis")
        self.last = "end"

    def finish(self) -> Params:
        if not self.params:
            raise ModelImportError(f"{self.path}: no linear layer found (a softmax-only head?)")
        if self.last == "relu":
            raise ModelImportError(
                f"{self.path}: the output layer ends in a Relu; the circuit's output layer is "
                "linear (its logits feed the argmax)"
            )
        return self.params


# ------------------------------------------------------------------------ safetensors

_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<index>\d+)\.(?P<kind>weight|bias)$")


def _load_safetensors(path: Path) -> Params:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelImportError(f"{path}: not a readable safetensors file ({exc})") from exc
    layers: dict[int, dict[str, NDArray[np.float64]]] = {}
    prefixes = set()
    for key, value in tensors.items():
        match = _KEY.match(key)
        if match is None:
            raise ModelImportError(
                f"{path}: tensor {key!r} is not the weight or bias of an nn.Sequential "
                "Linear layer (batch norm, embeddings and the like are not supported)"
            )
        prefixes.add(match["prefix"])
        layers.setdefault(int(match["index"]), {})[match["kind"]] = value.astype(np.float64)
    if len(prefixes) > 1:
        raise ModelImportError(f"{path}: tensors of several modules ({sorted(prefixes)})")
    indices = sorted(layers)
    if not indices:
        raise ModelImportError(f"{path}: the file holds no tensors")
    for before, after in itertools.pairwise(indices):
        if after - before != 2:
            raise ModelImportError(
                f"{path}: Linear layers {before} and {after} must have exactly one module "
                "(a ReLU) between them"
            )
    params: Params = []
    for i in indices:
        layer = layers[i]
        if set(layer) != {"weight", "bias"}:
            raise ModelImportError(f"{path}: layer {i} needs both a weight and a bias")
        if layer["weight"].ndim != 2:
            raise ModelImportError(
                f"{path}: layer {i} weight has shape {layer['weight'].shape}; only Linear "
                "layers (2-d weights) are supported"
            )
        params += [layer["weight"].T, layer["bias"]]  # nn.Linear stores (out, in)
    return params


FORMATS = {"sklearn": _load_sklearn, "onnx": _load_onnx, "safetensors": _load_safetensors}
_SUFFIXES = {"sklearn": (".joblib", ".pkl"), "onnx": (".onnx",), "safetensors": (".safetensors",)}
