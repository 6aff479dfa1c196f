//! Argmax against the label, without computing the argmax.
//!
//! For a sample with label `y`, each other class `c` gets a slot
//! `v_c = l_y − l_c − [c < y] + 2^(w−1)`. The label is the prediction (ties go to the
//! lowest index) exactly when every `v_c ≥ 2^(w−1)`, i.e. every slot's top bit is set.
//! Several slots are packed into one field element and decomposed at once.

use ark_bn254::Fr;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use super::range::{alloc_bits, bits_of, enforce_decomposition};
use super::{product, witness};

/// Decomposes `word = Σ_i v_i · 2^(w·i)` into `slots` slots of `width` bits and returns
/// each slot's top bit with its value.
pub fn slot_signs(
    cs: &ConstraintSystemRef<Fr>,
    word: LinearCombination<Fr>,
    slot_values: Option<&[i64]>,
    width: u32,
    slots: usize,
) -> Result<Vec<(Variable, Option<bool>)>, SynthesisError> {
    let bit_values: Option<Vec<bool>> =
        slot_values.map(|vs| vs.iter().flat_map(|&v| bits_of(v as u128, width)).collect());
    let bits = alloc_bits(cs, bit_values.as_deref(), width * slots as u32)?;
    enforce_decomposition(cs, word, &bits)?;
    let w = width as usize;
    Ok((0..slots)
        .map(|i| {
            (
                bits[i * w + w - 1],
                bit_values.as_ref().map(|b| b[i * w + w - 1]),
            )
        })
        .collect())
}

/// The conjunction of boolean wires, as a chain of products; `claimed` is the witness
/// value of the final product (the sample's match bit).
pub fn all(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[(Variable, Option<bool>)],
    claimed: Option<bool>,
) -> Result<Variable, SynthesisError> {
    let (mut acc, mut acc_value) = (bits[0].0, bits[0].1.map(Fr::from));
    for (i, &(b, b_value)) in bits.iter().enumerate().skip(1) {
        let value = if i + 1 == bits.len() {
            claimed.map(Fr::from)
        } else {
            product(acc_value, b_value.map(Fr::from))
        };
        let out = witness(cs, value)?;
        cs.enforce_constraint(lc!() + acc, lc!() + b, lc!() + out)?;
        (acc, acc_value) = (out, value);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::{fr, pow2};
    use ark_relations::r1cs::ConstraintSystem;

    const W: u32 = 6;

    /// Logit gaps `d_c = l_y − l_c − [c < y]` packed as one word, with hand-picked slots.
    fn satisfied(gaps: &[i64], slots: &[i64], claimed: bool) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let half = 1i64 << (W - 1);
        let mut word = LinearCombination::zero();
        for (i, d) in gaps.iter().enumerate() {
            word += (fr(d + half) * pow2(W * i as u32), Variable::One);
        }
        let signs = slot_signs(&cs, word, Some(slots), W, gaps.len()).unwrap();
        all(&cs, &signs, Some(claimed)).unwrap();
        cs.is_satisfied().unwrap()
    }

    fn honest(gaps: &[i64]) -> Vec<i64> {
        gaps.iter().map(|d| d + 32).collect()
    }

    #[test]
    fn label_wins_exactly_when_no_gap_is_negative() {
        let wins = [3, 0, 31];
        assert!(satisfied(&wins, &honest(&wins), true));
        let loses = [3, -1, 5];
        assert!(satisfied(&loses, &honest(&loses), false));
    }

    #[test]
    fn wrong_match_bit_is_rejected() {
        let loses = [3, -1, 5];
        assert!(!satisfied(&loses, &honest(&loses), true));
        let wins = [3, 0, 31];
        assert!(!satisfied(&wins, &honest(&wins), false));
    }

    #[test]
    fn wrong_argmax_bits_are_rejected() {
        let loses = [3, -1, 5];
        // Setting the losing slot's top bit changes the packed word.
        let mut flipped = honest(&loses);
        flipped[1] += 32;
        assert!(!satisfied(&loses, &flipped, true));
        // Moving 2^w from the next slot keeps the word but needs a 7-bit slot; the bits
        // that fit do not recompose.
        let mut borrow = honest(&loses);
        borrow[1] += 64;
        borrow[2] -= 1;
        assert!(!satisfied(&loses, &borrow, true));
    }
}
