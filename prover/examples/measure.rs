//! Measures setup, proving and verification for a synthetic model and test set:
//! `cargo run --release --example measure -- <inputs> <hidden> <samples>`.

use std::time::Instant;

use ark_bn254::Fr;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkpot_prover::groth16::{constraint_matrices, generator, prepare, prove, setup, verify};
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
        shifts: vec![4],
        input_bits: 4,
        weight_bits: 8,
        bias_bits: 20,
        act_bits: 8,
    };
    // Sparse images like MNIST: about a fifth of the pixels are ink.
    let inputs: Vec<u8> = (0..n * d)
        .map(|_| {
            if rng.gen_bool(0.19) {
                rng.gen_range(1..16)
            } else {
                0
            }
        })
        .collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let test = TestSet {
        dim: d,
        inputs,
        labels,
    };
    let model = QuantizedModel {
        weights: vec![
            (0..d * h).map(|_| rng.gen_range(-3..=3)).collect(),
            (0..h * 10).map(|_| rng.gen_range(-127..=127)).collect(),
        ],
        biases: vec![vec![0; h], vec![0; 10]],
    };
    let t = Instant::now();
    let matrices = constraint_matrices(&spec, &test).unwrap();
    println!("synthesis and matrices {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let pk = generator::generate_random_parameters(&matrices, &mut rng).unwrap();
    println!("generator {:.1}s", t.elapsed().as_secs_f64());
    drop((pk, matrices));
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
    if std::env::var_os("QAP_PARTS").is_some() {
        let (st, w) =
            zkpot_prover::groth16::witness(&key, &model, Fr::from(1u64), Fr::from(2u64)).unwrap();
        let z = zkpot_prover::groth16::assignment(&key, &st, &w).unwrap();
        qap_parts(&key, &z);
    }
    let pvk = prepare(&vk);
    let t = Instant::now();
    let ok = verify(&pvk, &proven.statement, &proven.proof).unwrap();
    println!("verify {:.2}ms ok {ok}", t.elapsed().as_secs_f64() * 1e3);
}

/// Times the parts of the QAP witness map on their own.
fn qap_parts(key: &zkpot_prover::groth16::ProverKey, z: &[Fr]) {
    use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
    let m = &key.matrices;
    let t = Instant::now();
    let (a, b) = m.evaluate_a_and_b(z);
    let c = m.evaluate(&m.c, z);
    println!("evaluate a, b, c {:.2}s", t.elapsed().as_secs_f64());
    let domain = GeneralEvaluationDomain::<Fr>::new(a.len()).unwrap();
    let mut v = a.clone();
    v.resize(domain.size(), Fr::from(0u64));
    let t = Instant::now();
    for _ in 0..7 {
        domain.ifft_in_place(&mut v);
    }
    println!("7 FFTs {:.2}s", t.elapsed().as_secs_f64());
    drop((b, c));
}
