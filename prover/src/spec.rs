//! The public shape of a task's statement: the model architecture with its integer
//! bit widths, the public test set, and a quantised model that may be proven against them.

use crate::error::{Error, Result};

/// Architecture and integer ranges of the quantised MLP, fixed by the task.
///
/// Inputs lie in `[0, 2^input_bits)`, weights in `[-2^(weight_bits-1), 2^(weight_bits-1))`,
/// biases in `[-2^(bias_bits-1), 2^(bias_bits-1))`, hidden activations in `[0, 2^act_bits)`.
/// Hidden layer `l` requantises its accumulator with a right shift by `shifts[l]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub widths: Vec<usize>,
    pub shifts: Vec<u32>,
    pub input_bits: u32,
    pub weight_bits: u32,
    pub bias_bits: u32,
    pub act_bits: u32,
}

/// Largest packed comparison word: it must stay below the BN254 scalar field (254 bits).
pub const MAX_PACKED_BITS: u32 = 252;

/// Widest comparison slot: the native inference holds a slot, and its offset
/// `2^(w-1)`, in an `i64`.
pub const MAX_SLOT_BITS: u32 = 63;

/// Most entries of `widths` (input, hidden layers and classes).
pub const MAX_WIDTHS: usize = 64;

/// Every value the native inference computes (products, sums, the rounding offset and a
/// hidden layer's overflow window) stays below this magnitude, far inside `i64`. The
/// Python `ModelSpec` enforces the same bound, so both accept exactly the same specs.
pub const INT64_SAFE_BOUND: u128 = 1 << 62;

impl ModelSpec {
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidSpec(msg));
        if !(2..=MAX_WIDTHS).contains(&self.widths.len()) {
            return bad(format!(
                "widths needs an input and an output layer and at most {MAX_WIDTHS} entries, \
                 got {}",
                self.widths.len()
            ));
        }
        if self.widths.iter().any(|&w| w == 0 || w > 1 << 16) {
            return bad(format!(
                "layer widths must be in 1..=65536, got {:?}",
                self.widths
            ));
        }
        if self.num_classes() < 2 {
            return bad("the output layer needs at least 2 classes".into());
        }
        if self.shifts.len() != self.widths.len() - 2 {
            return bad(format!(
                "expected {} shifts (one per hidden layer), got {}",
                self.widths.len() - 2,
                self.shifts.len()
            ));
        }
        if !(1..=8).contains(&self.input_bits) {
            return bad(format!(
                "input_bits must be in 1..=8, got {}",
                self.input_bits
            ));
        }
        if !(2..=16).contains(&self.weight_bits) {
            return bad(format!(
                "weight_bits must be in 2..=16, got {}",
                self.weight_bits
            ));
        }
        if !(2..=32).contains(&self.bias_bits) {
            return bad(format!(
                "bias_bits must be in 2..=32, got {}",
                self.bias_bits
            ));
        }
        if !(1..=16).contains(&self.act_bits) {
            return bad(format!("act_bits must be in 1..=16, got {}", self.act_bits));
        }
        if self.shifts.iter().any(|&k| k > 48) {
            return bad(format!("shifts must be at most 48, got {:?}", self.shifts));
        }
        for l in 0..self.num_layers() {
            let bound = self.intermediate_bound(l);
            if bound >= INT64_SAFE_BOUND {
                return bad(format!(
                    "layer {l}: values up to {bound} do not fit the exact int64 reference"
                ));
            }
        }
        let width = self.slot_width();
        if width > MAX_SLOT_BITS.min(MAX_PACKED_BITS) {
            return bad(format!(
                "output comparisons need {width} bits, more than {MAX_SLOT_BITS}"
            ));
        }
        Ok(())
    }

    /// Bound on `|z|` of layer `l` over every in-range model and input (the Python
    /// `ModelSpec.preactivation_bound`). Only called on checked widths and bit widths.
    fn preactivation_bound(&self, l: usize) -> u128 {
        self.widths[l] as u128 * self.input_max(l) * (1u128 << (self.weight_bits - 1))
            + (1u128 << (self.bias_bits - 1))
    }

    /// Bound on every value the native inference computes in layer `l` (the Python
    /// `ModelSpec.intermediate_bound`).
    fn intermediate_bound(&self, l: usize) -> u128 {
        let bound = self.preactivation_bound(l);
        if l + 1 < self.num_layers() {
            let k = self.shifts[l];
            let offset = if k >= 1 { 1u128 << (k - 1) } else { 0 };
            (bound + offset).max(1u128 << (k + self.act_bits))
        } else {
            bound
        }
    }

    pub fn num_layers(&self) -> usize {
        self.widths.len() - 1
    }

    pub fn num_hidden(&self) -> usize {
        self.widths.len() - 2
    }

    pub fn num_classes(&self) -> usize {
        *self.widths.last().expect("validated")
    }

    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }

    /// Number of weights of layer `l` (an `in x out` matrix, row-major).
    pub fn weight_count(&self, l: usize) -> usize {
        self.widths[l] * self.widths[l + 1]
    }

    /// Largest absolute value of a layer-`l` input.
    fn input_max(&self, l: usize) -> u128 {
        let bits = if l == 0 {
            self.input_bits
        } else {
            self.act_bits
        };
        (1u128 << bits) - 1
    }

    /// Bits of the decomposed hidden accumulator: remainder, quotient and sign.
    pub fn hidden_bits(&self, l: usize) -> u32 {
        self.shifts[l] + self.act_bits + 1
    }

    /// Width of one packed logit-difference slot of the output comparison.
    ///
    /// A slot holds `l_y - l_c - [c < y] + 2^(w-1)`; `w` is chosen so that this is in
    /// `[0, 2^w)` for every model whose weights and biases are in range, whatever the witness.
    pub fn slot_width(&self) -> u32 {
        let last = self.num_layers() - 1;
        let a_max = self.input_max(last);
        let dw_max = (1u128 << self.weight_bits) - 1;
        let db_max = (1u128 << self.bias_bits) - 1;
        let bound = self.widths[last] as u128 * a_max * dw_max + db_max + 1;
        (128 - bound.leading_zeros()) + 1
    }

    /// How many comparison slots fit in one packed word.
    pub fn slots_per_word(&self) -> usize {
        (MAX_PACKED_BITS / self.slot_width()) as usize
    }
}

/// The task's public test set: `n` samples of `dim` integer inputs with their labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSet {
    pub dim: usize,
    pub inputs: Vec<u8>,
    pub labels: Vec<u8>,
}

impl TestSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn sample(&self, s: usize) -> &[u8] {
        &self.inputs[s * self.dim..(s + 1) * self.dim]
    }

    pub fn validate(&self, spec: &ModelSpec) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidTestSet(msg));
        if self.is_empty() {
            return bad("the test set is empty".into());
        }
        if self.dim != spec.input_dim() {
            return bad(format!(
                "samples have {} inputs, the model {}",
                self.dim,
                spec.input_dim()
            ));
        }
        if self.inputs.len() != self.len() * self.dim {
            return bad(format!(
                "{} input values for {} samples of {}",
                self.inputs.len(),
                self.len(),
                self.dim
            ));
        }
        let limit = 1u32 << spec.input_bits;
        if let Some(v) = self.inputs.iter().find(|&&v| u32::from(v) >= limit) {
            return bad(format!(
                "input value {v} needs more than {} bits",
                spec.input_bits
            ));
        }
        if let Some(y) = self
            .labels
            .iter()
            .find(|&&y| usize::from(y) >= spec.num_classes())
        {
            return bad(format!(
                "label {y} is not one of {} classes",
                spec.num_classes()
            ));
        }
        Ok(())
    }
}

/// A quantised model: per layer an `in x out` row-major weight matrix and `out` biases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantizedModel {
    pub weights: Vec<Vec<i64>>,
    pub biases: Vec<Vec<i64>>,
}

impl QuantizedModel {
    pub fn validate(&self, spec: &ModelSpec) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidModel(msg));
        let layers = spec.num_layers();
        if self.weights.len() != layers || self.biases.len() != layers {
            return bad(format!(
                "expected {layers} layers, got {} weight and {} bias tensors",
                self.weights.len(),
                self.biases.len()
            ));
        }
        for l in 0..layers {
            if self.weights[l].len() != spec.weight_count(l) {
                return bad(format!(
                    "layer {l} has {} weights, expected {}",
                    self.weights[l].len(),
                    spec.weight_count(l)
                ));
            }
            if self.biases[l].len() != spec.widths[l + 1] {
                return bad(format!(
                    "layer {l} has {} biases, expected {}",
                    self.biases[l].len(),
                    spec.widths[l + 1]
                ));
            }
            check_range(&self.weights[l], spec.weight_bits, "weight", l)?;
            check_range(&self.biases[l], spec.bias_bits, "bias", l)?;
        }
        Ok(())
    }

    /// Parameters in canonical order (layer by layer: weights row-major, then biases),
    /// each with its signed bit width.
    pub fn canonical(&self, spec: &ModelSpec) -> impl Iterator<Item = (i64, u32)> + '_ {
        let (wb, bb) = (spec.weight_bits, spec.bias_bits);
        self.weights
            .iter()
            .zip(&self.biases)
            .flat_map(move |(w, b)| {
                w.iter()
                    .map(move |&v| (v, wb))
                    .chain(b.iter().map(move |&v| (v, bb)))
            })
    }
}

fn check_range(values: &[i64], bits: u32, what: &str, layer: usize) -> Result<()> {
    let half = 1i64 << (bits - 1);
    match values.iter().find(|&&v| v < -half || v >= half) {
        Some(v) => Err(Error::InvalidModel(format!(
            "{what} {v} of layer {layer} is outside [-{half}, {half})"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn mnist_spec() -> ModelSpec {
        ModelSpec {
            widths: vec![784, 32, 10],
            shifts: vec![10],
            input_bits: 8,
            weight_bits: 8,
            bias_bits: 20,
            act_bits: 8,
        }
    }

    #[test]
    fn slot_width_covers_worst_case_logit_gap() {
        let spec = mnist_spec();
        // 32 * 255 * 255 + 2^20 - 1 + 1 = 3_129_376 < 2^22, so slots are 23 bits wide.
        assert_eq!(spec.slot_width(), 23);
        assert_eq!(spec.slots_per_word(), 10);
        spec.validate().unwrap();
    }

    #[test]
    fn rejects_inconsistent_specs() {
        let mut spec = mnist_spec();
        spec.shifts = vec![];
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec(_))));
        let mut spec = mnist_spec();
        spec.input_bits = 9;
        assert!(spec.validate().is_err());
    }

    #[test]
    fn rejects_specs_whose_inference_overflows_i64() {
        // shift + act_bits = 64: the overflow window 2^64 does not fit an i64.
        let spec = ModelSpec {
            shifts: vec![48],
            act_bits: 16,
            ..mnist_spec()
        };
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec(_))));
        // The largest window below the bound is accepted.
        let spec = ModelSpec {
            shifts: vec![45],
            act_bits: 16,
            ..mnist_spec()
        };
        spec.validate().unwrap();
        // The window 2^(k + act_bits) must stay below 2^62.
        for (act_bits, ok) in [(13, true), (14, false)] {
            let spec = ModelSpec {
                shifts: vec![48],
                act_bits,
                ..mnist_spec()
            };
            assert_eq!(spec.validate().is_ok(), ok, "act_bits {act_bits}");
        }
        let spec = ModelSpec {
            widths: vec![2; MAX_WIDTHS + 1],
            shifts: vec![0; MAX_WIDTHS - 1],
            ..mnist_spec()
        };
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec(_))));
    }

    #[test]
    fn rejects_out_of_range_parameters() {
        let spec = ModelSpec {
            widths: vec![2, 2],
            shifts: vec![],
            ..mnist_spec()
        };
        let ok = QuantizedModel {
            weights: vec![vec![-128, 127, 0, 1]],
            biases: vec![vec![0, 0]],
        };
        ok.validate(&spec).unwrap();
        let bad = QuantizedModel {
            weights: vec![vec![128, 0, 0, 0]],
            biases: vec![vec![0, 0]],
        };
        assert!(matches!(bad.validate(&spec), Err(Error::InvalidModel(_))));
        let short = QuantizedModel {
            weights: vec![vec![0; 3]],
            biases: vec![vec![0, 0]],
        };
        assert!(short.validate(&spec).is_err());
    }
}
