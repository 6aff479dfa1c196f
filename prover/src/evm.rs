//! Keys and proofs as the 256-bit words the EVM's BN254 precompiles take (EIP-196/197).
//!
//! G1 points are `(x, y)`; G2 points are `(x.c1, x.c0, y.c1, y.c0)`, imaginary part first.

use ark_bn254::{Bn254, Fq, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Proof, VerifyingKey};

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
