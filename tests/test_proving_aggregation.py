"""The aggregation statement: the NumPy reference, the Rust circuit's own average and a
real Groth16 proof agree, and every tampered statement is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpot import _prover, proving
from zkpot.learning.aggregate import aggregate, aggregation_weights, fedavg_int
from zkpot.learning.datasets import load_digits, public_test_set
from zkpot.learning.fedavg import fedavg
from zkpot.learning.integer_model import ModelSpec, QuantizationError, QuantizedModel
from zkpot.learning.model import MLP
from zkpot.learning.quantize import quantize
from zkpot.proving.system import parameters

SPEC = ModelSpec(widths=(6, 4, 3), shifts=(4,), bias_bits=12)
SCALES = (0.02, 0.03)


def _model(rng: np.random.Generator, spec: ModelSpec = SPEC) -> QuantizedModel:
    lo_b, hi_b = -(2 ** (spec.bias_bits - 1)), 2 ** (spec.bias_bits - 1)
    return QuantizedModel(
        spec,
        tuple(
            rng.integers(-128, 128, size=(a, b))
            for a, b in zip(spec.widths[:-1], spec.widths[1:], strict=True)
        ),
        tuple(rng.integers(lo_b, hi_b, size=b) for b in spec.widths[1:]),
        SCALES,
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    counts=st.lists(st.integers(0, 70_000), min_size=1, max_size=6).filter(lambda c: sum(c) > 0),
    frac_bits=st.integers(1, 20),
)
def test_reference_equals_the_circuits_own_average(seed, counts, frac_bits):
    rng = np.random.default_rng(seed)
    models = [_model(rng) for _ in counts]
    weights = aggregation_weights(counts, frac_bits)
    assert weights == _prover.aggregation_weights(counts, frac_bits)
    layers = [parameters(m) for m in models]
    try:
        expected = aggregate(models, weights, frac_bits)
    except QuantizationError as exc:
        # With few fractional bits the rounded weights can sum to more than 2^F and push
        # the average out of range: both sides refuse it.
        assert "leaves the model's ranges" in str(exc)
        with pytest.raises(_prover.ProverError, match="leaves the model's ranges"):
            _prover.aggregate(SPEC, layers, weights, frac_bits)
        return
    gw, gb = _prover.aggregate(SPEC, layers, weights, frac_bits)
    assert [list(w) for w in gw] == [w.ravel().tolist() for w in expected.weights]
    assert [list(b) for b in gb] == [b.tolist() for b in expected.biases]


def test_the_integer_average_is_fedavg_within_rounding():
    rng = np.random.default_rng(3)
    models = [_model(rng) for _ in range(5)]
    counts = [120, 340, 99, 1000, 7]
    exact = sum(n * m.weights[0].astype(np.float64) for n, m in zip(counts, models, strict=True))
    exact /= sum(counts)
    got = fedavg_int(models, counts).weights[0]
    # Rounded half up, with weights of 14 fractional bits: within half a unit plus 5·128/2^15.
    assert np.all(np.abs(got - exact) <= 0.5 + 5 * 128 / 2**15)
    # Dequantised, it is float FedAvg of the dequantised models to within one unit.
    floats = fedavg([m.dequantize() for m in models], counts)
    assert np.allclose(fedavg_int(models, counts).dequantize()[0], floats[0], atol=SCALES[0])


def test_rounding_is_half_up():
    spec = ModelSpec(widths=(1, 2), shifts=())
    a = QuantizedModel(spec, (np.array([[1, -1]]),), (np.array([-3, 0]),), (1.0,))
    b = QuantizedModel(spec, (np.array([[0, 0]]),), (np.array([0, 0]),), (1.0,))
    g = aggregate([a, b], [1, 1], frac_bits=1)
    assert g.weights[0].tolist() == [[1, 0]]  # 0.5 -> 1, -0.5 -> 0
    assert g.biases[0].tolist() == [-1, 0]  # -1.5 -> -1


def test_contributions_in_another_format_are_refused():
    rng = np.random.default_rng(0)
    a, b = _model(rng), _model(rng)
    other = QuantizedModel(SPEC, b.weights, b.biases, (0.04, 0.03))
    with pytest.raises(QuantizationError, match="fixed-point format"):
        aggregate([a, other], [1, 1])
    with pytest.raises(QuantizationError, match="weights must be ints"):
        aggregate([a, b], [1, 2**15])
    with pytest.raises(QuantizationError, match="positive sample count"):
        aggregation_weights([0, 0])
    with pytest.raises(QuantizationError, match="2 models for 1 weights"):
        aggregate([a, b], [1])


def test_quantising_in_a_fixed_format_uses_its_scales_and_refuses_an_overflow():
    data = load_digits()
    spec = ModelSpec(widths=(64, 8, 10), shifts=(10,))
    x_q, _ = public_test_set(data, 50, 0)
    mlp = MLP(spec.widths, np.random.default_rng(1))
    q = quantize(mlp, spec, x_q, scales=(0.0125, 0.0125))
    assert q.weight_scales == (0.0125, 0.0125)
    assert np.array_equal(q.weights[0], np.clip(np.rint(mlp.weights[0] / 0.0125), -127, 127))
    with pytest.raises(QuantizationError, match="overflows the activation range"):
        quantize(mlp, spec, x_q, scales=(1e-7, 0.0125))
    with pytest.raises(QuantizationError, match="2 positive finite weight scales"):
        quantize(mlp, spec, x_q, scales=(0.1,))


@pytest.fixture(scope="module")
def aggregation_keys():
    return proving.setup_aggregation(proving.AggregationCircuit(SPEC, capacity=4))


@pytest.fixture(scope="module")
def proven(aggregation_keys):
    key, _ = aggregation_keys
    rng = np.random.default_rng(11)
    counts = [250, 500, 250]
    weights = aggregation_weights(counts)
    contributions = [(_model(rng), proving.new_salt(), w) for w in weights]
    return contributions, proving.prove_aggregation(key, contributions, proving.new_salt())


def test_a_real_aggregation_proof_verifies(aggregation_keys, proven):
    key, vk = aggregation_keys
    contributions, p = proven
    assert key.capacity == 4 and key.num_constraints > 0
    assert p.global_model == aggregate([m for m, _, _ in contributions], p.weights[:3])
    assert p.commitments[:3] == tuple(proving.commit(m, s) for m, s, _ in contributions)
    assert p.commitments[3] == proving.padding_commitment(SPEC)
    assert p.weights == (4096, 8192, 4096, 0)
    assert verify_all(vk, p)


def verify_all(vk, p, **changes) -> bool:
    args = {
        "global_commitment": p.global_commitment,
        "commitments": list(p.commitments),
        "weights": list(p.weights),
    }
    args.update(changes)
    return proving.verify_aggregation(vk, proof=p.proof, **args)


def test_tampered_aggregation_statements_are_rejected(aggregation_keys, proven):
    _, vk = aggregation_keys
    _, p = proven
    w, c = list(p.weights), list(p.commitments)
    assert not verify_all(vk, p, weights=[w[1], w[0], w[2], w[3]])
    assert not verify_all(vk, p, weights=[w[0], w[1], w[2], 1])
    assert not verify_all(vk, p, commitments=[c[1], c[0], c[2], c[3]])
    assert not verify_all(vk, p, commitments=[c[0], c[1], c[2], c[0]])
    assert not verify_all(vk, p, global_commitment=p.global_commitment + 1)
    assert not verify_all(vk, p, weights=w[:3], commitments=c[:3])
    assert not verify_all(vk, p, global_commitment=proving.FIELD_ORDER)
    assert not verify_all(vk, p, weights=[-1, w[1], w[2], w[3]])


def test_bad_aggregation_arguments_are_clear_errors(aggregation_keys):
    key, _ = aggregation_keys
    rng = np.random.default_rng(5)
    m = _model(rng)
    with pytest.raises(ValueError, match="5 contributions for 4 slots"):
        proving.prove_aggregation(key, [(m, 1, 1)] * 5, 1)
    with pytest.raises(ValueError, match="at least one contribution"):
        proving.prove_aggregation(key, [], 1)
    with pytest.raises(ValueError, match="salt must be an int"):
        proving.prove_aggregation(key, [(m, -1, 1)], 1)
    with pytest.raises(ValueError, match=r"capacity must be in 1\.\.64"):
        proving.AggregationCircuit(SPEC, capacity=0)


def _inputs(p) -> list[int]:
    out = [p.global_commitment]
    for c, w in zip(p.commitments, p.weights, strict=True):
        out += [c, w]
    return out


def test_the_aggregation_verifier_contract_accepts_exactly_the_proven_statement(
    ledger, aggregation_keys, proven
):
    _, vk = aggregation_keys
    _, p = proven
    verifier = ledger.deploy_aggregation_verifier(vk.to_evm())
    proof = list(p.proof.to_evm())
    inputs = _inputs(p)
    assert ledger.verify_aggregation(verifier, proof, inputs)
    swapped = [inputs[0], *inputs[3:5], *inputs[1:3], *inputs[5:]]
    assert not ledger.verify_aggregation(verifier, proof, swapped)
    assert not ledger.verify_aggregation(verifier, proof, [*inputs[:-1], 1])
    assert not ledger.verify_aggregation(verifier, proof, inputs[:-2])
    assert not ledger.verify_aggregation(verifier, proof, [*inputs[:-1], proving.FIELD_ORDER])
    # The pairing, one ecMul/ecAdd and two storage reads per input: far below a block.
    gas = ledger.verify_aggregation_gas(verifier, proof, inputs)
    assert 150_000 < gas < 400_000


def test_the_aggregation_verifier_refuses_a_malformed_key(ledger, aggregation_keys):
    _, vk = aggregation_keys
    words = list(vk.to_evm())
    from zkpot.ledger import ContractError, InvalidArgument

    with pytest.raises(InvalidArgument):
        ledger.deploy_aggregation_verifier(words[:10])
    with pytest.raises(ContractError, match="InvalidVerifyingKey"):
        ledger.deploy_aggregation_verifier(words[:-2])  # an even number of inputs
    bad = list(words)
    bad[15] = (bad[15] + 1) % (2**254)  # IC0 off the curve
    with pytest.raises(ContractError, match="InvalidVerifyingKey"):
        ledger.deploy_aggregation_verifier(bad)
