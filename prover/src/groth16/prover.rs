//! The Groth16 prover over compact matrices, timed step by step.
//!
//! The same computation as ark-groth16's `create_proof_with_reduction_and_matrices` with
//! the libsnark reduction (a test checks the proofs are byte-identical for the same `r`
//! and `s`): the QAP witness map with arkworks' FFTs, then arkworks' MSMs, each timed on
//! its own so that a benchmark can say where the time goes.

use std::time::Instant;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{FftField, Field, PrimeField, UniformRand, Zero};
use ark_groth16::{Proof, ProvingKey};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::SynthesisError;
use rand::Rng;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::r1cs::Matrices;

type Domain = GeneralEvaluationDomain<Fr>;
type BigInt = <Fr as PrimeField>::BigInt;

/// Seconds spent in each step of one proof.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Native inference and the witness assignment.
    pub witness_s: f64,
    /// Evaluating the matrices on the witness and the seven FFTs of the QAP.
    pub qap_s: f64,
    pub msm_a_s: f64,
    pub msm_b_g1_s: f64,
    pub msm_b_g2_s: f64,
    /// The L query over the private witness (the `C` term without `H`).
    pub msm_c_s: f64,
    pub msm_h_s: f64,
}

fn seconds<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// `h`, the quotient `(A·z ∘ B·z − C·z) / Z` in coefficient form: libsnark's witness map.
pub fn witness_map(m: &Matrices, z: &[Fr]) -> Result<Vec<Fr>> {
    let domain = Domain::new(m.num_constraints + m.num_instance)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    let size = domain.size();
    let padded = |mut v: Vec<Fr>| {
        v.resize(size, Fr::zero());
        v
    };
    let (a, b) = m.evaluate_a_and_b(z);
    let (mut a, mut b) = (padded(a), padded(b));
    let n = m.num_constraints;
    a[n..n + m.num_instance].copy_from_slice(&z[..m.num_instance]);
    let coset = domain
        .get_coset(Fr::GENERATOR)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    for v in [&mut a, &mut b] {
        domain.ifft_in_place(v);
        coset.fft_in_place(v);
    }
    let mut ab = domain.mul_polynomials_in_evaluation_domain(&a, &b);
    drop((a, b));
    let mut c = padded(m.evaluate(&m.c, z));
    domain.ifft_in_place(&mut c);
    coset.fft_in_place(&mut c);
    let z_inverse = domain
        .evaluate_vanishing_polynomial(Fr::GENERATOR)
        .inverse()
        .expect("the coset avoids the domain");
    ab.par_iter_mut().zip(c).for_each(|(x, c)| {
        *x -= c;
        *x *= z_inverse;
    });
    coset.ifft_in_place(&mut ab);
    Ok(ab)
}

fn bigints(v: &[Fr]) -> Vec<BigInt> {
    v.par_iter().map(|x| x.into_bigint()).collect()
}

/// `initial + query[0] + Σ query[i+1]·z[i] + vk_param`, as arkworks computes A and B.
fn linear<G>(initial: G::Group, query: &[G], vk_param: G, z: &[BigInt]) -> G::Group
where
    G: AffineRepr<ScalarField = Fr>,
    G::Group: VariableBaseMSM<MulBase = G>,
{
    let mut out = initial;
    out += query[0];
    out += G::Group::msm_bigint(&query[1..], z);
    out += vk_param;
    out
}

/// A proof for the full assignment `z = (1, instance…, witness…)` with randomness
/// `r`, `s`. `witness_s` of the timings is left to the caller.
pub fn create_proof(
    pk: &ProvingKey<Bn254>,
    m: &Matrices,
    r: Fr,
    s: Fr,
    z: &[Fr],
) -> Result<(Proof<Bn254>, Timings)> {
    let ni = m.num_instance;
    if z.len() != m.num_variables()
        || pk.a_query.len() != z.len()
        || pk.b_g1_query.len() != z.len()
        || pk.b_g2_query.len() != z.len()
        || pk.l_query.len() != z.len() - ni
    {
        return Err(Error::Malformed {
            what: "proving key",
            reason: "its queries do not match the circuit's variables".into(),
        });
    }
    let mut t = Timings::default();
    let (h, qap_s) = seconds(|| witness_map(m, z));
    let h = h?;
    t.qap_s = qap_s;
    if pk.h_query.len() + 1 < h.len() {
        return Err(Error::Malformed {
            what: "proving key",
            reason: "its H query is shorter than the evaluation domain".into(),
        });
    }
    let (h_acc, msm_h_s) = seconds(|| G1Projective::msm_bigint(&pk.h_query, &bigints(&h)));
    t.msm_h_s = msm_h_s;
    drop(h);

    // Every scalar but the constant one; the private part is the L query's.
    let assignment = bigints(&z[1..]);
    let (l_acc, msm_c_s) = seconds(|| G1Projective::msm_bigint(&pk.l_query, &assignment[ni - 1..]));
    t.msm_c_s = msm_c_s;

    let delta_g1 = pk.delta_g1.into_group();
    let (g_a, msm_a_s) = seconds(|| linear(delta_g1 * r, &pk.a_query, pk.vk.alpha_g1, &assignment));
    t.msm_a_s = msm_a_s;
    let (g1_b, msm_b_g1_s) = seconds(|| {
        if r.is_zero() {
            G1Projective::zero()
        } else {
            linear(delta_g1 * s, &pk.b_g1_query, pk.beta_g1, &assignment)
        }
    });
    t.msm_b_g1_s = msm_b_g1_s;
    let (g2_b, msm_b_g2_s) = seconds(|| {
        linear::<ark_bn254::G2Affine>(
            G2Projective::from(pk.vk.delta_g2) * s,
            &pk.b_g2_query,
            pk.vk.beta_g2,
            &assignment,
        )
    });
    t.msm_b_g2_s = msm_b_g2_s;

    let mut g_c = g_a * s;
    g_c += g1_b * r;
    g_c -= delta_g1 * (r * s);
    g_c += l_acc;
    g_c += h_acc;
    let proof = Proof {
        a: g_a.into_affine(),
        b: g2_b.into_affine(),
        c: g_c.into_affine(),
    };
    Ok((proof, t))
}

/// Seconds of one G1 MSM over `bases` with uniformly random, full-size scalars: on a
/// key's H query, the work that no Groth16 prover with this evaluation domain avoids.
pub fn floor_msm<R: Rng>(bases: &[G1Affine], rng: &mut R) -> f64 {
    let scalars: Vec<BigInt> = (0..bases.len())
        .map(|_| Fr::rand(rng).into_bigint())
        .collect();
    let (out, s) = seconds(|| G1Projective::msm_bigint(bases, &scalars));
    let _ = std::hint::black_box(out);
    s
}
