//! Measures setup, proving and verification for a synthetic model and test set:
//! `cargo run --release --example measure -- <inputs> <hidden> <samples>`.

use std::time::Instant;

use ark_bn254::Fr;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkpot_prover::groth16::{prepare, prove, setup, verify};
use zkpot_prover::spec::{ModelSpec, QuantizedModel, TestSet};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let (d, h, n) = (args[0], args[1], args[2]);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let spec = ModelSpec {
        widths: vec![d, h, 10],
        shifts: vec![12],
        input_bits: 8,
        weight_bits: 8,
        bias_bits: 20,
        act_bits: 8,
    };
    // Sparse images like MNIST: about a fifth of the pixels are ink.
    let inputs: Vec<u8> = (0..n * d)
        .map(|_| if rng.gen_bool(0.19) { rng.gen() } else { 0 })
        .collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let test = TestSet {
        dim: d,
        inputs,
        labels,
    };
    let model = QuantizedModel {
        weights: vec![
            (0..d * h).map(|_| rng.gen_range(-20..=20)).collect(),
            (0..h * 10).map(|_| rng.gen_range(-127..=127)).collect(),
        ],
        biases: vec![vec![0; h], vec![0; 10]],
    };
    let t = Instant::now();
    let (key, vk) = setup(&spec, &test, &mut rng).unwrap();
    let setup_s = t.elapsed().as_secs_f64();
    let m = &key.matrices;
    let [a, b, c] = m.num_non_zero();
    println!(
        "constraints {} variables {} nnz a/b/c {a}/{b}/{c} setup {setup_s:.1}s",
        m.num_constraints,
        m.num_variables(),
    );
    let t = Instant::now();
    let proven = prove(&key, &model, Fr::from(1u64), Fr::from(2u64), &mut rng).unwrap();
    println!(
        "prove {:.2}s count {} {:?}",
        t.elapsed().as_secs_f64(),
        proven.statement.count,
        proven.timings
    );
    let pvk = prepare(&vk);
    let t = Instant::now();
    let ok = verify(&pvk, &proven.statement, &proven.proof).unwrap();
    println!("verify {:.2}ms ok {ok}", t.elapsed().as_secs_f64() * 1e3);
}
