//! The exact integer inference the circuit proves, computed natively.
//!
//! Hidden layer `l`: `z = a·W + b`, `u = z + 2^(k-1)` (round half up, `k = shifts[l]`),
//! required `-2^(k+act_bits) <= u < 2^(k+act_bits)`, then `a' = max(0, floor(u / 2^k))`.
//! Output layer: `logits = a·W + b`; the prediction is the lowest index of a maximal logit.

use crate::error::{Error, Result};
use crate::spec::{ModelSpec, QuantizedModel, TestSet};

/// Everything the circuit's witness is made of, besides the model and salt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Per hidden layer, `n x width`: the decomposed value `t = u + 2^(k+act_bits)`.
    pub shifted: Vec<Vec<i64>>,
    /// Per hidden layer, `n x width`: the activations.
    pub activations: Vec<Vec<i64>>,
    /// `n x classes` output logits.
    pub logits: Vec<i64>,
    /// Per sample, one comparison slot per class other than the label:
    /// `l_y - l_c - [c < y] + 2^(w-1)`, non-negative below `2^(w-1)` exactly when `c` wins.
    pub slots: Vec<Vec<i64>>,
    /// Per sample: is the prediction the label?
    pub correct: Vec<bool>,
}

impl Trace {
    pub fn count(&self) -> u64 {
        self.correct.iter().filter(|&&c| c).count() as u64
    }
}

/// Runs the integer inference over the whole test set.
pub fn infer(spec: &ModelSpec, test: &TestSet, model: &QuantizedModel) -> Result<Trace> {
    spec.validate()?;
    test.validate(spec)?;
    model.validate(spec)?;
    let n = test.len();
    let mut acts: Vec<i64> = test.inputs.iter().map(|&v| i64::from(v)).collect();
    let mut shifted = Vec::with_capacity(spec.num_hidden());
    let mut activations = Vec::with_capacity(spec.num_hidden());
    for l in 0..spec.num_hidden() {
        let z = affine(spec, l, model, &acts, n);
        let (t, a) = requantise(spec, l, &z)?;
        shifted.push(t);
        activations.push(a.clone());
        acts = a;
    }
    let logits = affine(spec, spec.num_layers() - 1, model, &acts, n);
    let classes = spec.num_classes();
    let half = 1i64 << (spec.slot_width() - 1);
    let mut slots = Vec::with_capacity(n);
    let mut correct = Vec::with_capacity(n);
    for s in 0..n {
        let row = &logits[s * classes..(s + 1) * classes];
        let y = usize::from(test.labels[s]);
        let sample_slots: Vec<i64> = (0..classes)
            .filter(|&c| c != y)
            .map(|c| row[y] - row[c] - i64::from(c < y) + half)
            .collect();
        correct.push(sample_slots.iter().all(|&v| v >= half));
        slots.push(sample_slots);
    }
    Ok(Trace {
        shifted,
        activations,
        logits,
        slots,
        correct,
    })
}

/// `z = a·W_l + b_l` for all samples; `a` is `n x widths[l]`.
fn affine(spec: &ModelSpec, l: usize, model: &QuantizedModel, a: &[i64], n: usize) -> Vec<i64> {
    let (din, dout) = (spec.widths[l], spec.widths[l + 1]);
    let (w, b) = (&model.weights[l], &model.biases[l]);
    let mut z = Vec::with_capacity(n * dout);
    for s in 0..n {
        let row = &a[s * din..(s + 1) * din];
        let mut acc = b.clone();
        for (i, &x) in row.iter().enumerate() {
            if x != 0 {
                for (acc_j, &w_ij) in acc.iter_mut().zip(&w[i * dout..(i + 1) * dout]) {
                    *acc_j += x * w_ij;
                }
            }
        }
        z.extend(acc);
    }
    z
}

/// Round-half-up shift and ReLU of a hidden accumulator; returns `(t, activation)`.
fn requantise(spec: &ModelSpec, l: usize, z: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
    let k = spec.shifts[l];
    let round = if k >= 1 { 1i64 << (k - 1) } else { 0 };
    let range = 1i64 << (k + spec.act_bits);
    let width = spec.widths[l + 1];
    let mut t = Vec::with_capacity(z.len());
    let mut a = Vec::with_capacity(z.len());
    for (idx, &zj) in z.iter().enumerate() {
        let u = zj + round;
        if u < -range || u >= range {
            return Err(Error::ActivationOverflow {
                layer: l,
                sample: idx / width,
                neuron: idx % width,
            });
        }
        t.push(u + range);
        a.push((u >> k).max(0));
    }
    Ok((t, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (ModelSpec, TestSet, QuantizedModel) {
        let spec = ModelSpec {
            widths: vec![2, 2, 3],
            shifts: vec![1],
            input_bits: 8,
            weight_bits: 8,
            bias_bits: 8,
            act_bits: 4,
        };
        let test = TestSet {
            dim: 2,
            inputs: vec![3, 1, 0, 2],
            labels: vec![0, 2],
        };
        let model = QuantizedModel {
            // x·W: sample 0 -> [3*1 + 1*2, 3*-1 + 1*1] = [5, -2]
            weights: vec![vec![1, -1, 2, 1], vec![1, 0, 0, 0, 1, 1]],
            biases: vec![vec![0, 0], vec![0, 0, 0]],
        };
        (spec, test, model)
    }

    #[test]
    fn rounds_half_up_and_clamps_negatives() {
        let (spec, test, model) = tiny();
        let trace = infer(&spec, &test, &model).unwrap();
        // Sample 0: z = [5, -2] -> u = [6, -1] -> [3, 0]; sample 1: z = [4, 2] -> [2, 1].
        assert_eq!(trace.activations[0], vec![3, 0, 2, 1]);
        assert_eq!(trace.shifted[0], vec![6 + 32, -1 + 32, 5 + 32, 3 + 32]);
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        let (spec, test, model) = tiny();
        let trace = infer(&spec, &test, &model).unwrap();
        // Sample 0 logits [3, 0, 0]: label 0 wins. Sample 1 logits [2, 1, 1]: predicts 0, not 2.
        assert_eq!(trace.logits, vec![3, 0, 0, 2, 1, 1]);
        assert_eq!(trace.correct, vec![true, false]);
        let mut tie = test.clone();
        tie.labels = vec![0, 1];
        let t2 = infer(
            &spec,
            &tie,
            &QuantizedModel {
                weights: vec![vec![1, -1, 2, 1], vec![1, 1, 0, 0, 0, 0]],
                biases: vec![vec![0, 0], vec![0, 0, 0]],
            },
        )
        .unwrap();
        // Logits [3, 3, 0] and [2, 2, 0]: the tie goes to class 0, so label 1 is wrong.
        assert_eq!(t2.correct, vec![true, false]);
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let (spec, test, mut model) = tiny();
        model.weights[0][0] = 127;
        let err = infer(&spec, &test, &model).unwrap_err();
        assert!(matches!(
            err,
            Error::ActivationOverflow {
                layer: 0,
                sample: 0,
                neuron: 0
            }
        ));
    }
}
