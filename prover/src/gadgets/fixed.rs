//! Fixed-point arithmetic of the training rule (docs/training.md): products, division by a
//! power of two rounded half up, clips with their "inside" bit, the maximum and the floor
//! division. Each gadget carries its value beside its wires, so that the circuit computes
//! the honest witness as it builds the constraints.
//!
//! Soundness rests on ranges: a gadget's output is pinned only if every quantity in its
//! identity is known to be a small integer (far below the field size). Each gadget either
//! assumes that of its inputs (stated at the function) or establishes it with a bit
//! decomposition, and says which.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use ark_relations::lc;

use super::range::{bits_of, decompose, decompose_linear};
use super::{enforce, fr, witness};

/// A value of the circuit: its linear combination and, when proving, its integer.
#[derive(Clone, Debug)]
pub struct Num {
    pub lc: LinearCombination<Fr>,
    pub val: Option<i64>,
}

impl Num {
    pub fn var(v: Variable, val: Option<i64>) -> Self {
        Num { lc: lc!() + v, val }
    }

    pub fn constant(c: i64) -> Self {
        Num {
            lc: lc!() + (fr(c), Variable::One),
            val: Some(c),
        }
    }

    /// `self + other · k` for a constant `k`.
    pub fn add_scaled(&self, other: &Num, k: i64) -> Num {
        let mut lc = self.lc.clone();
        for &(c, v) in other.lc.0.iter() {
            lc.0.push((c * fr(k), v));
        }
        Num {
            lc,
            val: self.val.zip(other.val).map(|(a, b)| a + b * k),
        }
    }

    pub fn add(&self, other: &Num) -> Num {
        self.add_scaled(other, 1)
    }

    pub fn sub(&self, other: &Num) -> Num {
        self.add_scaled(other, -1)
    }

    /// `self + c` for a constant `c`.
    pub fn offset(&self, c: i64) -> Num {
        self.add(&Num::constant(c))
    }
}

/// `Σ nums` (free: a linear combination).
pub fn sum(nums: &[Num]) -> Num {
    let mut lc = LinearCombination::zero();
    let mut val = Some(0i64);
    for n in nums {
        lc.0.extend(n.lc.0.iter().copied());
        val = val.zip(n.val).map(|(a, b)| a + b);
    }
    Num { lc, val }
}

/// `a · b`: one constraint and one wire.
pub fn mul(cs: &ConstraintSystemRef<Fr>, a: &Num, b: &Num) -> Result<Num, SynthesisError> {
    let val = a.val.zip(b.val).map(|(x, y)| x * y);
    let p = witness(cs, val.map(fr))?;
    enforce(cs, || a.lc.clone(), || b.lc.clone(), || lc!() + p)?;
    Ok(Num::var(p, val))
}

/// `⌊(a + 2^(s−1)) / 2^s⌋`: division by `2^s` rounded half up, as `shift_round` of the
/// NumPy reference.
pub fn shift_round_value(a: i64, shift: u32) -> i64 {
    if shift == 0 {
        a
    } else {
        (a + (1i64 << (shift - 1))) >> shift
    }
}

/// `q = ⌊(x + 2^(s−1)) / 2^s⌋` with `q ∈ [q_lo, q_lo + 2^q_bits)`.
///
/// Constraints: the remainder `r = x + 2^(s−1) − 2^s · q` in `s` bits (`s + 1` constraints,
/// `x` kept out of the B query) and `q − q_lo` in `q_bits` bits. This establishes that `x`
/// is a small integer too (`x = 2^s · q + r − 2^(s−1)`), so the gadget doubles as `x`'s range
/// check; `q` is unique for every `x`. Cost `s + q_bits + 1` (`q_bits` when `s = 0`).
pub fn shift_round(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    shift: u32,
    q_lo: i64,
    q_bits: u32,
) -> Result<Num, SynthesisError> {
    let q = x.val.map(|v| shift_round_value(v, shift));
    shift_round_claimed(cs, x, shift, q_lo, q_bits, q)
}

/// [`shift_round`] without the quotient's range check: only the remainder's `s + 1`
/// constraints. Sound only where the caller establishes a range for `q` otherwise (a
/// decomposition of a value that is `q` plus known-small terms, as a clip of `p − q` is)
/// and `x` is known to be a small integer: then `x + 2^(s−1) = 2^s · q + r` holds over the
/// integers and pins `q`. `s ≥ 1`.
pub fn shift_round_bounded_later(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    shift: u32,
) -> Result<Num, SynthesisError> {
    assert!(shift >= 1, "a shift of 0 is no rounding");
    let q_val = x.val.map(|v| shift_round_value(v, shift));
    let q = Num::var(witness(cs, q_val.map(fr))?, q_val);
    let r = x.offset(1 << (shift - 1)).add_scaled(&q, -(1i64 << shift));
    let r_bits = r.val.map(|v| bits_of(v as u128, shift));
    decompose_linear(cs, r.lc, r_bits.as_deref(), shift)?;
    Ok(q)
}

/// [`shift_round`] with any claimed quotient (tests hand-make dishonest ones).
pub(crate) fn shift_round_claimed(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    shift: u32,
    q_lo: i64,
    q_bits: u32,
    q_claim: Option<i64>,
) -> Result<Num, SynthesisError> {
    let q = if shift == 0 {
        x.clone()
    } else {
        Num::var(witness(cs, q_claim.map(fr))?, q_claim)
    };
    let offset = q.offset(-q_lo);
    let offset_bits = offset.val.map(|v| bits_of(v as u128, q_bits));
    decompose(cs, offset.lc, offset_bits.as_deref(), q_bits)?;
    if shift > 0 {
        let r = x.offset(1 << (shift - 1)).add_scaled(&q, -(1i64 << shift));
        let r_bits = r.val.map(|v| bits_of(v as u128, shift));
        decompose_linear(cs, r.lc, r_bits.as_deref(), shift)?;
    }
    Ok(q)
}

/// `[x ≥ t]` as a boolean wire, for `|x − t| < 2^bits`: the top bit of `x − t + 2^bits` in
/// `bits + 1` bits. The decomposition establishes the precondition. Cost `bits + 1`.
pub fn at_least(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    t: i64,
    bits: u32,
) -> Result<Num, SynthesisError> {
    let shifted = x.offset((1i64 << bits) - t);
    let b = shifted.val.map(|v| bits_of(v as u128, bits + 1));
    let wires = decompose(cs, shifted.lc, b.as_deref(), bits + 1)?;
    Ok(Num::var(
        wires[bits as usize],
        x.val.map(|v| i64::from(v >= t)),
    ))
}

/// The clip of the training rule, with its "inside" bit: `y = out_lo` if `x < t_lo`,
/// `y = out_hi` if `x ≥ t_hi`, else `y = x`; `inside = [t_lo ≤ x < t_hi]`. `t_lo ≤ t_hi` and
/// `|x − t| < 2^bits` for both thresholds (established by the comparisons). `clamp(x, lo, hi)`
/// is `t = (lo, hi + 1)`, `out = (lo, hi)`; the saturating ReLU `clamp(z, 0, H)` with its
/// derivative mask `[0 < z < H]` is `t = (1, H)`, `out = (0, H)`. Cost `2 · bits + 3`.
pub fn clip(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    t: (i64, i64),
    out: (i64, i64),
    bits: u32,
) -> Result<(Num, Num), SynthesisError> {
    let y = x.val.map(|v| {
        if v < t.0 {
            out.0
        } else if v >= t.1 {
            out.1
        } else {
            v
        }
    });
    clip_claimed(cs, x, t, out, bits, y)
}

/// [`clip`] with any claimed output.
pub(crate) fn clip_claimed(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    t: (i64, i64),
    out: (i64, i64),
    bits: u32,
    y_claim: Option<i64>,
) -> Result<(Num, Num), SynthesisError> {
    assert!(t.0 <= t.1, "the thresholds are ordered");
    let lo = at_least(cs, x, t.0, bits)?;
    let hi = at_least(cs, x, t.1, bits)?;
    let inside = lo.sub(&hi);
    let y = Num::var(witness(cs, y_claim.map(fr))?, y_claim);
    // inside · x = y − (1 − lo) · out_lo − hi · out_hi
    let rhs = y
        .offset(-out.0)
        .add_scaled(&lo, out.0)
        .add_scaled(&hi, -out.1);
    enforce(cs, || inside.lc.clone(), || x.lc.clone(), || rhs.lc.clone())?;
    Ok((y, inside))
}

/// `max(x, c)` for `|x − c| < 2^bits`. Cost `bits + 2`.
pub fn floor_at(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    c: i64,
    bits: u32,
) -> Result<Num, SynthesisError> {
    let y = x.val.map(|v| v.max(c));
    floor_at_claimed(cs, x, c, bits, y)
}

pub(crate) fn floor_at_claimed(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    c: i64,
    bits: u32,
    y_claim: Option<i64>,
) -> Result<Num, SynthesisError> {
    let above = at_least(cs, x, c, bits)?;
    let y = Num::var(witness(cs, y_claim.map(fr))?, y_claim);
    // above · (x − c) = y − c
    enforce(
        cs,
        || above.lc.clone(),
        || x.offset(-c).lc,
        || y.offset(-c).lc,
    )?;
    Ok(y)
}

/// `max_j x_j` for values with `|x_j| < 2^bits`: every `m − x_j` in `bits + 1` bits (so `m`
/// is at least each), and `Π_j (m − x_j) = 0` (so `m` is one of them). Cost
/// `n · (bits + 1) + n − 1`.
pub fn maximum(cs: &ConstraintSystemRef<Fr>, xs: &[Num], bits: u32) -> Result<Num, SynthesisError> {
    let m = xs
        .iter()
        .map(|x| x.val)
        .collect::<Option<Vec<i64>>>()
        .and_then(|v| v.into_iter().max());
    maximum_claimed(cs, xs, bits, m)
}

pub(crate) fn maximum_claimed(
    cs: &ConstraintSystemRef<Fr>,
    xs: &[Num],
    bits: u32,
    m_claim: Option<i64>,
) -> Result<Num, SynthesisError> {
    assert!(!xs.is_empty(), "the maximum of something");
    let m = Num::var(witness(cs, m_claim.map(fr))?, m_claim);
    let gaps: Vec<Num> = xs.iter().map(|x| m.sub(x)).collect();
    for gap in &gaps {
        let b = gap.val.map(|v| bits_of(v as u128, bits + 1));
        decompose(cs, gap.lc.clone(), b.as_deref(), bits + 1)?;
    }
    if gaps.len() == 1 {
        enforce(
            cs,
            || gaps[0].lc.clone(),
            || lc!() + Variable::One,
            LinearCombination::zero,
        )?;
        return Ok(m);
    }
    let field = |g: &Num| g.val.map(fr);
    let mut acc = gaps[0].lc.clone();
    let mut acc_val = field(&gaps[0]);
    for (i, gap) in gaps.iter().enumerate().skip(1) {
        let next_val = acc_val.zip(field(gap)).map(|(a, b)| a * b);
        if i + 1 == gaps.len() {
            enforce(
                cs,
                || acc.clone(),
                || gap.lc.clone(),
                LinearCombination::zero,
            )?;
        } else {
            let p = witness(cs, next_val)?;
            enforce(cs, || acc.clone(), || gap.lc.clone(), || lc!() + p)?;
            acc = lc!() + p;
        }
        acc_val = next_val;
    }
    Ok(m)
}

/// `(q, rem) = (⌊num / den⌋, num mod den)` for `0 ≤ num` and `1 ≤ den`, with `q < 2^q_bits`
/// and `den ≤ 2^r_bits`: `q · den = num − rem` with `rem` and `den − 1 − rem` in `r_bits`
/// bits (so `0 ≤ rem < den`) and `q` in `q_bits` bits. `num` and `den` must be known to be
/// small integers. Cost `q_bits + 2 · r_bits + 1`.
pub fn divide(
    cs: &ConstraintSystemRef<Fr>,
    num: &Num,
    den: &Num,
    q_bits: u32,
    r_bits: u32,
) -> Result<(Num, Num), SynthesisError> {
    let q = num
        .val
        .zip(den.val)
        .map(|(n, d)| if d > 0 { n.div_euclid(d) } else { 0 });
    divide_claimed(cs, num, den, q_bits, r_bits, q)
}

pub(crate) fn divide_claimed(
    cs: &ConstraintSystemRef<Fr>,
    num: &Num,
    den: &Num,
    q_bits: u32,
    r_bits: u32,
    q_claim: Option<i64>,
) -> Result<(Num, Num), SynthesisError> {
    let q_val = q_claim;
    let q = Num::var(witness(cs, q_val.map(fr))?, q_val);
    let q_bits_val = q_val.map(|v| bits_of(v as u128, q_bits));
    decompose(cs, q.lc.clone(), q_bits_val.as_deref(), q_bits)?;
    let rem_val = num.val.zip(den.val).zip(q_val).map(|((n, d), q)| n - q * d);
    let rem = Num::var(witness(cs, rem_val.map(fr))?, rem_val);
    let b = rem_val.map(|v| bits_of(v as u128, r_bits));
    decompose(cs, rem.lc.clone(), b.as_deref(), r_bits)?;
    let slack = den.sub(&rem).offset(-1);
    let b = slack.val.map(|v| bits_of(v as u128, r_bits));
    decompose(cs, slack.lc, b.as_deref(), r_bits)?;
    enforce(cs, || q.lc.clone(), || den.lc.clone(), || num.sub(&rem).lc)?;
    Ok((q, rem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::Field;
    use ark_relations::gr1cs::ConstraintSystem;

    fn new_cs() -> ConstraintSystemRef<Fr> {
        ConstraintSystem::<Fr>::new_ref()
    }

    /// A private input wire holding `v`.
    fn input(cs: &ConstraintSystemRef<Fr>, v: i64) -> Num {
        Num::var(witness(cs, Some(fr(v))).unwrap(), Some(v))
    }

    #[test]
    fn shift_round_matches_the_reference_and_nothing_else() {
        for x in [-1000i64, -9, -8, -7, -4, -1, 0, 3, 4, 5, 12, 999] {
            for q in -130..130 {
                let cs = new_cs();
                let xn = input(&cs, x);
                shift_round_claimed(&cs, &xn, 3, -128, 8, Some(q)).unwrap();
                let honest = shift_round_value(x, 3);
                assert_eq!(cs.is_satisfied().unwrap(), q == honest, "x {x} q {q}");
            }
        }
        // An x whose quotient leaves the range has no witness.
        let cs = new_cs();
        let xn = input(&cs, 8 * 200);
        shift_round(&cs, &xn, 3, -128, 8).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn an_unchecked_quotient_is_pinned_by_a_later_clip_and_only_then() {
        // x = 37, shift 3: q = 5. A dishonest q' = q + 2^-3 (a field element) keeps the
        // remainder 37 + 4 − 8 q' = 0 in range, so the rounding alone does not pin q ...
        let forged = fr(5) + Fr::from(8u64).inverse().unwrap();
        let build = |q_value: Fr, r_value: u128, clipped: bool| {
            let cs = new_cs();
            let x = input(&cs, 37);
            let q = Num::var(witness(&cs, Some(q_value)).unwrap(), None);
            let r = x.offset(4).add_scaled(&q, -8);
            let rv = r.lc.clone();
            decompose_linear(&cs, rv, Some(&bits_of(r_value, 3)), 3).unwrap();
            if clipped {
                // ... but a comparison of q against a threshold needs q small.
                let shifted = q.offset(16);
                decompose(&cs, shifted.lc, Some(&bits_of(21, 6)), 6).unwrap();
            }
            cs.is_satisfied().unwrap()
        };
        assert!(build(forged, 0, false));
        assert!(!build(forged, 0, true));
        assert!(build(fr(5), 1, true));
        let cs = new_cs();
        let x = input(&cs, 37);
        let q = shift_round_bounded_later(&cs, &x, 3).unwrap();
        assert_eq!(q.val, Some(5));
        assert_eq!(cs.num_constraints(), 4);
        assert!(cs.is_satisfied().unwrap());
    }

    #[test]
    fn shift_round_rounds_half_up() {
        assert_eq!(shift_round_value(4, 3), 1);
        assert_eq!(shift_round_value(3, 3), 0);
        assert_eq!(shift_round_value(-4, 3), 0);
        assert_eq!(shift_round_value(-5, 3), -1);
    }

    #[test]
    fn clip_outputs_are_pinned() {
        // clamp(x, -5, 5) and the ReLU form (t = (1, 9), out = (0, 9)).
        let cases = [((-5i64, 6i64), (-5i64, 5i64)), ((1, 9), (0, 9))];
        for (t, out) in cases {
            for x in -20i64..20 {
                let honest = if x < t.0 {
                    out.0
                } else if x >= t.1 {
                    out.1
                } else {
                    x
                };
                for y in -22i64..22 {
                    let cs = new_cs();
                    let xn = input(&cs, x);
                    let (_, inside) = clip_claimed(&cs, &xn, t, out, 6, Some(y)).unwrap();
                    assert_eq!(cs.is_satisfied().unwrap(), y == honest, "x {x} y {y}");
                    if y == honest {
                        assert_eq!(inside.val, Some(i64::from(t.0 <= x && x < t.1)));
                    }
                }
            }
        }
    }

    #[test]
    fn a_comparison_with_forged_bits_is_rejected() {
        // x = 3 against t = 5: x − t + 2^4 = 14; the bits of 14 + 16 (top bit set, "x ≥ t")
        // do not recompose to 14.
        let cs = new_cs();
        let x = input(&cs, 3);
        let shifted = x.offset(16 - 5);
        decompose(&cs, shifted.lc, Some(&bits_of(30, 5)), 5).unwrap();
        assert!(!cs.is_satisfied().unwrap());
        // Out of the comparison's range: no witness at all.
        let cs = new_cs();
        let x = input(&cs, 100);
        at_least(&cs, &x, 5, 4).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn floor_at_is_pinned() {
        for x in -12i64..12 {
            for y in -14i64..14 {
                let cs = new_cs();
                let xn = input(&cs, x);
                floor_at_claimed(&cs, &xn, -4, 5, Some(y)).unwrap();
                assert_eq!(cs.is_satisfied().unwrap(), y == x.max(-4), "x {x} y {y}");
            }
        }
    }

    #[test]
    fn the_maximum_is_one_of_the_values_and_at_least_each() {
        let values = [3i64, -7, 3, 11, 0];
        for m in -10..20 {
            let cs = new_cs();
            let xs: Vec<Num> = values.iter().map(|&v| input(&cs, v)).collect();
            maximum_claimed(&cs, &xs, 5, Some(m)).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), m == 11, "m {m}");
        }
        let cs = new_cs();
        let xs = vec![input(&cs, -3)];
        maximum_claimed(&cs, &xs, 5, Some(-2)).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn the_division_is_the_floor() {
        for (n, d) in [(0i64, 1i64), (17, 5), (20, 5), (65536, 65537), (100, 7)] {
            for q in 0..25 {
                let cs = new_cs();
                let (nn, dn) = (input(&cs, n), input(&cs, d));
                divide_claimed(&cs, &nn, &dn, 5, 17, Some(q)).unwrap();
                assert_eq!(cs.is_satisfied().unwrap(), q == n / d, "{n}/{d} q {q}");
            }
        }
        // A zero denominator has no witness.
        let cs = new_cs();
        let (nn, dn) = (input(&cs, 0), input(&cs, 0));
        divide(&cs, &nn, &dn, 5, 17).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn products_are_pinned() {
        let cs = new_cs();
        let (a, b) = (input(&cs, -7), input(&cs, 9));
        let p = mul(&cs, &a, &b).unwrap();
        assert_eq!(p.val, Some(-63));
        assert!(cs.is_satisfied().unwrap());
        let cs = new_cs();
        let (a, b) = (input(&cs, -7), input(&cs, 9));
        let forged = witness(&cs, Some(fr(-62))).unwrap();
        enforce(&cs, || a.lc.clone(), || b.lc.clone(), || lc!() + forged).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn sums_and_offsets_carry_values() {
        let cs = new_cs();
        let (a, b) = (input(&cs, 5), input(&cs, -2));
        assert_eq!(sum(&[a.clone(), b.clone()]).val, Some(3));
        assert_eq!(a.add_scaled(&b, 4).offset(1).val, Some(-2));
    }
}
