//! Our Groth16 generator and prover over compact matrices compute exactly what
//! ark-groth16 computes from its own constraint system: the same keys from the same
//! randomness, the same proof for the same `r` and `s`.

use ark_bn254::{Bn254, Fr};
use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::Groth16;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, SynthesisMode, R1CS_PREDICATE_LABEL,
};
use ark_serialize::CanonicalSerialize;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkpot_prover::circuit::AccuracyCircuit;
use zkpot_prover::encoding::{pk_from_bytes, pk_to_bytes};
use zkpot_prover::groth16::{self, generator, prover};
use zkpot_prover::r1cs::Matrices;
use zkpot_prover::spec::{ModelSpec, QuantizedModel, TestSet};

fn task(seed: u64) -> (ModelSpec, TestSet, QuantizedModel) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let spec = ModelSpec {
        widths: vec![6, 3, 4],
        shifts: vec![3],
        input_bits: 4,
        weight_bits: 6,
        bias_bits: 8,
        act_bits: 5,
    };
    let n = 5;
    let test = TestSet {
        dim: 6,
        inputs: (0..n * 6).map(|_| rng.gen_range(0..16)).collect(),
        labels: (0..n).map(|_| rng.gen_range(0..4)).collect(),
    };
    let model = QuantizedModel {
        weights: vec![
            (0..18).map(|_| rng.gen_range(-6..6)).collect(),
            (0..12).map(|_| rng.gen_range(-32..32)).collect(),
        ],
        biases: vec![vec![1, -2, 3], vec![0, 5, -5, 7]],
    };
    (spec, test, model)
}

fn bytes(x: &impl CanonicalSerialize) -> Vec<u8> {
    let mut out = Vec::new();
    x.serialize_uncompressed(&mut out).unwrap();
    out
}

#[test]
fn keys_equal_ark_groth16_from_the_same_randomness() {
    let (spec, test, _) = task(1);
    let matrices = groth16::constraint_matrices(&spec, &test).unwrap();
    let ours = generator::generate_random_parameters(&matrices, &mut ChaCha20Rng::seed_from_u64(9))
        .unwrap();
    let ark = Groth16::<Bn254, LibsnarkReduction>::generate_random_parameters_with_reduction(
        AccuracyCircuit::shape(&spec, &test),
        &mut ChaCha20Rng::seed_from_u64(9),
    )
    .unwrap();
    assert_eq!(bytes(&ours), bytes(&ark));
}

#[test]
fn proofs_equal_ark_groth16_for_the_same_r_and_s() {
    let (spec, test, model) = task(2);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (key, vk) = groth16::setup(&spec, &test, &mut rng).unwrap();
    let (statement, witness) =
        groth16::witness(&key, &model, Fr::from(4u64), Fr::from(5u64)).unwrap();
    let z = groth16::assignment(&key, &statement, &witness).unwrap();
    assert!(key.matrices.is_satisfied(&z));
    let m = &key.matrices;
    assert_eq!(
        m.evaluate_a_and_b(&z),
        (m.evaluate(&m.a, &z), m.evaluate(&m.b, &z))
    );

    // ark-groth16's prover on ark-relations' own matrices of the same circuit.
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    AccuracyCircuit::shape(&spec, &test)
        .generate_constraints(cs.clone())
        .unwrap();
    cs.finalize();
    let ark_matrices = cs
        .to_matrices()
        .unwrap()
        .remove(R1CS_PREDICATE_LABEL)
        .unwrap();
    let (r, s) = (Fr::from(123u64), Fr::from(456u64));
    let ark = Groth16::<Bn254, LibsnarkReduction>::create_proof_with_reduction_and_matrices(
        &key.pk,
        r,
        s,
        &ark_matrices,
        key.matrices.num_instance,
        key.matrices.num_constraints,
        &z,
    )
    .unwrap();
    let (ours, timings) = prover::create_proof(&key.pk, &key.matrices, r, s, &z).unwrap();
    assert_eq!(bytes(&ours), bytes(&ark));
    assert!(timings.qap_s > 0.0 && timings.msm_h_s > 0.0);
    let pvk = groth16::prepare(&vk);
    assert!(groth16::verify(&pvk, &statement, &ours).unwrap());
}

#[test]
fn matrices_survive_the_proving_key_encoding() {
    let (spec, test, model) = task(4);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (key, vk) = groth16::setup(&spec, &test, &mut rng).unwrap();
    let decoded = pk_from_bytes(&pk_to_bytes(&key)).unwrap();
    assert_eq!(decoded.matrices, key.matrices);
    assert_eq!(bytes(&decoded.pk), bytes(&key.pk));
    let proven =
        groth16::prove(&decoded, &model, Fr::from(1u64), Fr::from(2u64), &mut rng).unwrap();
    assert!(groth16::verify(&groth16::prepare(&vk), &proven.statement, &proven.proof).unwrap());
}

#[test]
fn an_unsatisfying_assignment_is_detected_by_the_matrices() {
    let (spec, test, model) = task(6);
    let matrices: Matrices = groth16::constraint_matrices(&spec, &test).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (key, _) = groth16::setup(&spec, &test, &mut rng).unwrap();
    let (statement, witness) =
        groth16::witness(&key, &model, Fr::from(4u64), Fr::from(5u64)).unwrap();
    let mut z = groth16::assignment(&key, &statement, &witness).unwrap();
    assert!(matrices.is_satisfied(&z));
    let last = z.len() - 1;
    z[last] += Fr::from(1u64);
    assert!(!matrices.is_satisfied(&z));
}
