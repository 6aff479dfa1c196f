//! Bit decomposition: the only range check R1CS has, one constraint per bit.
//!
//! `n` bits cost exactly `n` constraints. Bits `1..n` are boolean witnesses; bit 0 is not
//! a wire but the combination `value − Σ_{i≥1} 2^i · bit_i`, and its own booleanity
//! constraint is what ties the bits to the value. So `value ∈ [0, 2^n)` holds exactly
//! when every constraint holds, with no separate recomposition constraint.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use ark_relations::lc;

use super::{enforce, fr, pow2, witness};

/// The low `n` bits of `value`, least significant first.
pub fn bits_of(value: u128, n: u32) -> Vec<bool> {
    (0..n).map(|i| (value >> i) & 1 == 1).collect()
}

/// Enforces `b · (b − 1) = 0`.
pub fn enforce_boolean(cs: &ConstraintSystemRef<Fr>, b: Variable) -> Result<(), SynthesisError> {
    enforce(
        cs,
        || lc!() + b,
        || lc!() + b - Variable::One,
        LinearCombination::zero,
    )
}

/// `Σ 2^(i − from) · bits[i]` for `i` in `from..to`.
pub fn recompose(bits: &[Variable], from: usize, to: usize) -> LinearCombination<Fr> {
    let mut lc = LinearCombination::zero();
    for (i, &b) in bits[from..to].iter().enumerate() {
        lc.0.push((pow2(i as u32), b));
    }
    lc
}

/// Decomposes `value` into `n ≥ 1` bits with `n` constraints, which hold exactly when
/// `0 ≤ value < 2^n`. Returns the bits, least significant first; bit 0 is a symbolic
/// combination, usable wherever a wire is.
pub fn decompose(
    cs: &ConstraintSystemRef<Fr>,
    value: LinearCombination<Fr>,
    bit_values: Option<&[bool]>,
    n: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    let values: Option<Vec<Fr>> = bit_values.map(|bs| bs.iter().map(|&b| Fr::from(b)).collect());
    decompose_raw(cs, value, values.as_deref(), n)
}

/// [`decompose`] with arbitrary field values for the allocated bits (hand-made witnesses
/// in tests use it; an honest prover passes booleans).
pub(crate) fn decompose_raw(
    cs: &ConstraintSystemRef<Fr>,
    value: LinearCombination<Fr>,
    bit_values: Option<&[Fr]>,
    n: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    assert!(n >= 1, "a decomposition has at least one bit");
    let mut bits = vec![Variable::Zero];
    for i in 1..n as usize {
        let b = witness(cs, bit_values.map(|v| v[i]))?;
        enforce_boolean(cs, b)?;
        bits.push(b);
    }
    let upper = recompose(&bits, 1, n as usize) * pow2(1);
    bits[0] = cs.new_lc(|| value - upper)?;
    enforce_boolean(cs, bits[0])?;
    Ok(bits)
}

/// Decomposes `value` into `n` boolean wires and one recomposition constraint,
/// `(value − Σ 2^i · bit_i) · 1 = 0`: `n + 1` constraints, with `value` only in `A`. Where
/// `value` holds full-size wires, this keeps them out of the `B` query (whose G2 MSM is the
/// prover's dearest per scalar), which [`decompose`] would put them in.
pub fn decompose_linear(
    cs: &ConstraintSystemRef<Fr>,
    value: LinearCombination<Fr>,
    bit_values: Option<&[bool]>,
    n: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    let bits = (0..n as usize)
        .map(|i| {
            let b = witness(cs, bit_values.map(|v| Fr::from(v[i])))?;
            enforce_boolean(cs, b)?;
            Ok(b)
        })
        .collect::<Result<Vec<_>, SynthesisError>>()?;
    enforce(
        cs,
        || value - recompose(&bits, 0, n as usize),
        || lc!() + Variable::One,
        LinearCombination::zero,
    )?;
    Ok(bits)
}

/// A signed parameter `v` in `[-2^(n-1), 2^(n-1))`: returns its wire and the `n` bits of
/// `v + 2^(n-1)`, with `n` constraints in all.
pub fn alloc_signed(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<i64>,
    n: u32,
) -> Result<(Variable, Vec<Variable>), SynthesisError> {
    let offset = 1i64 << (n - 1);
    let bit_values = value.map(|v| bits_of((v + offset) as u128, n));
    let v = witness(cs, value.map(fr))?;
    let bits = decompose(
        cs,
        lc!() + v + (pow2(n - 1), Variable::One),
        bit_values.as_deref(),
        n,
    )?;
    Ok((v, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::Zero;
    use ark_relations::gr1cs::ConstraintSystem;

    /// Decomposes the constant `value` into 4 bits with hand-picked bit values 1..3.
    fn satisfied(value: i64, bits: [i64; 3]) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let mut values = vec![Fr::zero()];
        values.extend(bits.iter().map(|&b| fr(b)));
        let constant = lc!() + (fr(value), Variable::One);
        decompose_raw(&cs, constant, Some(&values), 4).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn n_bits_cost_n_constraints() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let _ = alloc_signed(&cs, Some(-3), 8).unwrap();
        assert_eq!(cs.num_constraints(), 8);
        assert!(cs.is_satisfied().unwrap());
    }

    #[test]
    fn honest_bits_satisfy() {
        for v in 0..16i64 {
            let b = |i: i64| (v >> i) & 1;
            assert!(satisfied(v, [b(1), b(2), b(3)]), "value {v}");
        }
    }

    #[test]
    fn a_non_boolean_bit_is_rejected() {
        // 5 = 1 + 2·2: bit 1 set to 2 recomposes, but is not a bit.
        assert!(!satisfied(5, [2, 0, 0]));
        // 6 = 0 + 2·(-1) + 8·1: a "bit" of -1 that recomposes.
        assert!(!satisfied(6, [-1, 0, 1]));
    }

    #[test]
    fn bits_of_another_value_are_rejected() {
        // The implied bit 0 of 5 with the bits of 8 is 5 - 8 = -3.
        assert!(!satisfied(5, [0, 0, 1]));
        // Bit 1 set as well: bit 0 would have to be 5 - 6 = -1.
        assert!(!satisfied(5, [1, 1, 0]));
    }

    #[test]
    fn values_outside_the_range_have_no_witness() {
        // 16 needs a fifth bit: with all three upper bits set, bit 0 would be 2.
        assert!(!satisfied(16, [1, 1, 1]));
        assert!(!satisfied(-1, [0, 0, 0]));
        assert!(!satisfied(-1, [1, 1, 1]));
    }

    #[test]
    fn the_linear_decomposition_accepts_exactly_the_bits_of_the_value() {
        let check = |value: i64, bits: &[bool]| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let constant = lc!() + (fr(value), Variable::One);
            let _ = decompose_linear(&cs, constant, Some(bits), bits.len() as u32).unwrap();
            assert_eq!(cs.num_constraints(), bits.len() + 1);
            cs.is_satisfied().unwrap()
        };
        assert!(check(5, &[true, false, true, false]));
        assert!(!check(5, &[false, true, true, false]));
        assert!(!check(16, &[true, true, true, true]));
        assert!(!check(-1, &[true, true, true, true]));
    }

    #[test]
    fn signed_values_outside_the_range_have_no_witness() {
        for (v, ok) in [(-128i64, true), (127, true), (128, false), (-129, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let _ = alloc_signed(&cs, Some(v), 8).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), ok, "value {v}");
        }
    }
}
