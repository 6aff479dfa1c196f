//! Argmax against the label, without computing the argmax.
//!
//! For a sample with label `y`, each other class `c` gets a slot
//! `v_c = l_y − l_c − [c < y] + 2^(w−1)`. The label is the prediction (ties go to the
//! lowest index) exactly when every `v_c ≥ 2^(w−1)`, i.e. every slot's top bit is set.
//! Several slots are packed into one field element and decomposed at once; the match
//! bit is then "all top bits set", two constraints whatever the number of classes.

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use ark_relations::lc;

use super::range::{bits_of, decompose_linear};
use super::{enforce, witness};

/// Decomposes `word = Σ_i v_i · 2^(w·i)` into `slots` slots of `width` bits and returns
/// each slot's top bit with its value. The word sums full-size products (one per hidden
/// neuron), so it is decomposed with a recomposition constraint, which keeps them out
/// of the prover's B query at the cost of one constraint per word.
pub fn slot_signs(
    cs: &ConstraintSystemRef<Fr>,
    word: LinearCombination<Fr>,
    slot_values: Option<&[i64]>,
    width: u32,
    slots: usize,
) -> Result<Vec<(Variable, Option<bool>)>, SynthesisError> {
    let bit_values: Option<Vec<bool>> =
        slot_values.map(|vs| vs.iter().flat_map(|&v| bits_of(v as u128, width)).collect());
    let bits = decompose_linear(cs, word, bit_values.as_deref(), width * slots as u32)?;
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

/// The conjunction of boolean wires; `claimed` is the witness value of the result (the
/// sample's match bit). With `d = k − Σ bits ∈ [0, k]`, the two constraints
/// `d · inv = 1 − m` and `d · m = 0` force `m = 1` when `d = 0` and `m = 0` otherwise.
pub fn all(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[(Variable, Option<bool>)],
    claimed: Option<bool>,
) -> Result<Variable, SynthesisError> {
    let d_value: Option<u64> = bits.iter().map(|&(_, v)| v.map(|b| u64::from(!b))).sum();
    let inv = d_value.map(|d| Fr::from(d).inverse().unwrap_or(Fr::zero()));
    let wires: Vec<Variable> = bits.iter().map(|&(b, _)| b).collect();
    enforce_all(cs, &wires, claimed.map(Fr::from), inv)
}

/// The constraints of [`all`] with any witness values for `m` and `inv`.
pub(crate) fn enforce_all(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Variable],
    m_value: Option<Fr>,
    inv_value: Option<Fr>,
) -> Result<Variable, SynthesisError> {
    let d = || {
        let mut d = lc!() + (Fr::from(bits.len() as u64), Variable::One);
        for &b in bits {
            d.0.push((-Fr::one(), b));
        }
        d
    };
    let m = witness(cs, m_value)?;
    let inv = witness(cs, inv_value)?;
    enforce(cs, d, || lc!() + inv, || lc!() + Variable::One - m)?;
    enforce(cs, d, || lc!() + m, LinearCombination::zero)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::{fr, pow2};
    use ark_relations::gr1cs::ConstraintSystem;

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
        let _ = all(&cs, &signs, Some(claimed)).unwrap();
        cs.is_satisfied().unwrap()
    }

    fn honest(gaps: &[i64]) -> Vec<i64> {
        gaps.iter().map(|d| d + 32).collect()
    }

    /// The conjunction alone, with hand-picked match bit and inverse.
    fn all_satisfied(bits: &[bool], claimed: bool, inv: Fr) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let wires: Vec<Variable> = bits
            .iter()
            .map(|&b| witness(&cs, Some(Fr::from(b))).unwrap())
            .collect();
        let _ = enforce_all(&cs, &wires, Some(Fr::from(claimed)), Some(inv)).unwrap();
        cs.is_satisfied().unwrap()
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
    fn no_inverse_makes_a_losing_sample_count() {
        // Two top bits missing: d = 2. Claiming a match needs d · inv = 0 and d · 1 = 0.
        for inv in [
            Fr::zero(),
            Fr::one(),
            Fr::from(2u64).inverse().unwrap(),
            -Fr::one(),
        ] {
            assert!(!all_satisfied(&[true, false, false], true, inv));
        }
        // Claiming no match needs the true inverse.
        assert!(all_satisfied(
            &[true, false, false],
            false,
            Fr::from(2u64).inverse().unwrap()
        ));
        assert!(!all_satisfied(&[true, false, false], false, Fr::zero()));
        // A full match: d = 0 forces m = 1 whatever the inverse.
        assert!(all_satisfied(&[true, true, true], true, Fr::from(7u64)));
        assert!(!all_satisfied(&[true, true, true], false, Fr::from(7u64)));
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
