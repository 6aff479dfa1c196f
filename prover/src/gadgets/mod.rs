//! Small R1CS gadgets, one per non-linearity of the accuracy, aggregation and training
//! statements.
//!
//! Linear combinations are free in R1CS; only these gadgets cost constraints.

pub mod argmax;
pub mod average;
pub mod commit;
pub mod fixed;
pub mod model;
pub mod range;
pub mod relu;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::One;
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

/// `2^i` as a field element, for `i < 256`.
pub fn pow2(i: u32) -> Fr {
    static TABLE: OnceLock<Vec<Fr>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let two = Fr::from(2u64);
        std::iter::successors(Some(Fr::one()), |p| Some(*p * two))
            .take(256)
            .collect()
    })[i as usize]
}

/// A signed integer as a field element.
pub fn fr(v: i64) -> Fr {
    let magnitude = Fr::from(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Allocates a private wire whose value is known when proving and absent in setup.
pub fn witness(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<Fr>,
) -> Result<Variable, SynthesisError> {
    cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))
}

/// `a * b` where both may be unknown.
pub fn product(a: Option<Fr>, b: Option<Fr>) -> Option<Fr> {
    Some(a? * b?)
}

/// Enforces `a · b = c`. The combinations are only built when the constraint system
/// records matrices (setup, and tests); a prover that only assigns wires skips them.
pub fn enforce(
    cs: &ConstraintSystemRef<Fr>,
    a: impl FnOnce() -> LinearCombination<Fr>,
    b: impl FnOnce() -> LinearCombination<Fr>,
    c: impl FnOnce() -> LinearCombination<Fr>,
) -> Result<(), SynthesisError> {
    cs.enforce_r1cs_constraint(a, b, c)
}
