//! The commitment gadget: Poseidon over the packed parameter bits and the salt.

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError, Variable};

use super::range::recompose;
use crate::commitment::{pack, poseidon_config, WORD_BITS};

/// `[#words, words…]` over boolean wires, 248 bits a word, as
/// [`crate::commitment::counted_words`] computes it natively; the words are linear
/// combinations of the bits, so they cost no constraint.
pub fn counted_words_var(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Variable],
    bit_values: Option<&[bool]>,
) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    let values = bit_values.map(pack);
    let mut words = vec![FpVar::Constant(Fr::from(
        bits.chunks(WORD_BITS).len() as u64
    ))];
    for (i, chunk) in bits.chunks(WORD_BITS).enumerate() {
        let word = cs.new_lc(|| recompose(chunk, 0, chunk.len()))?;
        let value = values.as_ref().map(|v| v[i]);
        words.push(FpVar::Var(AllocatedFp::new(value, word, cs.clone())));
    }
    Ok(words)
}

/// Enforces `commitment = Poseidon(#words, words..., salt)` where the words pack `bits`
/// 248 at a time, exactly as [`crate::commitment::commit`] computes it natively.
pub fn enforce_commitment(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Variable],
    bit_values: Option<&[bool]>,
    salt: Option<Fr>,
    commitment: Variable,
    commitment_value: Option<Fr>,
) -> Result<(), SynthesisError> {
    let mut input = counted_words_var(cs, bits, bit_values)?;
    input.push(FpVar::new_witness(cs.clone(), || {
        salt.ok_or(SynthesisError::AssignmentMissing)
    })?);
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), poseidon_config());
    sponge.absorb(&input)?;
    let out = sponge.squeeze_field_elements(1)?;
    let claimed = FpVar::Var(AllocatedFp::new(commitment_value, commitment, cs.clone()));
    out[0].enforce_equal(&claimed)
}
