//! Keys and proofs as the 256-bit words the EVM's BN254 precompiles take (EIP-196/197).
//!
//! G1 points are `(x, y)`; G2 points are `(x.c1, x.c0, y.c1, y.c0)`, imaginary part first.

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};

use crate::encoding::prime_from_be;
use crate::error::{Error, Result};

pub type Word = [u8; 32];

fn word(x: &Fq) -> Word {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_be());
    out
}

fn g1(p: &G1Affine) -> [Word; 2] {
    [word(&p.x), word(&p.y)]
}

fn g2(p: &G2Affine) -> [Word; 4] {
    [word(&p.x.c1), word(&p.x.c0), word(&p.y.c1), word(&p.y.c0)]
}

/// `[α, β, γ, δ, IC0, IC1, IC2, IC3]`: 22 words for a key with three public inputs.
pub fn vk_words(vk: &VerifyingKey<Bn254>) -> Vec<Word> {
    let mut out = g1(&vk.alpha_g1).to_vec();
    out.extend(g2(&vk.beta_g2));
    out.extend(g2(&vk.gamma_g2));
    out.extend(g2(&vk.delta_g2));
    for ic in &vk.gamma_abc_g1 {
        out.extend(g1(ic));
    }
    out
}

/// `[A, B, C]`: 8 words.
pub fn proof_words(proof: &Proof<Bn254>) -> Vec<Word> {
    let mut out = g1(&proof.a).to_vec();
    out.extend(g2(&proof.b));
    out.extend(g1(&proof.c));
    out
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        what: "proof words",
        reason: reason.into(),
    }
}

/// A base field element from a word; values `>= q` are rejected, not reduced.
fn fq(w: &[u8]) -> Result<Fq> {
    let word: &[u8; 32] = w
        .try_into()
        .map_err(|_| malformed(format!("a word is 32 bytes, not {}", w.len())))?;
    prime_from_be(word)
        .ok_or_else(|| malformed("a coordinate is not below the BN254 base field order"))
}

fn g1_from(x: Fq, y: Fq) -> Result<G1Affine> {
    if x.is_zero() && y.is_zero() {
        return Ok(G1Affine::zero());
    }
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(malformed("a G1 point is not on the curve"));
    }
    Ok(p)
}

fn g2_from(x: Fq2, y: Fq2) -> Result<G2Affine> {
    if x.is_zero() && y.is_zero() {
        return Ok(G2Affine::zero());
    }
    let p = G2Affine::new_unchecked(x, y);
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(malformed(
            "a G2 point is not on the curve or not in its subgroup",
        ));
    }
    Ok(p)
}

/// The proof of 8 words `[A, B, C]` (the inverse of `proof_words`), every point checked.
pub fn proof_from_words(words: &[&[u8]]) -> Result<Proof<Bn254>> {
    if words.len() != 8 {
        return Err(malformed(format!("expected 8 words, got {}", words.len())));
    }
    let w = words.iter().map(|w| fq(w)).collect::<Result<Vec<Fq>>>()?;
    Ok(Proof {
        a: g1_from(w[0], w[1])?,
        b: g2_from(Fq2::new(w[3], w[2]), Fq2::new(w[5], w[4]))?,
        c: g1_from(w[6], w[7])?,
    })
}
