//! Requantisation and ReLU of a hidden neuron.
//!
//! With `t = u + 2^(k+a)` decomposed into `k + a + 1` bits, the top bit is the sign of
//! `u`, bits `k..k+a` are `floor(u / 2^k)` when `u ≥ 0`, and the activation is
//! `h = sign · floor(u / 2^k)`. The decomposition itself enforces the range
//! `-2^(k+a) ≤ u < 2^(k+a)`. Cost: `k + a + 2` constraints.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use ark_relations::lc;

use super::range::{bits_of, decompose, recompose};
use super::{enforce, fr, witness};

/// Enforces `h = max(0, floor(u / 2^shift))` where `t = u + 2^(shift+act_bits)`.
/// `t_value` and `h_value` are the claimed witness values; returns `h`'s wire.
pub fn requantise_relu(
    cs: &ConstraintSystemRef<Fr>,
    t: LinearCombination<Fr>,
    t_value: Option<i64>,
    h_value: Option<i64>,
    shift: u32,
    act_bits: u32,
) -> Result<Variable, SynthesisError> {
    let n = shift + act_bits + 1;
    let bit_values = t_value.map(|t| bits_of(t as u128, n));
    let bits = decompose(cs, t, bit_values.as_deref(), n)?;
    let sign = bits[(n - 1) as usize];
    let h = witness(cs, h_value.map(fr))?;
    enforce(
        cs,
        || lc!() + sign,
        || recompose(&bits, shift as usize, (shift + act_bits) as usize),
        || lc!() + h,
    )?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    /// Builds the gadget for a constant `u` with hand-picked witness values.
    fn satisfied(u: i64, t_value: i64, h_value: i64) -> bool {
        let (k, a) = (3, 4);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let t = lc!() + (fr(u + (1 << (k + a))), Variable::One);
        let _ = requantise_relu(&cs, t, Some(t_value), Some(h_value), k, a).unwrap();
        cs.is_satisfied().unwrap()
    }

    fn honest(u: i64) -> (i64, i64) {
        (u + 128, (u >> 3).max(0))
    }

    #[test]
    fn honest_witnesses_satisfy() {
        for u in [-128, -9, -1, 0, 7, 8, 100, 127] {
            let (t, h) = honest(u);
            assert!(satisfied(u, t, h), "u = {u}");
        }
    }

    #[test]
    fn costs_k_plus_a_plus_two_constraints() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let t = lc!() + (fr(40 + 128), Variable::One);
        let _ = requantise_relu(&cs, t, Some(40 + 128), Some(5), 3, 4).unwrap();
        assert_eq!(cs.num_constraints(), 3 + 4 + 2);
    }

    #[test]
    fn wrong_relu_output_is_rejected() {
        // A negative pre-activation must give 0, a positive one its quotient.
        assert!(!satisfied(-20, -20 + 128, 1));
        assert!(!satisfied(-20, -20 + 128, -3));
        assert!(!satisfied(40, 40 + 128, 4));
    }

    #[test]
    fn wrong_requantisation_is_rejected() {
        // Bits of a different t (quotient off by one) do not recompose to t.
        assert!(!satisfied(40, 40 + 128 + 8, 6));
        assert!(!satisfied(40, 40 + 128 - 8, 4));
    }

    #[test]
    fn out_of_range_accumulators_have_no_witness() {
        // u = 128 needs t = 256, which 8 bits cannot hold; the truncated bits do not recompose.
        assert!(!satisfied(128, 128 + 128, 15));
        assert!(!satisfied(-129, -1, 0));
    }
}
