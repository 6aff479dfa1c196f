"""The Groth16 verifier contract against a trapdoor test vector, on both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from py_ecc import optimized_bn128 as bn128

from zkpot.ledger import InvalidArgument, InvalidVerifyingKey, Ledger, export_solidity_verifier
from zkpot.ledger.build import BuildError, run_solc
from zkpot.protocol.hashes import BASE_FIELD
from zkpot.proving import FIELD_ORDER

if TYPE_CHECKING:
    from anvil import TinyProver, TrapdoorGroth16

INPUTS = [0x1234_5678_9ABC_DEF0 << 180, 17, FIELD_ORDER - 5]


@pytest.fixture
def verifier(ledger: Ledger, groth16: TrapdoorGroth16) -> str:
    return ledger.deploy_verifier(groth16.vk_words)


@pytest.fixture(scope="module")
def proof(groth16: TrapdoorGroth16) -> list[int]:
    return groth16.prove(INPUTS)


def test_valid_proof_verifies(ledger: Ledger, verifier: str, proof: list[int]) -> None:
    assert ledger.verify_proof(verifier, proof, INPUTS)


def test_fresh_proofs_of_the_same_inputs_verify(
    ledger: Ledger, verifier: str, groth16: TrapdoorGroth16, proof: list[int]
) -> None:
    other = groth16.prove(INPUTS)
    assert other != proof
    assert ledger.verify_proof(verifier, other, INPUTS)


@pytest.mark.parametrize("index", range(3))
def test_tampered_input_is_rejected(
    ledger: Ledger, verifier: str, proof: list[int], index: int
) -> None:
    inputs = list(INPUTS)
    inputs[index] = (inputs[index] + 1) % FIELD_ORDER
    assert not ledger.verify_proof(verifier, proof, inputs)


@pytest.mark.parametrize("index", range(3))
def test_input_out_of_scalar_field_is_rejected(
    ledger: Ledger, verifier: str, proof: list[int], index: int
) -> None:
    # x + r would give the same vk_x (ecMul reduces mod r): the range check must catch it.
    inputs = list(INPUTS)
    inputs[index] += FIELD_ORDER
    assert not ledger.verify_proof(verifier, proof, inputs)


@pytest.mark.parametrize(("start", "group"), [(0, 1), (2, 2), (6, 1)])
def test_other_curve_point_is_rejected(
    ledger: Ledger,
    verifier: str,
    groth16: TrapdoorGroth16,
    proof: list[int],
    start: int,
    group: int,
) -> None:
    """A, B or C replaced by a valid point of the right group: the pairing check fails."""
    words = groth16.g1(2) if group == 1 else groth16.g2(2)
    tampered = list(proof)
    tampered[start : start + len(words)] = words
    assert not ledger.verify_proof(verifier, tampered, INPUTS)


@pytest.mark.parametrize("index", range(8))
def test_point_off_curve_is_rejected(
    ledger: Ledger, verifier: str, proof: list[int], index: int
) -> None:
    """Any single word changed moves its point off the curve: the precompile fails, false."""
    tampered = list(proof)
    tampered[index] = (tampered[index] + 1) % BASE_FIELD
    assert not ledger.verify_proof(verifier, tampered, INPUTS)


@pytest.mark.parametrize("index", range(8))
def test_coordinate_out_of_base_field_is_rejected(
    ledger: Ledger, verifier: str, proof: list[int], index: int
) -> None:
    tampered = list(proof)
    tampered[index] += BASE_FIELD
    assert not ledger.verify_proof(verifier, tampered, INPUTS)


def test_negated_a_is_rejected(ledger: Ledger, verifier: str, proof: list[int]) -> None:
    tampered = list(proof)
    tampered[1] = BASE_FIELD - tampered[1]
    assert not ledger.verify_proof(verifier, tampered, INPUTS)


@pytest.mark.parametrize(
    ("index", "change", "reported"),
    [
        (0, BASE_FIELD, 0),  # alpha.x not canonical
        (9, BASE_FIELD, 9),  # gamma.y_c0 not canonical
        (15, 1, 14),  # IC0 off the curve
        (21, 1, 20),  # IC3 off the curve
        (3, 1, 22),  # beta off the twist
        (13, 1, 22),  # delta off the twist
    ],
)
def test_constructor_rejects_invalid_key(
    ledger: Ledger, groth16: TrapdoorGroth16, index: int, change: int, reported: int
) -> None:
    vk = list(groth16.vk_words)
    vk[index] = vk[index] + change
    with pytest.raises(InvalidVerifyingKey) as error:
        # Python checks the words are below q, so send the out-of-field ones raw.
        if vk[index] >= BASE_FIELD:
            _deploy_unchecked(ledger, vk)
        else:
            ledger.deploy_verifier(vk)
    assert error.value.index == reported


def test_deploy_verifier_checks_words_first(ledger: Ledger, groth16: TrapdoorGroth16) -> None:
    nonce = ledger.w3.eth.get_transaction_count(ledger.dev_account)
    with pytest.raises(InvalidArgument):
        ledger.deploy_verifier(groth16.vk_words[:21])
    with pytest.raises(InvalidArgument):
        ledger.deploy_verifier([*groth16.vk_words[:21], BASE_FIELD])
    assert ledger.w3.eth.get_transaction_count(ledger.dev_account) == nonce


def test_export_lists_the_key_in_constructor_order(groth16: TrapdoorGroth16) -> None:
    source = export_solidity_verifier(groth16.vk_words)
    assert "contract Groth16Verifier {" in source
    assert "contract ZKPoTTaskVerifier is Groth16Verifier {" in source
    positions = [source.index(f"uint256({word})") for word in groth16.vk_words]
    assert positions == sorted(positions)
    assert "// IC3.y" in source and "// beta.x_c1" in source


@pytest.mark.parametrize("bad", [[], [1] * 21, [1] * 23, [1] * 21 + [BASE_FIELD], [-1] * 22])
def test_export_rejects_malformed_key(bad: list[int]) -> None:
    with pytest.raises(InvalidArgument):
        export_solidity_verifier(bad)


def test_exported_verifier_compiles_and_verifies(
    ledger: Ledger, groth16: TrapdoorGroth16, proof: list[int]
) -> None:
    source = export_solidity_verifier(groth16.vk_words)
    try:
        _, contracts = run_solc({"ZKPoTTaskVerifier.sol": source})
    except BuildError as error:
        pytest.skip(f"solc-js unavailable: {error}")
    code = contracts["ZKPoTTaskVerifier.sol"]["ZKPoTTaskVerifier"]["evm"]["bytecode"]["object"]
    address = ledger.deploy_contract(bytes.fromhex(code))
    assert ledger.verify_proof(address, proof, INPUTS)
    assert not ledger.verify_proof(address, proof, [INPUTS[0], INPUTS[1] + 1, INPUTS[2]])


def test_trapdoor_vector_satisfies_the_groth16_equation(groth16: TrapdoorGroth16) -> None:
    """The vector itself, checked with py_ecc's pairing (independent of the contract)."""
    words = groth16.prove([1, 2, 3])
    a = _g1(words[0:2])
    b = _g2(words[2:6])
    c = _g1(words[6:8])
    vk = groth16.vk_words
    vk_x = _g1(vk[14:16])
    for x, at in zip([1, 2, 3], (16, 18, 20), strict=True):
        vk_x = bn128.add(vk_x, bn128.multiply(_g1(vk[at : at + 2]), x))
    lhs = bn128.pairing(b, a)
    rhs = (
        bn128.pairing(_g2(vk[2:6]), _g1(vk[0:2]))
        * bn128.pairing(_g2(vk[6:10]), vk_x)
        * bn128.pairing(_g2(vk[10:14]), c)
    )
    assert lhs == rhs


def _g1(words: list[int]) -> tuple[bn128.FQ, bn128.FQ, bn128.FQ]:
    return (bn128.FQ(words[0]), bn128.FQ(words[1]), bn128.FQ.one())


def _g2(words: list[int]) -> tuple[bn128.FQ2, bn128.FQ2, bn128.FQ2]:
    x = bn128.FQ2([words[1], words[0]])
    y = bn128.FQ2([words[3], words[2]])
    return (x, y, bn128.FQ2.one())


def _deploy_unchecked(ledger: Ledger, vk: list[int]) -> str:
    from zkpot.ledger.artifacts import load_artifact

    artefact = load_artifact("Groth16Verifier")
    factory = ledger.w3.eth.contract(abi=artefact["abi"], bytecode=artefact["bytecode"])
    data = factory.constructor(vk).data_in_transaction
    return ledger.deploy_contract(bytes.fromhex(data[2:]))


def test_exported_verifier_accepts_a_real_proof_and_rejects_tampering(
    ledger: Ledger, prover: TinyProver
) -> None:
    """``export_solidity_verifier(vk.to_evm())`` compiled with solc-js, deployed, and fed a
    real proof of the Rust prover: it accepts it and rejects every tampered part."""

    source = export_solidity_verifier(prover.vk.to_evm())
    try:
        _, contracts = run_solc({"ZKPoTTaskVerifier.sol": source})
    except BuildError as error:
        pytest.skip(f"solc-js unavailable: {error}")
    code = contracts["ZKPoTTaskVerifier.sol"]["ZKPoTTaskVerifier"]["evm"]["bytecode"]["object"]
    address = ledger.deploy_contract(bytes.fromhex(code))
    proven = prover.prove(7, tag=FIELD_ORDER - 12345)
    words = proven.proof.to_evm()
    inputs = [proven.commitment, proven.count, proven.tag]
    assert ledger.verify_proof(address, words, inputs)
    assert not ledger.verify_proof(address, words, [inputs[0], inputs[1] + 1, inputs[2]])
    assert not ledger.verify_proof(address, words, [inputs[0] + 1, inputs[1], inputs[2]])
    assert not ledger.verify_proof(address, words, [inputs[0], inputs[1], inputs[2] - 1])
    swapped = words[6:8] + words[2:6] + words[0:2]  # A and C exchanged
    assert not ledger.verify_proof(address, swapped, inputs)
    other = prover.prove(7, tag=proven.tag)  # same statement shape, another salt
    assert not ledger.verify_proof(address, other.proof.to_evm(), inputs)
    gas = ledger.verify_proof_gas(address, words, inputs)
    assert gas <= 250_000, gas
