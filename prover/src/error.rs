//! One error type per kind of failure a caller can act on.

use ark_relations::gr1cs::SynthesisError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid model spec: {0}")]
    InvalidSpec(String),
    #[error("invalid test set: {0}")]
    InvalidTestSet(String),
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error(
        "activation out of range in hidden layer {layer}, sample {sample}, neuron {neuron}: \
         the model cannot be proven with this spec's shift"
    )]
    ActivationOverflow {
        layer: usize,
        sample: usize,
        neuron: usize,
    },
    #[error("invalid field element: {0}")]
    InvalidField(String),
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("constraint synthesis failed: {0}")]
    Synthesis(#[from] SynthesisError),
}

pub type Result<T> = std::result::Result<T, Error>;
