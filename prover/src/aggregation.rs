//! The aggregation circuit: "the global model committed to as `C_G` is the rounded weighted
//! average of the models committed to as `C_1..C_m`, with weights `λ_1..λ_m`".
//!
//! Public inputs, in order: `C_G`, then `(C_k, λ_k)` for each of the task's `capacity`
//! slots. Private: every model and its salt. The weights are fixed-point fractions with
//! `frac_bits = F` bits, `λ_k = ⌊(2^(F+1) · n_k + N) / (2N)⌋` for sample counts `n_k` with
//! sum `N` (see [`weights`]); an unused slot has weight 0 and holds the padding model, whose
//! commitment [`padding_commitment`] is a constant of the task. Every coordinate of the
//! global model is `⌊(Σ_k λ_k · v_k + 2^(F−1)) / 2^F⌋` ([`crate::gadgets::average`]); all
//! models share the task's fixed-point format, so this is FedAvg in integers.

use ark_bn254::Fr;
use ark_ff::Zero;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_relations::lc;

use crate::commitment::commit;
use crate::error::{Error, Result};
use crate::gadgets::average::{enforce_rounded_mean, numerator};
use crate::gadgets::model::{self, Parameters};
use crate::gadgets::range::{bits_of, decompose};
use crate::spec::{ModelSpec, QuantizedModel};

/// Largest number of contributions a task may aggregate in one proof.
pub const MAX_CAPACITY: usize = 64;
/// Largest number of fractional bits of a weight.
pub const MAX_FRAC_BITS: u32 = 24;

/// What the aggregation keys are generated for: the model spec, the number of slots and
/// the weights' fractional bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub spec: ModelSpec,
    pub capacity: usize,
    pub frac_bits: u32,
}

impl Shape {
    pub fn validate(&self) -> Result<()> {
        self.spec.validate()?;
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(Error::InvalidSpec(format!(
                "aggregation capacity must be in 1..={MAX_CAPACITY}, got {}",
                self.capacity
            )));
        }
        if !(1..=MAX_FRAC_BITS).contains(&self.frac_bits) {
            return Err(Error::InvalidSpec(format!(
                "aggregation weights need 1..={MAX_FRAC_BITS} fractional bits, got {}",
                self.frac_bits
            )));
        }
        Ok(())
    }

    /// Bits of a weight's range check: weights lie in `[0, 2^(F+1))`.
    fn weight_bits(&self) -> u32 {
        self.frac_bits + 1
    }
}

/// The public inputs of one aggregation proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub global: Fr,
    /// `(commitment, weight)` per slot, exactly `capacity` of them.
    pub slots: Vec<(Fr, u64)>,
}

impl Statement {
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut inputs = vec![self.global];
        for &(c, w) in &self.slots {
            inputs.extend([c, Fr::from(w)]);
        }
        inputs
    }
}

/// The leader's private knowledge: one model and salt per slot, and the global model's.
#[derive(Clone, Debug)]
pub struct Witness {
    pub models: Vec<QuantizedModel>,
    pub salts: Vec<Fr>,
    pub global: QuantizedModel,
    pub global_salt: Fr,
}

/// The circuit; without statement and witness it describes the shape for key generation.
#[derive(Clone, Copy)]
pub struct AggregationCircuit<'a> {
    pub shape: &'a Shape,
    pub statement: Option<&'a Statement>,
    pub witness: Option<&'a Witness>,
}

impl ConstraintSynthesizer<Fr> for AggregationCircuit<'_> {
    fn generate_constraints(
        self,
        cs: ConstraintSystemRef<Fr>,
    ) -> std::result::Result<(), SynthesisError> {
        let shape = self.shape;
        let missing = || SynthesisError::AssignmentMissing;
        let global_c =
            cs.new_input_variable(|| self.statement.map(|s| s.global).ok_or_else(missing))?;
        let mut slots = Vec::with_capacity(shape.capacity);
        for k in 0..shape.capacity {
            let slot = self.statement.map(|s| s.slots[k]);
            let c = cs.new_input_variable(|| slot.map(|s| s.0).ok_or_else(missing))?;
            let w = cs.new_input_variable(|| slot.map(|s| Fr::from(s.1)).ok_or_else(missing))?;
            slots.push((c, w, slot));
        }
        // Weights below 2^(F+1): with them, every weighted sum stays far below the field
        // size, so the remainder's range pins the mean as an integer.
        for &(_, w, slot) in &slots {
            let bits = slot.map(|s| bits_of(u128::from(s.1), shape.weight_bits()));
            decompose(&cs, lc!() + w, bits.as_deref(), shape.weight_bits())?;
        }
        let mut opened: Vec<Parameters> = Vec::with_capacity(shape.capacity);
        for (k, &(c, _, slot)) in slots.iter().enumerate() {
            opened.push(model::open(
                &cs,
                &shape.spec,
                self.witness.map(|w| &w.models[k]),
                self.witness.map(|w| w.salts[k]),
                c,
                slot.map(|s| s.0),
            )?);
        }
        let global = model::open(
            &cs,
            &shape.spec,
            self.witness.map(|w| &w.global),
            self.witness.map(|w| w.global_salt),
            global_c,
            self.statement.map(|s| s.global),
        )?;
        let weights: Vec<(Variable, Option<u64>)> = slots
            .iter()
            .map(|&(_, w, slot)| (w, slot.map(|s| s.1)))
            .collect();
        let value = |m: &QuantizedModel, l: usize, i: usize, bias: bool| {
            if bias {
                m.biases[l][i]
            } else {
                m.weights[l][i]
            }
        };
        for l in 0..shape.spec.num_layers() {
            for bias in [false, true] {
                let count = if bias {
                    shape.spec.widths[l + 1]
                } else {
                    shape.spec.weight_count(l)
                };
                for i in 0..count {
                    let wire = |p: &Parameters| {
                        if bias {
                            p.biases[l][i]
                        } else {
                            p.weights[l][i]
                        }
                    };
                    let values: Vec<(Variable, Option<i64>)> = opened
                        .iter()
                        .enumerate()
                        .map(|(k, p)| {
                            (
                                wire(p),
                                self.witness.map(|w| value(&w.models[k], l, i, bias)),
                            )
                        })
                        .collect();
                    let mean = (
                        wire(&global),
                        self.witness.map(|w| value(&w.global, l, i, bias)),
                    );
                    enforce_rounded_mean(&cs, &weights, &values, mean, shape.frac_bits)?;
                }
            }
        }
        Ok(())
    }
}

/// The fixed-point weights of sample counts: `λ_k = ⌊(2^(F+1) · n_k + N) / (2N)⌋`, i.e.
/// `n_k / N` with `F` fractional bits, rounded half up. Zero counts are empty slots.
pub fn weights(counts: &[u64], frac_bits: u32) -> Result<Vec<u64>> {
    let total: u128 = counts.iter().map(|&n| u128::from(n)).sum();
    if total == 0 {
        return Err(Error::InvalidModel(
            "aggregation needs a positive sample count".into(),
        ));
    }
    if total >= 1 << 64 {
        return Err(Error::InvalidModel(
            "the sample counts' sum exceeds 2^64".into(),
        ));
    }
    Ok(counts
        .iter()
        .map(|&n| ((u128::from(n) << (frac_bits + 1)) + total) / (2 * total))
        .map(|w| w as u64)
        .collect())
}

/// The empty slot's model: every parameter zero.
pub fn padding_model(spec: &ModelSpec) -> QuantizedModel {
    QuantizedModel {
        weights: (0..spec.num_layers())
            .map(|l| vec![0; spec.weight_count(l)])
            .collect(),
        biases: (0..spec.num_layers())
            .map(|l| vec![0; spec.widths[l + 1]])
            .collect(),
    }
}

/// The empty slot's commitment: the padding model with salt 0, a constant of the task.
pub fn padding_commitment(spec: &ModelSpec) -> Fr {
    commit(spec, &padding_model(spec), Fr::zero())
}

/// The rounded weighted average that the circuit checks, computed natively.
pub fn aggregate(
    shape: &Shape,
    models: &[QuantizedModel],
    weights: &[u64],
) -> Result<QuantizedModel> {
    shape.validate()?;
    if models.is_empty() || models.len() != weights.len() {
        return Err(Error::InvalidModel(format!(
            "{} models for {} weights",
            models.len(),
            weights.len()
        )));
    }
    for m in models {
        m.validate(&shape.spec)?;
    }
    if let Some(w) = weights.iter().find(|&&w| w >> shape.weight_bits() != 0) {
        return Err(Error::InvalidModel(format!(
            "weight {w} needs more than {} bits",
            shape.weight_bits()
        )));
    }
    let f = shape.frac_bits;
    let mean = |pick: &dyn Fn(&QuantizedModel) -> i64| {
        let values: Vec<i64> = models.iter().map(pick).collect();
        (numerator(weights, &values, f) >> f) as i64
    };
    let spec = &shape.spec;
    let global = QuantizedModel {
        weights: (0..spec.num_layers())
            .map(|l| {
                (0..spec.weight_count(l))
                    .map(|i| mean(&|m| m.weights[l][i]))
                    .collect()
            })
            .collect(),
        biases: (0..spec.num_layers())
            .map(|l| {
                (0..spec.widths[l + 1])
                    .map(|i| mean(&|m| m.biases[l][i]))
                    .collect()
            })
            .collect(),
    };
    global
        .validate(spec)
        .map_err(|e| Error::InvalidModel(format!("the average leaves the model's ranges: {e}")))?;
    Ok(global)
}
