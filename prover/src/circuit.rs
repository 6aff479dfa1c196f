//! The accuracy circuit: "the model committed to as C classifies `count` of this task's
//! public test samples correctly", bound to a tag that names the task, round and submitter.
//!
//! Public inputs, in order: the commitment `C`, the count, the binding tag.
//! Private: the quantised weights and biases and the commitment's salt.
//! The test samples and labels are constants, so the circuit (and its keys) belong to
//! one task. With public inputs, the first layer is a linear combination of private
//! weights and costs no multiplication constraint.

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable,
};
use ark_relations::lc;

use crate::gadgets::model::{self, Parameters};
use crate::gadgets::{argmax, enforce, fr, pow2, product, relu, witness};
use crate::inference::Trace;
use crate::spec::{ModelSpec, QuantizedModel, TestSet};

/// The public inputs of one proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statement {
    pub commitment: Fr,
    pub count: u64,
    pub tag: Fr,
}

impl Statement {
    pub fn public_inputs(&self) -> [Fr; 3] {
        [self.commitment, Fr::from(self.count), self.tag]
    }
}

/// The prover's private knowledge, with the inference trace that fills every wire.
#[derive(Clone, Debug)]
pub struct Witness {
    pub model: QuantizedModel,
    pub salt: Fr,
    pub trace: Trace,
}

/// The circuit; without statement and witness it describes the shape for key generation.
#[derive(Clone, Copy)]
pub struct AccuracyCircuit<'a> {
    pub spec: &'a ModelSpec,
    pub test: &'a TestSet,
    pub statement: Option<&'a Statement>,
    pub witness: Option<&'a Witness>,
}

impl<'a> AccuracyCircuit<'a> {
    pub fn shape(spec: &'a ModelSpec, test: &'a TestSet) -> Self {
        Self {
            spec,
            test,
            statement: None,
            witness: None,
        }
    }
}

/// A layer's input for one sample: public constants or private wires with their values.
enum Activations<'t> {
    Public(&'t [u8]),
    Private(Vec<(Variable, Option<i64>)>),
}

impl ConstraintSynthesizer<Fr> for AccuracyCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let input = |f: fn(&Statement) -> Fr| {
            cs.new_input_variable(|| {
                self.statement
                    .map(f)
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        };
        let commitment = input(|s| s.commitment)?;
        let count = input(|s| Fr::from(s.count))?;
        // The tag enters no constraint: the QAP binds every public input to the proof.
        let _tag = input(|s| s.tag)?;

        let params = model::open(
            &cs,
            self.spec,
            self.witness.map(|w| &w.model),
            self.witness.map(|w| w.salt),
            commitment,
            self.statement.map(|s| s.commitment),
        )?;

        let mut total = LinearCombination::zero();
        for s in 0..self.test.len() {
            total.0.push((Fr::one(), self.sample(&cs, &params, s)?));
        }
        enforce(
            &cs,
            || total - count,
            || lc!() + Variable::One,
            LinearCombination::zero,
        )
    }
}

impl AccuracyCircuit<'_> {
    /// All constraints of one sample; returns its match bit.
    fn sample(
        &self,
        cs: &ConstraintSystemRef<Fr>,
        params: &Parameters,
        s: usize,
    ) -> Result<Variable, SynthesisError> {
        let spec = self.spec;
        let trace = self.witness.map(|w| &w.trace);
        let mut acts = Activations::Public(self.test.sample(s));
        for l in 0..spec.num_hidden() {
            let (k, a) = (spec.shifts[l], spec.act_bits);
            let offset = if k >= 1 { pow2(k - 1) } else { Fr::zero() } + pow2(k + a);
            let width = spec.widths[l + 1];
            let mut next = Vec::with_capacity(width);
            for j in 0..width {
                let z = self.accumulator(cs, params, l, &acts, j)?;
                let idx = s * width + j;
                let h_value = trace.map(|t| t.activations[l][idx]);
                let h = relu::requantise_relu(
                    cs,
                    z + (offset, Variable::One),
                    trace.map(|t| t.shifted[l][idx]),
                    h_value,
                    k,
                    a,
                )?;
                next.push((h, h_value));
            }
            acts = Activations::Private(next);
        }
        self.label_wins(cs, params, &acts, s)
    }

    /// `Σ_i a_i · W[i][j] + b_j` for hidden layer `l`.
    fn accumulator(
        &self,
        cs: &ConstraintSystemRef<Fr>,
        params: &Parameters,
        l: usize,
        acts: &Activations,
        j: usize,
    ) -> Result<LinearCombination<Fr>, SynthesisError> {
        let out = self.spec.widths[l + 1];
        let (w, weights) = (
            &params.weights[l],
            self.witness.map(|w| &w.model.weights[l]),
        );
        let mut z = lc!() + params.biases[l][j];
        match acts {
            // Building these long combinations is only needed for the matrices.
            Activations::Public(_) if !cs.should_construct_matrices() => {}
            Activations::Public(x) => {
                for (i, &xi) in x.iter().enumerate().filter(|(_, &xi)| xi != 0) {
                    z.0.push((Fr::from(xi), w[i * out + j]));
                }
            }
            Activations::Private(a) => {
                for (i, &(ai, ai_value)) in a.iter().enumerate() {
                    let w_value = weights.map(|ws| fr(ws[i * out + j]));
                    let p = witness(cs, product(ai_value.map(fr), w_value))?;
                    enforce(cs, || lc!() + ai, || lc!() + w[i * out + j], || lc!() + p)?;
                    z.0.push((Fr::one(), p));
                }
            }
        }
        Ok(z)
    }

    /// The output layer and the comparison of the label's logit with every other.
    fn label_wins(
        &self,
        cs: &ConstraintSystemRef<Fr>,
        params: &Parameters,
        acts: &Activations,
        s: usize,
    ) -> Result<Variable, SynthesisError> {
        let spec = self.spec;
        let last = spec.num_layers() - 1;
        let classes = spec.num_classes();
        let y = usize::from(self.test.labels[s]);
        let others: Vec<usize> = (0..classes).filter(|&c| c != y).collect();
        let (width, per_word) = (spec.slot_width(), spec.slots_per_word());
        let (w, b) = (&params.weights[last], &params.biases[last]);
        let weights = self.witness.map(|wit| &wit.model.weights[last]);
        let trace = self.witness.map(|wit| &wit.trace);
        let half = pow2(width - 1);
        let mut signs = Vec::with_capacity(others.len());
        for (g, group) in others.chunks(per_word).enumerate() {
            let place = |i: usize| pow2(width * i as u32);
            // Constant and bias part: Σ (b_y − b_c − [c < y] + 2^(w−1)) · 2^(w·i).
            let mut word = LinearCombination::zero();
            for (i, &c) in group.iter().enumerate() {
                let constant = half - Fr::from(u64::from(c < y));
                word.0.extend([
                    (place(i), b[y]),
                    (-place(i), b[c]),
                    (constant * place(i), Variable::One),
                ]);
            }
            // Weight part: Σ_j a_j · P_j with P_j = Σ_i (W[j][y] − W[j][c_i]) · 2^(w·i).
            let packed_weights = |j: usize| {
                let mut p = LinearCombination::zero();
                for (i, &c) in group.iter().enumerate() {
                    p.0.extend([
                        (place(i), w[j * classes + y]),
                        (-place(i), w[j * classes + c]),
                    ]);
                }
                p
            };
            let packed_value = |j: usize| {
                weights.map(|ws| {
                    group.iter().enumerate().fold(Fr::zero(), |acc, (i, &c)| {
                        acc + fr(ws[j * classes + y] - ws[j * classes + c]) * place(i)
                    })
                })
            };
            match acts {
                Activations::Public(_) if !cs.should_construct_matrices() => {}
                Activations::Public(x) => {
                    for (j, &xj) in x.iter().enumerate().filter(|(_, &xj)| xj != 0) {
                        word.0.extend((packed_weights(j) * Fr::from(xj)).0);
                    }
                }
                Activations::Private(a) => {
                    for (j, &(aj, aj_value)) in a.iter().enumerate() {
                        let m = witness(cs, product(aj_value.map(fr), packed_value(j)))?;
                        enforce(cs, || lc!() + aj, || packed_weights(j), || lc!() + m)?;
                        word.0.push((Fr::one(), m));
                    }
                }
            }
            let start = g * per_word;
            let slots = trace.map(|t| &t.slots[s][start..start + group.len()]);
            signs.extend(argmax::slot_signs(cs, word, slots, width, group.len())?);
        }
        argmax::all(cs, &signs, trace.map(|t| t.correct[s]))
    }
}
