//! Bit decomposition: the only range check R1CS has, one constraint per bit.

use ark_bn254::Fr;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use super::{pow2, witness};

/// The low `n` bits of `value`, least significant first.
pub fn bits_of(value: u128, n: u32) -> Vec<bool> {
    (0..n).map(|i| (value >> i) & 1 == 1).collect()
}

/// Allocates `n` witnesses constrained to `{0, 1}`: `b · (b − 1) = 0`.
pub fn alloc_bits(
    cs: &ConstraintSystemRef<Fr>,
    values: Option<&[bool]>,
    n: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    (0..n as usize)
        .map(|i| {
            let b = witness(cs, values.map(|v| Fr::from(v[i])))?;
            cs.enforce_constraint(lc!() + b, lc!() + b - Variable::One, lc!())?;
            Ok(b)
        })
        .collect()
}

/// `Σ 2^(i − from) · bits[i]` for `i` in `from..to`.
pub fn recompose(bits: &[Variable], from: usize, to: usize) -> LinearCombination<Fr> {
    let mut lc = LinearCombination::zero();
    for (i, &b) in bits[from..to].iter().enumerate() {
        lc.0.push((pow2(i as u32), b));
    }
    lc
}

/// Enforces `value = Σ 2^i · bits[i]`.
pub fn enforce_decomposition(
    cs: &ConstraintSystemRef<Fr>,
    value: LinearCombination<Fr>,
    bits: &[Variable],
) -> Result<(), SynthesisError> {
    cs.enforce_constraint(
        value - recompose(bits, 0, bits.len()),
        lc!() + Variable::One,
        lc!(),
    )
}

/// A signed parameter `v` in `[-2^(n-1), 2^(n-1))`: returns its wire and the `n` bits of
/// `v + 2^(n-1)`, enforcing `v + 2^(n-1) = Σ 2^i · bits[i]`.
pub fn alloc_signed(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<i64>,
    n: u32,
) -> Result<(Variable, Vec<Variable>), SynthesisError> {
    let offset = 1i64 << (n - 1);
    let bit_values = value.map(|v| bits_of((v + offset) as u128, n));
    let v = witness(cs, value.map(super::fr))?;
    let bits = alloc_bits(cs, bit_values.as_deref(), n)?;
    enforce_decomposition(cs, lc!() + v + (pow2(n - 1), Variable::One), &bits)?;
    Ok((v, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::r1cs::ConstraintSystem;

    #[test]
    fn a_non_boolean_bit_is_rejected() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let bits = alloc_bits(&cs, Some(&[true, false]), 2).unwrap();
        assert!(cs.is_satisfied().unwrap());
        // Hand-made bad witness: a "bit" equal to 2.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let b = witness(&cs, Some(Fr::from(2u64))).unwrap();
        cs.enforce_constraint(lc!() + b, lc!() + b - Variable::One, lc!())
            .unwrap();
        assert!(!cs.is_satisfied().unwrap());
        drop(bits);
    }

    #[test]
    fn signed_values_outside_the_range_have_no_witness() {
        for (v, ok) in [(-128i64, true), (127, true), (128, false), (-129, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            alloc_signed(&cs, Some(v), 8).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), ok, "value {v}");
        }
    }
}
