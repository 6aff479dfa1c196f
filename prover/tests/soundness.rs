//! The accuracy circuit accepts exactly the honest statement: every tampered public input,
//! witness, proof or key is rejected.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkpot_prover::circuit::{AccuracyCircuit, Statement, Witness};
use zkpot_prover::commitment::commit;
use zkpot_prover::encoding::{proof_from_bytes, proof_to_bytes};
use zkpot_prover::groth16::{prepare, prove, setup, verify};
use zkpot_prover::inference::infer;
use zkpot_prover::spec::{ModelSpec, QuantizedModel, TestSet};

fn spec() -> ModelSpec {
    ModelSpec {
        widths: vec![8, 4, 10],
        shifts: vec![4],
        input_bits: 8,
        weight_bits: 8,
        bias_bits: 12,
        act_bits: 8,
    }
}

fn random_task(rng: &mut impl Rng, spec: &ModelSpec, n: usize) -> TestSet {
    let d = spec.input_dim();
    TestSet {
        dim: d,
        inputs: (0..n * d).map(|_| rng.gen_range(0..16)).collect(),
        labels: (0..n)
            .map(|_| rng.gen_range(0..spec.num_classes() as u8))
            .collect(),
    }
}

fn random_model(rng: &mut impl Rng, spec: &ModelSpec) -> QuantizedModel {
    let layers = spec.num_layers();
    QuantizedModel {
        weights: (0..layers)
            .map(|l| {
                (0..spec.weight_count(l))
                    .map(|_| rng.gen_range(-40..40))
                    .collect()
            })
            .collect(),
        biases: (0..layers)
            .map(|l| {
                (0..spec.widths[l + 1])
                    .map(|_| rng.gen_range(-50..50))
                    .collect()
            })
            .collect(),
    }
}

/// A test set on which the model gets some samples right and some wrong.
fn task_and_model(seed: u64) -> (ModelSpec, TestSet, QuantizedModel) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let spec = spec();
    let test = random_task(&mut rng, &spec, 12);
    let model = random_model(&mut rng, &spec);
    let trace = infer(&spec, &test, &model).unwrap();
    // Relabel a few samples with the model's predictions so that the count is non-trivial.
    let mut test = test;
    for s in 0..6 {
        let row = &trace.logits[s * 10..(s + 1) * 10];
        let best = (0..10)
            .max_by_key(|&c| (row[c], std::cmp::Reverse(c)))
            .unwrap();
        test.labels[s] = best as u8;
    }
    (spec, test, model)
}

fn honest(spec: &ModelSpec, test: &TestSet, model: &QuantizedModel) -> (Statement, Witness) {
    let salt = Fr::from(99u64);
    let trace = infer(spec, test, model).unwrap();
    let statement = Statement {
        commitment: commit(spec, model, salt),
        count: trace.count(),
        tag: Fr::from(5u64),
    };
    (
        statement,
        Witness {
            model: model.clone(),
            salt,
            trace,
        },
    )
}

fn satisfied(spec: &ModelSpec, test: &TestSet, statement: &Statement, witness: &Witness) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let circuit = AccuracyCircuit {
        spec,
        test,
        statement: Some(statement),
        witness: Some(witness),
    };
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    cs.is_satisfied().unwrap()
}

/// Builds the honest witness, applies `tamper`, and reports whether the circuit accepts.
fn accepts(tamper: impl FnOnce(&mut Statement, &mut Witness)) -> bool {
    let (spec, test, model) = task_and_model(1);
    let (mut statement, mut witness) = honest(&spec, &test, &model);
    tamper(&mut statement, &mut witness);
    satisfied(&spec, &test, &statement, &witness)
}

#[test]
fn the_honest_witness_satisfies_and_counts_right() {
    let (spec, test, model) = task_and_model(1);
    let (statement, _) = honest(&spec, &test, &model);
    assert!(
        statement.count >= 6 && statement.count < 12,
        "count {}",
        statement.count
    );
    assert!(accepts(|_, _| {}));
}

#[test]
fn a_wrong_count_is_rejected() {
    assert!(!accepts(|st, _| st.count += 1));
    assert!(!accepts(|st, _| st.count -= 1));
}

#[test]
fn a_wrong_commitment_is_rejected() {
    assert!(!accepts(|st, _| st.commitment += Fr::from(1u64)));
    // The right commitment with another salt in the witness.
    assert!(!accepts(|_, w| w.salt += Fr::from(1u64)));
}

#[test]
fn a_wrong_relu_output_is_rejected() {
    // Find a neuron clamped to zero and claim it fired, then a firing one claimed silent.
    assert!(!accepts(|_, w| {
        let i = w.trace.activations[0]
            .iter()
            .position(|&a| a == 0)
            .expect("a dead neuron");
        w.trace.activations[0][i] = 1;
    }));
    assert!(!accepts(|_, w| {
        let i = w.trace.activations[0]
            .iter()
            .position(|&a| a > 0)
            .expect("a live neuron");
        w.trace.activations[0][i] = 0;
    }));
}

#[test]
fn a_wrong_requantisation_is_rejected() {
    // Shift one accumulator's decomposition by one quantum (2^k) with a matching activation.
    assert!(!accepts(|_, w| {
        let i = w.trace.activations[0]
            .iter()
            .position(|&a| a > 0)
            .expect("a live neuron");
        w.trace.shifted[0][i] += 1 << 4;
        w.trace.activations[0][i] += 1;
    }));
    // Or by less than a quantum, with the same activation.
    assert!(!accepts(|_, w| w.trace.shifted[0][0] += 1));
}

#[test]
fn a_wrong_argmax_is_rejected() {
    // Claim that a class beating the label does not beat it.
    assert!(!accepts(|_, w| {
        let s = w
            .trace
            .correct
            .iter()
            .position(|&c| !c)
            .expect("a wrong sample");
        let half = 1i64 << (spec().slot_width() - 1);
        let slot = w.trace.slots[s]
            .iter()
            .position(|&v| v < half)
            .expect("a winning class");
        w.trace.slots[s][slot] += half;
        w.trace.correct[s] = w.trace.slots[s].iter().all(|&v| v >= half);
    }));
}

#[test]
fn a_wrong_match_bit_is_rejected() {
    assert!(!accepts(|st, w| {
        let s = w
            .trace
            .correct
            .iter()
            .position(|&c| !c)
            .expect("a wrong sample");
        w.trace.correct[s] = true;
        st.count += 1;
    }));
    assert!(!accepts(|st, w| {
        let s = w
            .trace
            .correct
            .iter()
            .position(|&c| c)
            .expect("a right sample");
        w.trace.correct[s] = false;
        st.count -= 1;
    }));
}

#[test]
fn out_of_range_parameters_have_no_witness() {
    assert!(!accepts(|_, w| w.model.weights[0][3] = 128));
    assert!(!accepts(|_, w| w.model.biases[1][0] = -(1 << 11) - 1));
}

#[test]
fn groth16_rejects_every_tampered_statement_proof_and_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (spec, test, model) = task_and_model(1);
    let (key, vk) = setup(&spec, &test, &mut rng).unwrap();
    let pvk = prepare(&vk);
    let tag = Fr::from(77u64);
    let proven = prove(&key, &model, Fr::from(11u64), tag, &mut rng).unwrap();
    let st = proven.statement;
    assert!(verify(&pvk, &st, &proven.proof).unwrap());

    let wrong = |f: &dyn Fn(&mut Statement)| {
        let mut s = st;
        f(&mut s);
        verify(&pvk, &s, &proven.proof).unwrap()
    };
    assert!(!wrong(&|s| s.count += 1), "count");
    assert!(!wrong(&|s| s.commitment += Fr::from(1u64)), "commitment");
    assert!(!wrong(&|s| s.tag += Fr::from(1u64)), "tag");

    // Another model's proof presented with the first model's commitment.
    let other = random_model(&mut rng, &spec);
    let other_proof = prove(&key, &other, Fr::from(12u64), tag, &mut rng).unwrap();
    let presented = Statement {
        commitment: st.commitment,
        ..other_proof.statement
    };
    assert!(!verify(&pvk, &presented, &other_proof.proof).unwrap());

    // A flipped byte: either not a curve point or a different proof.
    let bytes = proof_to_bytes(&proven.proof);
    for i in [0, 31, 32, 64, 95, 96, 127] {
        let mut flipped = bytes.clone();
        flipped[i] ^= 1;
        if let Ok(p) = proof_from_bytes(&flipped) {
            assert!(!verify(&pvk, &st, &p).unwrap(), "byte {i}");
        }
    }

    // The same spec keyed by another test set: the test-set constants are part of the key.
    let mut other_test = test.clone();
    other_test.inputs[0] ^= 1;
    let (_, other_vk) = setup(&spec, &other_test, &mut rng).unwrap();
    assert!(!verify(&prepare(&other_vk), &st, &proven.proof).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For random small models and inputs the honest witness satisfies the circuit, and its
    /// count is the count of the native inference; any other count is rejected.
    #[test]
    fn random_models_satisfy_with_their_true_count(seed in any::<u64>(), hidden in 1usize..4, n in 1usize..5) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let spec = ModelSpec { widths: vec![5, hidden, 3], shifts: vec![rng.gen_range(0..6)], ..spec() };
        let test = random_task(&mut rng, &spec, n);
        let mut model = random_model(&mut rng, &spec);
        // Keep accumulators inside the activation range of the chosen shift.
        let k = spec.shifts[0];
        for w in model.weights[0].iter_mut() { *w = (*w).clamp(-(1 << k), 1 << k); }
        for b in model.biases[0].iter_mut() { *b = (*b).clamp(-(1 << k), 1 << k); }
        let Ok(trace) = infer(&spec, &test, &model) else { return Ok(()); };
        let (mut st, w) = honest(&spec, &test, &model);
        prop_assert_eq!(st.count, trace.count());
        prop_assert!(satisfied(&spec, &test, &st, &w));
        st.count = (st.count + 1) % (n as u64 + 1);
        prop_assert!(!satisfied(&spec, &test, &st, &w));
    }
}
