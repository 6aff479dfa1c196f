//! The circuit's constraint matrices, compactly.
//!
//! The accuracy circuit has millions of matrix entries but few distinct coefficients
//! (powers of two, test pixels, ±1, packing offsets), so the matrices keep each distinct
//! coefficient once and every entry as two `u32`s: its column and its coefficient's
//! index. That is 8 bytes an entry instead of 40, in memory and in the proving key.

use std::collections::HashMap;

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use ark_relations::gr1cs::{ConstraintSystem, Matrix, R1CS_PREDICATE_LABEL};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// One sparse matrix: row `i` is `entries[starts[i]..starts[i + 1]]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SparseRows {
    pub starts: Vec<u32>,
    /// `(column, coefficient index)` pairs.
    pub entries: Vec<(u32, u32)>,
}

impl SparseRows {
    pub fn row(&self, i: usize) -> &[(u32, u32)] {
        &self.entries[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    pub fn num_rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
}

/// The R1CS `A·z ∘ B·z = C·z` of one circuit, over `z = (1, instance…, witness…)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrices {
    /// Instance variables, the constant one included.
    pub num_instance: usize,
    pub num_witness: usize,
    pub num_constraints: usize,
    pub coefficients: Vec<Fr>,
    pub a: SparseRows,
    pub b: SparseRows,
    pub c: SparseRows,
}

fn too_large(what: &str) -> Error {
    Error::Malformed {
        what: "constraint matrices",
        reason: format!("{what} does not fit in 32 bits"),
    }
}

impl Matrices {
    /// The matrices of a finalised constraint system synthesised in setup mode.
    pub fn from_constraint_system(cs: &ConstraintSystem<Fr>) -> Result<Self> {
        let mut all = cs.to_matrices()?;
        let mut r1cs = all
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| Error::Malformed {
                what: "constraint matrices",
                reason: "the constraint system has no R1CS predicate".into(),
            })?;
        let mut coefficients = Vec::new();
        let mut index: HashMap<Fr, u32> = HashMap::new();
        let mut compact = |m: Matrix<Fr>| -> Result<SparseRows> {
            let mut rows = SparseRows {
                starts: Vec::with_capacity(m.len() + 1),
                entries: Vec::with_capacity(m.iter().map(Vec::len).sum()),
            };
            rows.starts.push(0);
            for row in m {
                for (coeff, col) in row {
                    let next = u32::try_from(coefficients.len())
                        .map_err(|_| too_large("a coefficient"))?;
                    let k = *index.entry(coeff).or_insert_with(|| {
                        coefficients.push(coeff);
                        next
                    });
                    let col = u32::try_from(col).map_err(|_| too_large("a column"))?;
                    rows.entries.push((col, k));
                }
                let end = u32::try_from(rows.entries.len()).map_err(|_| too_large("a matrix"))?;
                rows.starts.push(end);
            }
            Ok(rows)
        };
        let c = compact(r1cs.pop().expect("three matrices"))?;
        let b = compact(r1cs.pop().expect("three matrices"))?;
        let a = compact(r1cs.pop().expect("three matrices"))?;
        Ok(Self {
            num_instance: cs.num_instance_variables(),
            num_witness: cs.num_witness_variables(),
            num_constraints: cs.num_constraints(),
            coefficients,
            a,
            b,
            c,
        })
    }

    pub fn num_variables(&self) -> usize {
        self.num_instance + self.num_witness
    }

    pub fn num_non_zero(&self) -> [usize; 3] {
        [&self.a, &self.b, &self.c].map(|m| m.entries.len())
    }

    /// Checks the internal consistency that every other method relies on: sizes, row
    /// offsets, columns and coefficient indices in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::Malformed {
                what: "constraint matrices",
                reason: reason.into(),
            })
        };
        if self.num_instance == 0 {
            return bad("no instance variables");
        }
        let columns = self.num_variables();
        for m in [&self.a, &self.b, &self.c] {
            if m.starts.len() != self.num_constraints + 1 || m.starts[0] != 0 {
                return bad("row count does not match the constraint count");
            }
            if m.starts.windows(2).any(|w| w[0] > w[1]) {
                return bad("row offsets decrease");
            }
            if *m.starts.last().expect("non-empty") as usize != m.entries.len() {
                return bad("row offsets do not cover the entries");
            }
            if m.entries
                .iter()
                .any(|&(col, k)| col as usize >= columns || k as usize >= self.coefficients.len())
            {
                return bad("an entry's column or coefficient is out of range");
            }
        }
        Ok(())
    }

    /// `⟨row, z⟩` for every row of `m`, in parallel.
    pub fn evaluate(&self, m: &SparseRows, z: &[Fr]) -> Vec<Fr> {
        (0..m.num_rows())
            .into_par_iter()
            .map(|i| self.evaluate_row(m.row(i), z))
            .collect()
    }

    /// `(A·z, B·z)` in one pass. A booleanity constraint `x · (x − 1) = 0` has the same
    /// combination in `A` and `B` but for the constant; where a row of `B` is its row of
    /// `A` but for the constant column, its value is `A`'s plus that difference and the
    /// combination is evaluated once. Each such row is recognised by comparing the rows,
    /// so the result is exactly [`Self::evaluate`]'s.
    pub fn evaluate_a_and_b(&self, z: &[Fr]) -> (Vec<Fr>, Vec<Fr>) {
        let constant = |row: &[(u32, u32)]| {
            row.iter()
                .filter(|&&(col, _)| col == 0)
                .map(|&(_, k)| self.coefficients[k as usize])
                .sum::<Fr>()
        };
        let pairs: Vec<(Fr, Fr)> = (0..self.num_constraints)
            .into_par_iter()
            .map(|i| {
                let (a_row, b_row) = (self.a.row(i), self.b.row(i));
                let a = self.evaluate_row(a_row, z);
                let b = if without_constant(a_row).eq(without_constant(b_row)) {
                    a - constant(a_row) + constant(b_row)
                } else {
                    self.evaluate_row(b_row, z)
                };
                (a, b)
            })
            .collect();
        pairs.into_iter().unzip()
    }

    fn evaluate_row(&self, row: &[(u32, u32)], z: &[Fr]) -> Fr {
        let mut acc = Fr::zero();
        for &(col, k) in row {
            let (c, v) = (&self.coefficients[k as usize], z[col as usize]);
            if c.is_one() {
                acc += v;
            } else {
                acc += *c * v;
            }
        }
        acc
    }

    /// Does `z` satisfy every constraint? (For tests and diagnostics.)
    pub fn is_satisfied(&self, z: &[Fr]) -> bool {
        let (a, b, c) = (
            self.evaluate(&self.a, z),
            self.evaluate(&self.b, z),
            self.evaluate(&self.c, z),
        );
        a.iter().zip(&b).zip(&c).all(|((a, b), c)| *a * b == *c)
    }
}

/// The entries of a row that are not on the constant column.
fn without_constant(row: &[(u32, u32)]) -> impl Iterator<Item = &(u32, u32)> {
    row.iter().filter(|&&(col, _)| col != 0)
}
