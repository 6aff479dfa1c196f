"""Bring your own model, prove and verify from the command line.

Each format is written by the test itself: a real scikit-learn fit saved with joblib, an
ONNX graph built with ``onnx.helper`` (the layout PyTorch's exporter emits), and a
safetensors state dict of an ``nn.Sequential``. Each is imported for a task, proven and
verified through the ``zkpot`` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file
from sklearn.neural_network import MLPClassifier
from typer.testing import CliRunner

from zkpot.cli import app
from zkpot.learning.datasets import load_digits
from zkpot.learning.inference import predict_int
from zkpot.learning.integer_model import QuantizedModel
from zkpot.learning.model import MLP, train_sgd

pytest_plugins = ("anvil",)

HIDDEN = 16
SAMPLES = 60
#: The task's test set is small; on it the imported model must pick the original's class
#: on at least this share of samples, and lose at most this much accuracy (2 samples).
AGREEMENT = 0.95
ACCURACY_LOSS = 2 / SAMPLES


def zkpot(*args: str | Path, code: int = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("task") / "task"
    zkpot("task", "create", "--dataset", "digits", "--test-samples", SAMPLES, "--hidden", HIDDEN,
          "--threshold", "0.7", "--seed", 4, "-o", path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def trained() -> MLP:
    data = load_digits()
    rng = np.random.default_rng(5)
    model = MLP((64, HIDDEN, 10), rng)
    train_sgd(model, data.x_train, data.y_train, 30, 0.05, 32, rng, momentum=0.9)
    return model


def _task_test_set(task: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(task / "test_set.npz") as npz:
        return npz["x"], npz["y"]


def _import_prove_verify(task: Path, model: Path, predict, tmp: Path) -> None:
    """Import ``model``, check it against the original's ``predict``, prove and verify."""
    qm = tmp / "model.qm"
    zkpot("import", model, "--task", task, "-o", qm)
    x, y = _task_test_set(task)
    qmodel = QuantizedModel.from_bytes(qm.read_bytes())
    original, imported = predict(x / 255.0), predict_int(qmodel, x)
    assert np.mean(original == imported) >= AGREEMENT
    assert np.mean(imported == y) >= np.mean(original == y) - ACCURACY_LOSS
    proof = tmp / "proof.json"
    zkpot("prove", "--task", task, "--model", qm, "-o", proof, "--label", model.name)
    claim = json.loads(proof.read_text())
    assert claim["count"] == int(np.sum(imported == y))
    assert "salt" not in claim and (tmp / "proof.json.salt").stat().st_mode & 0o077 == 0
    assert "valid" in zkpot("verify", "--task", task, proof)


def test_sklearn_mlp_classifier(task: Path, tmp_path: Path) -> None:
    data = load_digits()
    clf = MLPClassifier((HIDDEN,), max_iter=300, random_state=0).fit(data.x_train, data.y_train)
    joblib.dump(clf, tmp_path / "clf.joblib")
    _import_prove_verify(task, tmp_path / "clf.joblib", clf.predict, tmp_path)


def _onnx_graph(model: MLP, path: Path, hidden_op: str = "Relu", head: str = "Softmax") -> None:
    """What torch.onnx.export writes for Sequential(Flatten, Linear, ReLU, Linear, Softmax):
    Gemm with transB=1 on the (out, in) weight; the second layer as MatMul + Add."""
    w0, b0, w1, b1 = model.get_params()
    inits = [
        numpy_helper.from_array(w0.T.astype(np.float32), "fc0.weight"),
        numpy_helper.from_array(b0.astype(np.float32), "fc0.bias"),
        numpy_helper.from_array(w1.astype(np.float32), "fc1.weight_t"),
        numpy_helper.from_array(b1.astype(np.float32), "fc1.bias"),
    ]
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc0.weight", "fc0.bias"], ["h0"], transB=1),
        helper.make_node(hidden_op, ["h0"], ["a0"]),
        helper.make_node("MatMul", ["a0", "fc1.weight_t"], ["m1"]),
        helper.make_node("Add", ["m1", "fc1.bias"], ["logits"]),
    ]
    last = "logits"
    if head:
        attrs = {"axis": 1} if head.endswith("Softmax") else {}
        nodes.append(helper.make_node(head, ["logits"], ["probs"], **attrs))
        last = "probs"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_onnx_graph(task: Path, trained: MLP, tmp_path: Path) -> None:
    _onnx_graph(trained, tmp_path / "mlp.onnx")
    _import_prove_verify(task, tmp_path / "mlp.onnx", trained.predict, tmp_path)


def test_safetensors_state_dict(task: Path, trained: MLP, tmp_path: Path) -> None:
    w0, b0, w1, b1 = trained.get_params()
    tensors = {"0.weight": w0.T, "0.bias": b0, "2.weight": w1.T, "2.bias": b1}
    save_file(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
        tmp_path / "m.safetensors",
    )
    _import_prove_verify(task, tmp_path / "m.safetensors", trained.predict, tmp_path)


@pytest.mark.parametrize(
    ("hidden_op", "head", "message"),
    [
        ("Sigmoid", "Softmax", "Sigmoid): unsupported operator"),
        ("Relu", "Relu", "the output layer ends in a Relu"),
    ],
)
def test_unsupported_onnx_graphs_are_rejected(
    task: Path, trained: MLP, tmp_path: Path, hidden_op: str, head: str, message: str
) -> None:
    _onnx_graph(trained, tmp_path / "bad.onnx", hidden_op, head)
    output = zkpot("import", tmp_path / "bad.onnx", "--task", task, "-o", tmp_path / "m.qm", code=2)
    assert message in " ".join(output.split())
    assert not (tmp_path / "m.qm").exists()


def test_unsupported_models_are_rejected(task: Path, trained: MLP, tmp_path: Path) -> None:
    data = load_digits()
    tanh = MLPClassifier((HIDDEN,), activation="tanh", max_iter=20, random_state=0)
    joblib.dump(tanh.fit(data.x_train, data.y_train), tmp_path / "tanh.joblib")
    wide = MLP((64, HIDDEN + 1, 10), np.random.default_rng(0))
    w0, b0, w1, b1 = wide.get_params()
    save_file({"0.weight": w0.T.copy(), "0.bias": b0, "2.weight": w1.T.copy(), "2.bias": b1},
              tmp_path / "wide.safetensors")  # fmt: skip
    save_file({"0.weight": w0.T.copy(), "0.bias": b0, "1.running_mean": b0},
              tmp_path / "bn.safetensors")  # fmt: skip
    cases = {
        "tanh.joblib": "activation 'tanh' is not supported",
        "wide.safetensors": "widths 64-17-10 do not match the task's 64-16-10",
        "bn.safetensors": "'1.running_mean' is not the weight or bias",
    }
    for name, message in cases.items():
        output = zkpot("import", tmp_path / name, "--task", task, "-o", tmp_path / "m.qm", code=2)
        assert message in " ".join(output.split()), output


def test_verify_rejects_tampered_proofs_and_task_files(
    task: Path, trained: MLP, tmp_path: Path
) -> None:
    _onnx_graph(trained, tmp_path / "mlp.onnx")
    zkpot("import", tmp_path / "mlp.onnx", "--task", task, "-o", tmp_path / "m.qm")
    zkpot("prove", "--task", task, "--model", tmp_path / "m.qm", "-o", tmp_path / "p.json")
    good = json.loads((tmp_path / "p.json").read_text())
    for key, value in (("count", good["count"] - 1), ("label", "another model")):
        (tmp_path / "bad.json").write_text(json.dumps({**good, key: value}))
        assert "INVALID" in zkpot("verify", "--task", task, tmp_path / "bad.json", code=1)
    (tmp_path / "bad.json").write_text(json.dumps({**good, "proof": "00" * 10}))
    assert "not a Groth16 proof" in zkpot("verify", "--task", task, tmp_path / "bad.json", code=2)
    copy = tmp_path / "task-copy"
    copy.mkdir()
    for f in task.iterdir():
        (copy / f.name).symlink_to(f)
    (copy / "vk.bin").unlink()
    vk = bytearray((task / "vk.bin").read_bytes())
    vk[-1] ^= 0x01  # always a different file, whatever the last byte was
    (copy / "vk.bin").write_bytes(bytes(vk))
    output = " ".join(zkpot("verify", "--task", copy, tmp_path / "p.json", code=2).split())
    assert "vk.bin: sha256" in output and "differs from task.json" in output


def test_verifier_prints_the_solidity_source(task: Path) -> None:
    source = zkpot("verifier", "--task", task)
    assert "contract ZKPoTTaskVerifier is Groth16Verifier" in source


@pytest.mark.anvil
def test_an_imported_onnx_model_verifies_on_anvil(
    task: Path, trained: MLP, tmp_path: Path, anvil_url: str
) -> None:
    _onnx_graph(trained, tmp_path / "mlp.onnx")
    zkpot("import", tmp_path / "mlp.onnx", "--task", task, "-o", tmp_path / "m.qm")
    zkpot("prove", "--task", task, "--model", tmp_path / "m.qm", "-o", tmp_path / "p.json")
    output = zkpot("verify", "--task", task, tmp_path / "p.json", "--ledger", anvil_url)
    assert "says valid" in output
