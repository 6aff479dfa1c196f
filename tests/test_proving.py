"""The proof system through its Python API: the circuit's inference equals the Python
reference bit for bit, honest proofs verify, and everything tampered is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpot import proving
from zkpot.learning.datasets import load_dataset, public_test_set
from zkpot.learning.inference import ActivationOverflow, correct_count, integer_forward
from zkpot.learning.integer_model import ModelSpec, QuantizedModel
from zkpot.learning.measure import train_reference
from zkpot.learning.quantize import default_spec, quantize


@pytest.fixture(scope="module")
def digits_task() -> tuple[proving.AccuracyCircuit, QuantizedModel]:
    data = load_dataset("digits")
    x, y = public_test_set(data, 40, seed=0)
    mlp = train_reference(data, hidden=8, seed=0)
    spec = default_spec("digits", hidden=8)
    return proving.AccuracyCircuit(spec, x, y), quantize(mlp, spec, x)


@pytest.fixture(scope="module")
def keys(digits_task):
    circuit, _ = digits_task
    return proving.setup(circuit)


@pytest.fixture(scope="module")
def proven(digits_task, keys) -> proving.Proven:
    _, model = digits_task
    pk, _ = keys
    return proving.prove(pk, model, proving.new_salt(), tag=424242)


def test_circuit_inference_equals_python_reference_on_a_trained_model(digits_task):
    circuit, model = digits_task
    logits, correct = proving.integer_inference(circuit, model)
    ref_logits, _ = integer_forward(model, circuit.test_x)
    np.testing.assert_array_equal(logits, ref_logits)
    assert int(correct.sum()) == correct_count(model, circuit.test_x, circuit.test_y)


def _random_model(draw, spec: ModelSpec) -> QuantizedModel:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases = [], []
    for i, (din, dout) in enumerate(zip(spec.widths, spec.widths[1:], strict=False)):
        limit = 1 << (spec.shifts[0] if i == 0 else 6)
        weights.append(rng.integers(-limit, limit, size=(din, dout)))
        biases.append(rng.integers(-limit, limit, size=dout))
    return QuantizedModel(spec, tuple(weights), tuple(biases), (1.0,) * len(weights))


@st.composite
def small_tasks(draw):
    din, hidden = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    classes = draw(st.integers(2, 10))
    spec = ModelSpec(widths=(din, hidden, classes), shifts=(draw(st.integers(0, 5)),))
    n = draw(st.integers(1, 8))
    x = np.array(draw(st.lists(st.integers(0, 255), min_size=n * din, max_size=n * din)))
    y = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    return spec, x.astype(np.uint8).reshape(n, din), y, _random_model(draw, spec)


@settings(max_examples=150, deadline=None)
@given(small_tasks())
def test_circuit_inference_agrees_with_reference_on_random_models(task):
    spec, x, y, model = task
    circuit = proving.AccuracyCircuit(spec, x, y)
    try:
        ref_logits, _ = integer_forward(model, x)
    except ActivationOverflow:
        with pytest.raises(proving.ActivationOverflowError):
            proving.integer_inference(circuit, model)
        return
    logits, correct = proving.integer_inference(circuit, model)
    np.testing.assert_array_equal(logits, ref_logits)
    np.testing.assert_array_equal(correct, np.argmax(ref_logits, axis=1) == y)


def test_honest_proof_verifies_with_the_reference_count(digits_task, keys, proven):
    circuit, model = digits_task
    _, vk = keys
    assert proven.count == correct_count(model, circuit.test_x, circuit.test_y)
    assert proven.count > 30
    assert proving.verify(vk, proven.commitment, proven.count, proven.tag, proven.proof)
    assert len(proven.proof.to_bytes()) == 128


def test_tampered_statements_are_rejected(keys, proven):
    _, vk = keys
    c, n, t, p = proven.commitment, proven.count, proven.tag, proven.proof
    assert not proving.verify(vk, c, n + 1, t, p)
    assert not proving.verify(vk, c, n - 1, t, p)
    assert not proving.verify(vk, c + 1, n, t, p)
    assert not proving.verify(vk, c, n, t + 1, p)
    assert not proving.verify(vk, c + proving.FIELD_ORDER, n, t, p)
    assert not proving.verify(vk, c, n, -1, p)


def test_commitment_opens_only_with_model_and_salt(digits_task, proven):
    _, model = digits_task
    salt = proving.new_salt()
    c = proving.commit(model, salt)
    assert c == proving.commit(model, salt)
    assert c != proving.commit(model, (salt + 1) % proving.FIELD_ORDER)
    w = [np.array(a) for a in model.weights]
    w[1][0, 0] += 1 if w[1][0, 0] < 100 else -1
    other = QuantizedModel(model.spec, tuple(w), model.biases, model.weight_scales)
    assert c != proving.commit(other, salt)


def test_flipped_proof_bytes_never_verify(keys, proven):
    _, vk = keys
    raw = proven.proof.to_bytes()
    for i in range(0, 128, 9):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        try:
            proof = proving.Proof.from_bytes(bytes(flipped))
        except proving.ProverError:
            continue
        assert not proving.verify(vk, proven.commitment, proven.count, proven.tag, proof)


def test_keys_and_proofs_round_trip_and_reject_garbage(digits_task, keys, proven):
    pk, vk = keys
    assert proving.VerifyingKey.from_bytes(vk.to_bytes()) == vk
    again = proving.Proof.from_bytes(proven.proof.to_bytes())
    assert proving.verify(vk, proven.commitment, proven.count, proven.tag, again)
    pk2 = proving.ProvingKey.from_bytes(pk.to_bytes())
    assert pk2.num_constraints == pk.num_constraints
    _, model = digits_task
    reloaded = proving.prove(pk2, model, proving.new_salt(), proven.tag)
    assert reloaded.count == proven.count
    assert proving.verify(vk, reloaded.commitment, reloaded.count, reloaded.tag, reloaded.proof)
    for bad in (b"", b"\x00" * 128, b"\xff" * 128, proven.proof.to_bytes()[:-1]):
        with pytest.raises(proving.ProverError):
            proving.Proof.from_bytes(bad)
    for bad in (b"", b"ZKPOTVK1", vk.to_bytes()[:-1], vk.to_bytes() + b"\x00"):
        with pytest.raises(proving.ProverError):
            proving.VerifyingKey.from_bytes(bad)
    raw = pk.to_bytes()
    for bad in (b"ZKPOTPK1", raw[:200], raw[:-1], raw + b"\x00"):
        with pytest.raises(proving.ProverError):
            proving.ProvingKey.from_bytes(bad)


def test_proof_under_another_tasks_key_is_rejected(digits_task, proven):
    circuit, _ = digits_task
    x = circuit.test_x.copy()
    x[0, 10] ^= 1
    _, other_vk = proving.setup(proving.AccuracyCircuit(circuit.spec, x, circuit.test_y))
    assert not proving.verify(other_vk, proven.commitment, proven.count, proven.tag, proven.proof)


def test_a_model_out_of_the_activation_range_cannot_be_proven(digits_task, keys):
    _, model = digits_task
    pk, _ = keys
    w = [np.array(a) for a in model.weights]
    w[0][:, :] = 127
    loud = QuantizedModel(model.spec, tuple(w), model.biases, model.weight_scales)
    with pytest.raises(proving.ActivationOverflowError):
        proving.prove(pk, loud, proving.new_salt(), 1)


def test_bad_arguments_are_clear_errors(digits_task, keys):
    circuit, model = digits_task
    pk, _ = keys
    with pytest.raises(ValueError, match="salt"):
        proving.prove(pk, model, proving.FIELD_ORDER, 1)
    with pytest.raises(ValueError, match="tag"):
        proving.prove(pk, model, 1, -5)
    with pytest.raises(ValueError):
        proving.AccuracyCircuit(circuit.spec, circuit.test_x[:, :10], circuit.test_y)
    spec9 = default_spec("digits", hidden=9)
    wrong = proving.AccuracyCircuit(spec9, circuit.test_x, circuit.test_y)
    with pytest.raises(proving.ProverError):
        proving.integer_inference(wrong, model)
