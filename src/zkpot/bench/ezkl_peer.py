"""ezkl benchmark peer: the accuracy statement proven with ezkl (Halo2, KZG) instead of Groth16.

The statement matches zkpot's accuracy proof: a ReLU MLP whose parameters are private but
bound by a Poseidon hash classifies ``count`` of ``n`` public test samples correctly.
:func:`ezkl_prove_accuracy` builds that statement as an ONNX graph by hand,

    h_i     = Relu(h_{i-1} . W_i + b_i)      (hidden layers; h_0 = x)
    logits  = h_{L-1} . W_L + b_L
    pred    = ArgMax(logits, axis=1)
    correct = (pred >= y) * (pred <= y)      (ezkl's ``Equal`` mislabels the output scale)
    count   = ReduceSum(correct)

and runs ezkl's whole pipeline on it: ``gen_settings`` (inputs ``x`` and labels ``y``
public, parameters ``hashed``, output ``count`` public), ``calibrate_settings`` on the same
data, ``compile_circuit``, a locally generated SRS (``gen_srs``; ezkl's ``get_srs``
downloads), ``setup``, ``gen_witness``, ``prove`` and ``verify``.

``setup`` and ``prove`` each run in a fresh child interpreter that imports nothing but
ezkl, so the peak resident set size reported for them (the child's ``VmHWM``; its
``ru_maxrss`` would include the caller's peak, which Linux carries across fork and exec)
is the step's own.  Their times are wall-clock seconds of the ezkl call alone, measured
inside the child.

ezkl and onnx are the optional ``bench`` extra; :func:`ezkl_available` tells whether they
are importable.  The SRS made by ``gen_srs`` comes from a known secret and is only fit for
benchmarking.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_SAMPLES",
    "PARAM_VISIBILITIES",
    "EzklError",
    "build_accuracy_onnx",
    "ezkl_available",
    "ezkl_prove_accuracy",
    "onnx_count",
    "reference_count",
]

#: Most test samples :func:`ezkl_prove_accuracy` accepts (ezkl's memory grows quickly).
MAX_SAMPLES = 100
#: ezkl parameter visibilities that keep the parameters out of the public instances.
PARAM_VISIBILITIES = ("hashed", "polycommit", "fixed")
#: ONNX operator set of the generated graph (``ReduceSum`` takes ``axes`` as an input).
ONNX_OPSET = 17
#: ONNX IR version of the generated graph (the lowest one opset 17 allows).
ONNX_IR_VERSION = 8

# Run inside the child interpreter: one ezkl step (``setup`` or ``prove``) with keyword
# arguments from argv, timing only the ezkl call and writing {"seconds", "ok", "peak_kib"}
# to a file.  The peak is ``VmHWM``, the high-water RSS of this address space alone:
# Linux carries ``ru_maxrss`` over from the parent across fork (or vfork) and exec.
_CHILD_SOURCE = """
import asyncio, inspect, json, resource, sys, time
import ezkl
step, kwargs_json, out_path = sys.argv[1:4]
fn = {"setup": ezkl.setup, "prove": ezkl.prove}[step]
kwargs = json.loads(kwargs_json)
t0 = time.perf_counter()
result = fn(**kwargs)
if inspect.isawaitable(result):
    result = asyncio.run(result)
seconds = time.perf_counter() - t0
try:
    with open("/proc/self/status") as f:
        peak_kib = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(out_path, "w") as f:
    json.dump({"seconds": seconds, "ok": bool(result), "peak_kib": peak_kib}, f)
"""


class EzklError(RuntimeError):
    """An ezkl step failed, or its output disagrees with the statement it was given."""


def ezkl_available() -> bool:
    """True when ``ezkl`` and ``onnx`` (the ``bench`` extra) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("ezkl", "onnx"))


def _check_model(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Validate and convert the MLP parameters and test set to float64 / int64 arrays."""
    ws = [np.asarray(w, dtype=np.float64) for w in weights]
    bs = [np.asarray(b, dtype=np.float64) for b in biases]
    if not ws or len(ws) != len(bs):
        raise ValueError("need one bias vector per weight matrix, and at least one layer")
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y)
    if xs.ndim != 2 or xs.shape[0] == 0:
        raise ValueError("x must be a non-empty (n, d) array")
    n, width = xs.shape
    if ys.shape != (n,) or not np.issubdtype(ys.dtype, np.integer):
        raise ValueError(f"y must be {n} integer labels")
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
            raise ValueError(f"layer {i}: weight {w.shape} / bias {b.shape} do not chain")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ValueError(f"layer {i}: parameters must be finite")
        width = w.shape[1]
    if not (np.all(xs >= 0.0) and np.all(xs <= 1.0)):
        raise ValueError("x must lie in [0, 1]")
    if ys.min() < 0 or ys.max() >= width:
        raise ValueError(f"labels must lie in [0, {width})")
    return ws, bs, xs, ys.astype(np.int64)


def reference_count(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> int:
    """Number of samples the float MLP classifies correctly (float64, lowest index on ties)."""
    ws, bs, h, ys = _check_model(weights, biases, x, y)
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = np.maximum(h, 0.0)
    return int(np.sum(np.argmax(h, axis=1) == ys))


def build_accuracy_onnx(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], n: int) -> Any:
    """The accuracy statement as an ``onnx.ModelProto`` for ``n`` samples.

    Graph inputs: ``x`` (float32, ``(n, d)``) and ``y`` (float32 labels, ``(n,)``).
    Initialisers: ``W{i}`` and ``b{i}`` (float32).  Output: ``count`` (float32 scalar),
    the number of rows whose ``ArgMax`` of the logits equals the label.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if n < 1:
        raise ValueError("n must be positive")
    d = int(np.asarray(weights[0]).shape[0])
    initializers = []
    nodes = []
    h = "x"
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        initializers.append(numpy_helper.from_array(np.asarray(w, dtype=np.float32), f"W{i}"))
        initializers.append(numpy_helper.from_array(np.asarray(b, dtype=np.float32), f"b{i}"))
        nodes.append(helper.make_node("MatMul", [h, f"W{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"]))
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [f"h{i}"]))
            h = f"h{i}"
        else:
            h = f"z{i}"
    nodes += [
        helper.make_node("ArgMax", [h], ["pred_i64"], axis=1, keepdims=0),
        helper.make_node("Cast", ["pred_i64"], ["pred"], to=TensorProto.FLOAT),
        helper.make_node("GreaterOrEqual", ["pred", "y"], ["ge"]),
        helper.make_node("LessOrEqual", ["pred", "y"], ["le"]),
        helper.make_node("Cast", ["ge"], ["ge_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["le"], ["le_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ge_f", "le_f"], ["correct"]),
        helper.make_node("ReduceSum", ["correct"], ["count"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "zkpot_accuracy",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, d]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [n]),
        ],
        [helper.make_tensor_value_info("count", TensorProto.FLOAT, [])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_count(
    model_path: Path, x: np.ndarray, y: np.ndarray, use_onnxruntime: bool | None = None
) -> tuple[int, str]:
    """Evaluate the saved accuracy graph on ``(x, y)``; returns ``(count, evaluator)``.

    Uses onnxruntime when it is installed (or when ``use_onnxruntime`` is true), otherwise
    onnx's reference evaluator.
    """
    feeds = {"x": np.asarray(x, dtype=np.float32), "y": np.asarray(y, dtype=np.float32)}
    if use_onnxruntime is None:
        use_onnxruntime = importlib.util.find_spec("onnxruntime") is not None
    if use_onnxruntime:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        (count,) = session.run(["count"], feeds)
        evaluator = f"onnxruntime {onnxruntime.__version__}"
    else:
        from onnx.reference import ReferenceEvaluator

        (count,) = ReferenceEvaluator(str(model_path)).run(None, feeds)
        evaluator = "onnx.reference"
    return round(float(count)), evaluator


def _resolve(value: Any) -> Any:
    """ezkl returns awaitables from some calls in recent versions; run those to completion."""
    return asyncio.run(value) if inspect.isawaitable(value) else value


def _ezkl_step(name: str, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``ezkl.<name>`` in this process; returns ``(result, wall seconds)``."""
    import ezkl

    t0 = time.perf_counter()
    try:
        result = _resolve(getattr(ezkl, name)(*args, **kwargs))
    except Exception as exc:
        raise EzklError(f"ezkl.{name} failed: {exc}") from exc
    seconds = time.perf_counter() - t0
    if result is False:
        raise EzklError(f"ezkl.{name} returned False")
    return result, seconds


def _ezkl_child_step(step: str, kwargs: dict[str, str], workdir: Path) -> tuple[float, float]:
    """Run ezkl ``setup`` or ``prove`` in a child interpreter.

    Returns ``(seconds of the ezkl call, peak RSS of the child in MiB)``; the peak is the
    child's own ``VmHWM``, so the caller's memory does not count.  The child's output goes
    to ``workdir/<step>.log``.
    """
    out_path = workdir / f"{step}.result.json"
    log_path = workdir / f"{step}.log"
    out_path.unlink(missing_ok=True)
    argv = [sys.executable, "-c", _CHILD_SOURCE, step, json.dumps(kwargs), str(out_path)]
    with log_path.open("wb") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, check=False)
    if proc.returncode != 0 or not out_path.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        raise EzklError(f"ezkl {step} child exited with {proc.returncode}:\n{tail}")
    result = json.loads(out_path.read_text())
    if not result["ok"]:
        raise EzklError(f"ezkl {step} returned a falsy result")
    return float(result["seconds"]), int(result["peak_kib"]) / 1024.0


def _proven_count(proof: dict[str, Any], witness: dict[str, Any], settings: dict[str, Any]) -> int:
    """The count that the proof's public instances carry, rescaled to an integer.

    The instance column is ``[params hash, x..., y..., count]`` (no hash unless the
    parameters are ``hashed``); the public inputs are
    checked against the witness (so the proof is about the data given) before the last
    element is decoded with the output scale from the settings.
    """
    import ezkl

    instances = [felt for column in proof["instances"] for felt in column]
    inputs = [felt for column in witness["inputs"] for felt in column]
    outputs = [felt for column in witness["outputs"] for felt in column]
    params_hash = (witness.get("processed_params") or {}).get("poseidon_hash") or []
    expected = [*params_hash, *inputs, *outputs]
    if instances != expected:
        raise EzklError("proof instances are not [params hash, x, y, count] of the witness")
    (scale,) = settings["model_output_scales"]
    value = float(ezkl.felt_to_float(instances[-1], scale))
    count = round(value)
    if abs(value - count) > 1e-9:
        raise EzklError(f"proven count {value} is not an integer")
    return count


def _proof_size(proof: dict[str, Any]) -> int:
    """Bytes of the raw proof in an ezkl proof file (a byte list, or hex in ``hex_proof``)."""
    raw = proof.get("proof")
    if isinstance(raw, list):
        return len(raw)
    hex_proof = str(proof.get("hex_proof") or raw)
    return len(bytes.fromhex(hex_proof.removeprefix("0x")))


def _srs_file(srs_dir: Path, logrows: int) -> tuple[Path, float | None]:
    """A KZG SRS for ``2**logrows`` rows, made with ``ezkl.gen_srs`` unless already present.

    Returns the path and the seconds spent generating it (``None`` when it was reused).
    """
    srs_dir.mkdir(parents=True, exist_ok=True)
    path = srs_dir / f"kzg{logrows}.srs"
    if path.exists():
        return path, None
    partial = srs_dir / f"kzg{logrows}.srs.partial"
    _, seconds = _ezkl_step("gen_srs", str(partial), logrows)
    partial.replace(path)
    return path, seconds


def ezkl_prove_accuracy(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    workdir: Path,
    *,
    srs_dir: Path | None = None,
    param_visibility: str = "hashed",
    num_inner_cols: int | None = None,
    range_check_public_io: bool = True,
    calibration_target: str = "resources",
    keep_pk: bool = False,
) -> dict[str, Any]:
    """Prove with ezkl that the float MLP ``(weights, biases)`` classifies ``count`` of
    ``(x, y)`` correctly, and measure it.

    ``weights[i]`` is an ``(in, out)`` matrix, ``biases[i]`` its ``(out,)`` vector; hidden
    layers use ReLU.  ``x`` holds ``n <= MAX_SAMPLES`` inputs in ``[0, 1]`` and ``y`` their
    integer labels.  Files go to ``workdir``; the SRS goes to ``srs_dir`` (default:
    ``workdir``) and is reused from there when one of the right size exists.  The proving
    key is deleted after verification unless ``keep_pk``.

    ``param_visibility`` is how ezkl binds the private parameters: ``"hashed"`` (a public
    Poseidon hash of them, the analogue of zkpot's commitment; about 41 circuit rows per
    parameter), ``"polycommit"`` (a KZG commitment to them carried in the proof, which
    needs no hashing rows); ``"fixed"`` bakes them into the circuit (the verifying key binds them).
    ``num_inner_cols`` (ezkl's default when ``None``) trades rows for columns.  With
    ``range_check_public_io=False`` ezkl skips its range checks on the public inputs and
    output (``ignore_range_check_inputs_outputs``), which the verifier sees anyway; they
    cost several rows per input element, most of the circuit for MNIST.

    Returns a dict with

    * ``samples``, ``numpy_count`` (float64 reference), ``onnx_count`` and
      ``onnx_evaluator`` (the generated graph run outside ezkl);
    * ``ezkl_count``: the count in the verified proof's public instances, rescaled;
    * ``ezkl_verified``: ezkl's verdict on the proof;
    * ``ezkl_param_visibility``, ``ezkl_num_inner_cols``, ``ezkl_range_check_public_io``,
      ``ezkl_logrows``, ``ezkl_num_rows``, ``ezkl_input_scale``, ``ezkl_param_scale``
      (the calibrated settings);
    * ``ezkl_calibrate_s``, ``ezkl_srs_s`` (``None`` if the SRS was reused),
      ``ezkl_setup_s``, ``ezkl_witness_s``, ``ezkl_prove_s``, ``ezkl_verify_s``: wall
      seconds of each ezkl call alone;
    * ``ezkl_setup_peak_rss_mb``, ``ezkl_peak_rss_mb``: peak RSS (MiB) of the child
      processes that ran ``setup`` and ``prove``;
    * ``ezkl_pk_bytes``, ``ezkl_vk_bytes``, ``ezkl_srs_bytes``: key and SRS file sizes;
      ``ezkl_proof_bytes``: the raw proof; ``ezkl_proof_file_bytes``: the proof JSON file;
    * ``ezkl_version``.
    """
    import ezkl

    if param_visibility not in PARAM_VISIBILITIES:
        raise ValueError(f"param_visibility must be one of {PARAM_VISIBILITIES}")
    if num_inner_cols is not None and num_inner_cols < 1:
        raise ValueError("num_inner_cols must be positive")
    ws, bs, xs, ys = _check_model(weights, biases, x, y)
    n = xs.shape[0]
    if n > MAX_SAMPLES:
        raise ValueError(f"ezkl peer takes at most {MAX_SAMPLES} samples, got {n}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    srs_dir = workdir if srs_dir is None else Path(srs_dir)
    paths = {
        name: workdir / file
        for name, file in [
            ("onnx", "accuracy.onnx"),
            ("input", "input.json"),
            ("settings", "settings.json"),
            ("compiled", "accuracy.compiled"),
            ("witness", "witness.json"),
            ("vk", "vk.key"),
            ("pk", "pk.key"),
            ("proof", "proof.json"),
        ]
    }

    import onnx

    numpy_count = reference_count(ws, bs, xs, ys)
    onnx.save(build_accuracy_onnx(ws, bs, n), str(paths["onnx"]))
    graph_count, evaluator = onnx_count(paths["onnx"], xs, ys)
    if graph_count != numpy_count:
        raise EzklError(f"ONNX graph counts {graph_count}, numpy counts {numpy_count}")
    data = {"input_data": [xs.reshape(-1).tolist(), ys.astype(np.float64).tolist()]}
    paths["input"].write_text(json.dumps(data))

    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = "public"
    run_args.output_visibility = "public"
    run_args.param_visibility = param_visibility
    run_args.ignore_range_check_inputs_outputs = not range_check_public_io
    if num_inner_cols is not None:
        run_args.num_inner_cols = num_inner_cols
    model, settings_path = str(paths["onnx"]), str(paths["settings"])
    _ezkl_step("gen_settings", model, settings_path, py_run_args=run_args)
    _, calibrate_s = _ezkl_step(
        "calibrate_settings", str(paths["input"]), model, settings_path, calibration_target
    )
    _ezkl_step("compile_circuit", model, str(paths["compiled"]), settings_path)
    settings = json.loads(paths["settings"].read_text())
    logrows = int(settings["run_args"]["logrows"])
    srs_path, srs_s = _srs_file(srs_dir, logrows)

    setup_s, setup_rss = _ezkl_child_step(
        "setup",
        {
            "model": str(paths["compiled"]),
            "vk_path": str(paths["vk"]),
            "pk_path": str(paths["pk"]),
            "srs_path": str(srs_path),
        },
        workdir,
    )
    pk_bytes = paths["pk"].stat().st_size
    # With the verifying key and SRS, the witness also carries the parameters' KZG
    # commitments when they are ``polycommit``.
    witness, witness_s = _ezkl_step(
        "gen_witness",
        str(paths["input"]),
        str(paths["compiled"]),
        str(paths["witness"]),
        vk_path=str(paths["vk"]),
        srs_path=str(srs_path),
    )
    if not isinstance(witness, dict):
        witness = json.loads(paths["witness"].read_text())
    try:
        prove_s, prove_rss = _ezkl_child_step(
            "prove",
            {
                "witness": str(paths["witness"]),
                "model": str(paths["compiled"]),
                "pk_path": str(paths["pk"]),
                "proof_path": str(paths["proof"]),
                "srs_path": str(srs_path),
            },
            workdir,
        )
    finally:
        if not keep_pk:  # gigabytes, and verification does not need it
            paths["pk"].unlink()
    verified, verify_s = _ezkl_step(
        "verify", str(paths["proof"]), settings_path, str(paths["vk"]), str(srs_path)
    )
    proof = json.loads(paths["proof"].read_text())
    return {
        "samples": n,
        "numpy_count": numpy_count,
        "onnx_count": graph_count,
        "onnx_evaluator": evaluator,
        "ezkl_count": _proven_count(proof, witness, settings),
        "ezkl_verified": bool(verified),
        "ezkl_param_visibility": param_visibility,
        "ezkl_num_inner_cols": int(settings["run_args"]["num_inner_cols"]),
        "ezkl_range_check_public_io": not settings["run_args"]["ignore_range_check_inputs_outputs"],
        "ezkl_logrows": logrows,
        "ezkl_num_rows": int(settings["num_rows"]),
        "ezkl_input_scale": int(settings["run_args"]["input_scale"]),
        "ezkl_param_scale": int(settings["run_args"]["param_scale"]),
        "ezkl_calibrate_s": calibrate_s,
        "ezkl_srs_s": srs_s,
        "ezkl_setup_s": setup_s,
        "ezkl_witness_s": witness_s,
        "ezkl_prove_s": prove_s,
        "ezkl_verify_s": verify_s,
        "ezkl_setup_peak_rss_mb": setup_rss,
        "ezkl_peak_rss_mb": prove_rss,
        "ezkl_pk_bytes": pk_bytes,
        "ezkl_vk_bytes": paths["vk"].stat().st_size,
        "ezkl_srs_bytes": srs_path.stat().st_size,
        "ezkl_proof_bytes": _proof_size(proof),
        "ezkl_proof_file_bytes": paths["proof"].stat().st_size,
        "ezkl_version": str(settings.get("version", "")),
    }
