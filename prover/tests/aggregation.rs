//! The aggregation circuit accepts exactly the honest average: a wrong weight, a model that
//! opens another commitment, a rounding off by one, a duplicated contribution or a real
//! model in an empty slot are all rejected.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkpot_prover::aggregation::{
    aggregate, padding_commitment, padding_model, weights, AggregationCircuit, Shape, Statement,
    Witness,
};
use zkpot_prover::commitment::commit;
use zkpot_prover::groth16::{
    aggregation_matrices, aggregation_prove, aggregation_setup, aggregation_verify,
    aggregation_witness, prepare,
};
use zkpot_prover::spec::{ModelSpec, QuantizedModel};

fn shape() -> Shape {
    Shape {
        spec: ModelSpec {
            widths: vec![5, 3, 4],
            shifts: vec![4],
            input_bits: 8,
            weight_bits: 8,
            bias_bits: 12,
            act_bits: 8,
        },
        capacity: 3,
        frac_bits: 14,
    }
}

fn random_model(rng: &mut impl Rng, spec: &ModelSpec) -> QuantizedModel {
    let layers = spec.num_layers();
    QuantizedModel {
        weights: (0..layers)
            .map(|l| {
                (0..spec.weight_count(l))
                    .map(|_| rng.gen_range(-128..128))
                    .collect()
            })
            .collect(),
        biases: (0..layers)
            .map(|l| {
                (0..spec.widths[l + 1])
                    .map(|_| rng.gen_range(-2048..2048))
                    .collect()
            })
            .collect(),
    }
}

/// Two contributions with sample counts 300 and 700, and the honest statement and witness.
fn honest(seed: u64) -> (Shape, Statement, Witness) {
    let shape = shape();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let w = weights(&[300, 700], shape.frac_bits).unwrap();
    let contributions: Vec<(QuantizedModel, Fr, u64)> = (0..2)
        .map(|k| {
            (
                random_model(&mut rng, &shape.spec),
                Fr::from(rng.gen::<u64>()),
                w[k],
            )
        })
        .collect();
    let (statement, witness) =
        aggregation_witness(&shape, &contributions, Fr::from(99u64)).unwrap();
    (shape, statement, witness)
}

fn satisfied(shape: &Shape, statement: &Statement, witness: &Witness) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    AggregationCircuit {
        shape,
        statement: Some(statement),
        witness: Some(witness),
    }
    .generate_constraints(cs.clone())
    .unwrap();
    cs.is_satisfied().unwrap()
}

/// Recommits the witness's global model, so that only the averaging can reject it.
fn recommit_global(shape: &Shape, statement: &mut Statement, witness: &Witness) {
    statement.global = commit(&shape.spec, &witness.global, witness.global_salt);
}

#[test]
fn weights_are_the_rounded_shares() {
    assert_eq!(weights(&[300, 700], 14).unwrap(), vec![4915, 11469]);
    assert_eq!(weights(&[1, 1, 1], 2).unwrap(), vec![1, 1, 1]);
    assert_eq!(weights(&[5, 0], 14).unwrap(), vec![1 << 14, 0]);
    assert!(weights(&[0, 0], 14).is_err());
}

#[test]
fn the_honest_average_satisfies_the_circuit() {
    for seed in 0..3 {
        let (shape, statement, witness) = honest(seed);
        assert!(satisfied(&shape, &statement, &witness), "seed {seed}");
        assert_eq!(statement.slots[2], (padding_commitment(&shape.spec), 0));
    }
}

#[test]
fn the_native_average_is_the_rounded_weighted_mean() {
    let (shape, _, witness) = honest(1);
    let w = weights(&[300, 700], 14).unwrap();
    let (a, b) = (&witness.models[0], &witness.models[1]);
    for i in 0..shape.spec.weight_count(0) {
        let exact = (w[0] as i128 * a.weights[0][i] as i128
            + w[1] as i128 * b.weights[0][i] as i128) as f64
            / 16384.0;
        assert_eq!(witness.global.weights[0][i], (exact + 0.5).floor() as i64);
    }
}

#[test]
fn a_wrong_weight_is_rejected() {
    let (shape, mut statement, witness) = honest(2);
    statement.slots[0].1 += 1;
    statement.slots[1].1 -= 1;
    assert!(!satisfied(&shape, &statement, &witness));
}

#[test]
fn a_model_that_opens_another_commitment_is_rejected() {
    let (shape, statement, mut witness) = honest(3);
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    witness.models[1] = random_model(&mut rng, &shape.spec);
    let w: Vec<u64> = statement.slots.iter().map(|s| s.1).collect();
    witness.global = aggregate(&shape, &witness.models, &w).unwrap();
    let mut statement = statement;
    recommit_global(&shape, &mut statement, &witness);
    assert!(!satisfied(&shape, &statement, &witness));
}

#[test]
fn a_rounding_off_by_one_is_rejected() {
    for delta in [1, -1] {
        let (shape, mut statement, mut witness) = honest(4);
        witness.global.weights[0][2] += delta;
        witness.global.biases[1][0] += delta;
        recommit_global(&shape, &mut statement, &witness);
        assert!(!satisfied(&shape, &statement, &witness), "delta {delta}");
    }
}

#[test]
fn a_duplicated_contribution_is_rejected() {
    // The leader averages contribution 0 twice instead of contributions 0 and 1.
    let (shape, mut statement, mut witness) = honest(5);
    witness.models[1] = witness.models[0].clone();
    witness.salts[1] = witness.salts[0];
    let w: Vec<u64> = statement.slots.iter().map(|s| s.1).collect();
    witness.global = aggregate(&shape, &witness.models, &w).unwrap();
    recommit_global(&shape, &mut statement, &witness);
    assert!(!satisfied(&shape, &statement, &witness));
}

#[test]
fn a_real_model_in_an_empty_slot_does_not_count() {
    let (shape, statement, witness) = honest(6);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let extra = random_model(&mut rng, &shape.spec);
    // Padding with a real model at a positive weight: the public weight is 0.
    let mut padded = witness.clone();
    padded.models[2] = extra.clone();
    let w = [statement.slots[0].1, statement.slots[1].1, 1000];
    padded.global = aggregate(&shape, &padded.models, &w).unwrap();
    let mut st = statement.clone();
    recommit_global(&shape, &mut st, &padded);
    assert!(!satisfied(&shape, &st, &padded));
    // The same with the slot's commitment changed to the extra model's: the statement no
    // longer names the padding commitment, which the verifier fixes for an empty slot.
    padded.salts[2] = Fr::from(5u64);
    st.slots[2].0 = commit(&shape.spec, &extra, Fr::from(5u64));
    assert_ne!(st.slots[2].0, padding_commitment(&shape.spec));
    assert!(!satisfied(&shape, &st, &padded));
}

#[test]
fn a_weight_beyond_its_range_is_rejected() {
    let shape = shape();
    let over = 1u64 << (shape.frac_bits + 1);
    let model = padding_model(&shape.spec);
    let (mut statement, mut witness) = aggregation_witness(
        &shape,
        &[(model.clone(), Fr::from(1u64), 1 << 14)],
        Fr::from(2u64),
    )
    .unwrap();
    statement.slots[0].1 = over;
    witness.global = model;
    assert!(!satisfied(&shape, &statement, &witness));
}

#[test]
fn groth16_proves_and_verifies_an_aggregate() {
    let (shape, statement, witness) = honest(7);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (key, vk) = aggregation_setup(&shape, &mut rng).unwrap();
    let contributions: Vec<(QuantizedModel, Fr, u64)> = (0..2)
        .map(|k| {
            (
                witness.models[k].clone(),
                witness.salts[k],
                statement.slots[k].1,
            )
        })
        .collect();
    let proven = aggregation_prove(&key, &contributions, witness.global_salt, &mut rng).unwrap();
    assert_eq!(proven.statement, statement);
    assert_eq!(proven.global, witness.global);
    let pvk = prepare(&vk);
    assert!(aggregation_verify(&pvk, &proven.statement, &proven.proof).unwrap());
    let mut other = proven.statement.clone();
    other.slots.swap(0, 1);
    assert!(!aggregation_verify(&pvk, &other, &proven.proof).unwrap());
    let m = aggregation_matrices(&shape).unwrap();
    assert_eq!(m.num_instance, 1 + 1 + 2 * shape.capacity);
}
