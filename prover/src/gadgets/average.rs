//! The rounded weighted mean of one coordinate: `mean = ⌊(Σ λ_i · v_i + 2^(F−1)) / 2^F⌋`.
//!
//! The weights `λ_i` are fixed-point fractions with `F` bits (`Σ λ_i ≈ 2^F`), so the mean is
//! the weighted average rounded half up. One constraint per product `λ_i · v_i`, and `F`
//! for the remainder `e = Σ λ_i · v_i + 2^(F−1) − 2^F · mean`, which must lie in
//! `[0, 2^F)`: exactly one `mean` satisfies that, so the prover has no choice of rounding.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError, Variable};
use ark_relations::lc;

use super::range::{bits_of, decompose};
use super::{enforce, fr, pow2, product, witness};

/// `2^(F−1) + Σ λ_i · v_i`, the numerator before the division by `2^F`.
pub fn numerator(weights: &[u64], values: &[i64], frac_bits: u32) -> i128 {
    let sum: i128 = weights
        .iter()
        .zip(values)
        .map(|(&w, &v)| i128::from(w) * i128::from(v))
        .sum();
    sum + (1i128 << (frac_bits - 1))
}

/// Enforces that `mean` is the rounded weighted mean of `values` with weights `weights`.
/// The weights are wires (public inputs of the aggregation statement); `F = frac_bits ≥ 1`.
pub fn enforce_rounded_mean(
    cs: &ConstraintSystemRef<Fr>,
    weights: &[(Variable, Option<u64>)],
    values: &[(Variable, Option<i64>)],
    mean: (Variable, Option<i64>),
    frac_bits: u32,
) -> Result<(), SynthesisError> {
    let products: Vec<Option<Fr>> = weights
        .iter()
        .zip(values)
        .map(|(&(_, w), &(_, v))| product(w.map(Fr::from), v.map(fr)))
        .collect();
    let remainder = remainder_value(weights, values, mean.1, frac_bits);
    enforce_with(cs, weights, values, mean.0, &products, remainder, frac_bits)
}

/// [`enforce_rounded_mean`] with the prover's product and remainder values given (tests
/// hand-make dishonest ones; the honest gadget computes them).
pub(crate) fn enforce_with(
    cs: &ConstraintSystemRef<Fr>,
    weights: &[(Variable, Option<u64>)],
    values: &[(Variable, Option<i64>)],
    mean: Variable,
    products: &[Option<Fr>],
    remainder_value: Option<i128>,
    frac_bits: u32,
) -> Result<(), SynthesisError> {
    assert_eq!(weights.len(), values.len(), "one weight per value");
    assert!(frac_bits >= 1, "at least one fractional bit");
    let mut remainder = lc!() + (pow2(frac_bits - 1), Variable::One) - (pow2(frac_bits), mean);
    for ((&(w, _), &(v, _)), &p_value) in weights.iter().zip(values).zip(products) {
        let p = witness(cs, p_value)?;
        enforce(cs, || lc!() + w, || lc!() + v, || lc!() + p)?;
        remainder.0.push((Fr::from(1u64), p));
    }
    let mask = (1u128 << frac_bits) - 1;
    let bits = remainder_value.map(|e| bits_of(e as u128 & mask, frac_bits));
    decompose(cs, remainder, bits.as_deref(), frac_bits)?;
    Ok(())
}

/// The remainder's value when every input is known (outside `[0, 2^F)` for a wrong mean,
/// whose low bits then fail the decomposition).
fn remainder_value(
    weights: &[(Variable, Option<u64>)],
    values: &[(Variable, Option<i64>)],
    mean: Option<i64>,
    frac_bits: u32,
) -> Option<i128> {
    let w: Option<Vec<u64>> = weights.iter().map(|&(_, w)| w).collect();
    let v: Option<Vec<i64>> = values.iter().map(|&(_, v)| v).collect();
    Some(numerator(&w?, &v?, frac_bits) - (i128::from(mean?) << frac_bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    /// Builds one mean with hand-picked witnesses; `product_lie` adds to the first product.
    fn satisfied(weights: &[u64], values: &[i64], mean: i64, frac_bits: u32) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let ws: Vec<_> = weights
            .iter()
            .map(|&w| (cs.new_input_variable(|| Ok(Fr::from(w))).unwrap(), Some(w)))
            .collect();
        let vs: Vec<_> = values
            .iter()
            .map(|&v| (witness(&cs, Some(fr(v))).unwrap(), Some(v)))
            .collect();
        let m = witness(&cs, Some(fr(mean))).unwrap();
        enforce_rounded_mean(&cs, &ws, &vs, (m, Some(mean)), frac_bits).unwrap();
        cs.is_satisfied().unwrap()
    }

    fn rounded(weights: &[u64], values: &[i64], frac_bits: u32) -> i64 {
        (numerator(weights, values, frac_bits) >> frac_bits) as i64
    }

    #[test]
    fn the_rounded_mean_satisfies_and_costs_one_constraint_per_product_and_bit() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let ws: Vec<_> = [3u64, 5]
            .iter()
            .map(|&w| (cs.new_input_variable(|| Ok(Fr::from(w))).unwrap(), Some(w)))
            .collect();
        let vs: Vec<_> = [7i64, -9]
            .iter()
            .map(|&v| (witness(&cs, Some(fr(v))).unwrap(), Some(v)))
            .collect();
        let mean = rounded(&[3, 5], &[7, -9], 3);
        let m = witness(&cs, Some(fr(mean))).unwrap();
        enforce_rounded_mean(&cs, &ws, &vs, (m, Some(mean)), 3).unwrap();
        assert_eq!(cs.num_constraints(), 2 + 3);
        assert!(cs.is_satisfied().unwrap());
    }

    #[test]
    fn rounding_is_half_up() {
        // (1 + 0) / 2 = 0.5 -> 1; (-1 + 0) / 2 = -0.5 -> 0; (-3 + 0) / 2 = -1.5 -> -1.
        assert_eq!(rounded(&[1, 1], &[1, 0], 1), 1);
        assert_eq!(rounded(&[1, 1], &[-1, 0], 1), 0);
        assert_eq!(rounded(&[1, 1], &[-3, 0], 1), -1);
        for (v, mean) in [(1, 1), (-1, 0), (-3, -1)] {
            assert!(satisfied(&[1, 1], &[v, 0], mean, 1));
        }
    }

    #[test]
    fn a_mean_off_by_one_is_rejected() {
        let (w, v) = ([9000u64, 7384], [127i64, -128]);
        let mean = rounded(&w, &v, 14);
        assert!(satisfied(&w, &v, mean, 14));
        assert!(!satisfied(&w, &v, mean + 1, 14));
        assert!(!satisfied(&w, &v, mean - 1, 14));
    }

    #[test]
    fn the_mean_under_other_weights_is_rejected() {
        // The mean of the same values with the weights swapped is a different number.
        let (w, v) = ([12000u64, 4384], [100i64, -100]);
        let swapped = rounded(&[4384, 12000], &v, 14);
        assert_ne!(swapped, rounded(&w, &v, 14));
        assert!(!satisfied(&w, &v, swapped, 14));
    }

    #[test]
    fn a_product_that_is_not_the_product_is_rejected() {
        // Weights (1, 1), values (3, 5), F = 1: the mean is 4 with remainder 1. A prover that
        // claims the first product is 1 instead of 3 makes mean 3 fit (1 + 5 + 1 − 6 = 1).
        let build = |first_product: i64, mean: i64| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let ws: Vec<_> = (0..2)
                .map(|_| {
                    (
                        cs.new_input_variable(|| Ok(Fr::from(1u64))).unwrap(),
                        Some(1),
                    )
                })
                .collect();
            let vs: Vec<_> = [3i64, 5]
                .iter()
                .map(|&v| (witness(&cs, Some(fr(v))).unwrap(), Some(v)))
                .collect();
            let m = witness(&cs, Some(fr(mean))).unwrap();
            let products = [Some(fr(first_product)), Some(fr(5))];
            let remainder = first_product + 5 + 1 - 2 * mean;
            enforce_with(&cs, &ws, &vs, m, &products, Some(remainder.into()), 1).unwrap();
            cs.is_satisfied().unwrap()
        };
        assert!(build(3, 4));
        assert!(!build(1, 3));
    }
}
