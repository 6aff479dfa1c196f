//! Groth16 key generation over compact matrices.
//!
//! The same computation as ark-groth16's `generate_parameters_with_qap` with the libsnark
//! reduction, step for step and drawing the same randomness in the same order (a test
//! checks the keys are byte-identical), but reading the circuit's [`Matrices`] instead
//! of synthesising it again.

use ark_bn254::{Bn254, Fr, G1Projective, G2Projective};
use ark_ec::scalar_mul::{BatchMulPreprocessing, ScalarMul};
use ark_ec::CurveGroup;
use ark_ff::{Field, UniformRand, Zero};
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::SynthesisError;
use rand::Rng;
use rayon::prelude::*;

use crate::error::Result;
use crate::r1cs::Matrices;

type Domain = GeneralEvaluationDomain<Fr>;

/// The QAP polynomials of every variable evaluated at `t`, with `Z(t)` and the domain
/// size: libsnark's instance map.
fn instance_map(m: &Matrices, domain: &Domain, t: Fr) -> (Vec<Fr>, Vec<Fr>, Vec<Fr>, Fr) {
    let zt = domain.evaluate_vanishing_polynomial(t);
    let u = domain.evaluate_all_lagrange_coefficients(t);
    let columns = m.num_variables();
    let n = m.num_constraints;
    let mut a = vec![Fr::zero(); columns];
    a[..m.num_instance].copy_from_slice(&u[n..n + m.num_instance]);
    let accumulate = |rows: &crate::r1cs::SparseRows, out: &mut Vec<Fr>| {
        for (i, u_i) in u.iter().enumerate().take(n) {
            for &(col, k) in rows.row(i) {
                out[col as usize] += *u_i * m.coefficients[k as usize];
            }
        }
    };
    let (mut b, mut c) = (vec![Fr::zero(); columns], vec![Fr::zero(); columns]);
    rayon::join(
        || accumulate(&m.a, &mut a),
        || {
            accumulate(&m.b, &mut b);
            accumulate(&m.c, &mut c);
        },
    );
    (a, b, c, zt)
}

/// `scalars[i] · G` for every `i`, as the table's `batch_mul` computes it, without
/// spending time on zero scalars: their points are the identity.
fn batch_mul<G: ScalarMul<ScalarField = Fr>>(
    table: &BatchMulPreprocessing<G>,
    scalars: &[Fr],
) -> Vec<G::MulBase> {
    let (indices, non_zero): (Vec<usize>, Vec<Fr>) = scalars
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_zero())
        .map(|(i, s)| (i, *s))
        .unzip();
    let identity = G::batch_convert_to_mul_base(&[G::zero()])[0];
    let mut out = vec![identity; scalars.len()];
    for (i, p) in indices.into_iter().zip(table.batch_mul(&non_zero)) {
        out[i] = p;
    }
    out
}

/// `scale · t^i` for `i < n`, a chunk of consecutive powers per thread.
fn scaled_powers(scale: Fr, t: Fr, n: usize) -> Vec<Fr> {
    const CHUNK: usize = 1 << 14;
    let mut out = vec![Fr::zero(); n];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut p = scale * t.pow([(c * CHUNK) as u64]);
            for x in chunk {
                *x = p;
                p *= t;
            }
        });
    out
}

/// Draws the trapdoor and generators from `rng` and derives the proving key.
pub fn generate_random_parameters<R: Rng>(m: &Matrices, rng: &mut R) -> Result<ProvingKey<Bn254>> {
    m.validate()?;
    let alpha = Fr::rand(rng);
    let beta = Fr::rand(rng);
    let gamma = Fr::rand(rng);
    let delta = Fr::rand(rng);
    let g1 = G1Projective::rand(rng);
    let g2 = G2Projective::rand(rng);

    let domain = Domain::new(m.num_constraints + m.num_instance)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    let t = domain.sample_element_outside_domain(rng);
    let (a, b, c, zt) = instance_map(m, &domain, t);
    let ni = m.num_instance;

    let non_zero = |v: &[Fr]| v.par_iter().filter(|x| !x.is_zero()).count();
    let (non_zero_a, non_zero_b) = (non_zero(&a), non_zero(&b));
    let gamma_inverse = gamma.inverse().expect("gamma is non-zero");
    let delta_inverse = delta.inverse().expect("delta is non-zero");
    let combine = |range: std::ops::Range<usize>, scale: Fr| -> Vec<Fr> {
        range
            .into_par_iter()
            .map(|i| (beta * a[i] + alpha * b[i] + c[i]) * scale)
            .collect()
    };
    let gamma_abc = combine(0..ni, gamma_inverse);
    let l = combine(ni..a.len(), delta_inverse);
    drop(c);

    let g2_table = BatchMulPreprocessing::new(g2, non_zero_b);
    let b_g2_query = batch_mul(&g2_table, &b);
    drop(g2_table);

    let domain_size = domain.size();
    let g1_table =
        BatchMulPreprocessing::new(g1, non_zero_a + non_zero_b + a.len() - 1 + domain_size + 1);
    let a_query = batch_mul(&g1_table, &a);
    drop(a);
    let b_g1_query = batch_mul(&g1_table, &b);
    drop(b);
    let scale = zt * delta_inverse;
    let h_scalars = scaled_powers(scale, t, domain_size - 1);
    let h_query = batch_mul(&g1_table, &h_scalars);
    drop(h_scalars);
    let l_query = batch_mul(&g1_table, &l);
    drop(l);
    let gamma_abc_g1 = batch_mul(&g1_table, &gamma_abc);

    let vk = VerifyingKey::<Bn254> {
        alpha_g1: (g1 * alpha).into_affine(),
        beta_g2: (g2 * beta).into_affine(),
        gamma_g2: (g2 * gamma).into_affine(),
        delta_g2: (g2 * delta).into_affine(),
        gamma_abc_g1,
    };
    Ok(ProvingKey {
        vk,
        beta_g1: (g1 * beta).into_affine(),
        delta_g1: (g1 * delta).into_affine(),
        a_query,
        b_g1_query,
        b_g2_query,
        h_query,
        l_query,
    })
}
