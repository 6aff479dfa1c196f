//! A committed model's wires: every weight and bias range-checked to its bit width, and the
//! Poseidon commitment over exactly those bits. The accuracy and aggregation circuits open
//! models the same way.

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError, Variable};

use super::commit::enforce_commitment;
use super::range::alloc_signed;
use crate::commitment::parameter_bits;
use crate::spec::{ModelSpec, QuantizedModel};

/// The model's wires: weights (`in x out`, row-major) and biases per layer, and the bits
/// that range-check them, in the commitment's canonical order.
pub struct Parameters {
    pub weights: Vec<Vec<Variable>>,
    pub biases: Vec<Vec<Variable>>,
    pub bits: Vec<Variable>,
}

/// Allocates every parameter of a `spec` model as a private, range-checked wire.
pub fn allocate(
    cs: &ConstraintSystemRef<Fr>,
    spec: &ModelSpec,
    model: Option<&QuantizedModel>,
) -> Result<Parameters, SynthesisError> {
    let mut params = Parameters {
        weights: vec![],
        biases: vec![],
        bits: vec![],
    };
    for l in 0..spec.num_layers() {
        let mut alloc = |values: Option<&Vec<i64>>, n: usize, bits: u32| {
            (0..n)
                .map(|i| {
                    let (v, b) = alloc_signed(cs, values.map(|vs| vs[i]), bits)?;
                    params.bits.extend(b);
                    Ok(v)
                })
                .collect::<Result<Vec<_>, SynthesisError>>()
        };
        let w = alloc(
            model.map(|m| &m.weights[l]),
            spec.weight_count(l),
            spec.weight_bits,
        )?;
        let b = alloc(
            model.map(|m| &m.biases[l]),
            spec.widths[l + 1],
            spec.bias_bits,
        )?;
        params.weights.push(w);
        params.biases.push(b);
    }
    Ok(params)
}

/// Allocates a model and enforces that it and `salt` open `commitment`.
pub fn open(
    cs: &ConstraintSystemRef<Fr>,
    spec: &ModelSpec,
    model: Option<&QuantizedModel>,
    salt: Option<Fr>,
    commitment: Variable,
    commitment_value: Option<Fr>,
) -> Result<Parameters, SynthesisError> {
    let params = allocate(cs, spec, model)?;
    let bit_values = model.map(|m| parameter_bits(spec, m));
    enforce_commitment(
        cs,
        &params.bits,
        bit_values.as_deref(),
        salt,
        commitment,
        commitment_value,
    )?;
    Ok(params)
}
