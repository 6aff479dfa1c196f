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

/// The message a panic was raised with (what `catch_unwind` hands back).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn a_panic_keeps_its_message() {
        let payload = std::panic::catch_unwind(|| panic!("index {} out of range", 7)).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "index 7 out of range");
        let payload = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "static");
        let payload = std::panic::catch_unwind(|| std::panic::panic_any(3u8)).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "unknown panic");
    }
}
