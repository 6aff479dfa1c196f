//! ZKPoT prover: Groth16 (BN254) proofs that a committed, quantised MLP classifies a
//! stated number of a task's public test samples correctly, that a committed global
//! model is the weighted average of committed models, and that a committed checkpoint
//! comes from another by SGD steps of the training rule on committed data.
//!
//! - [`spec`]: the task's model spec, test set and quantised models;
//! - [`inference`]: the exact integer inference the circuit proves;
//! - [`commitment`]: the hiding Poseidon commitment to a model;
//! - [`gadgets`] and [`circuit`]: the R1CS accuracy statement;
//! - [`aggregation`]: the statement that a global model is the weighted average of others;
//! - [`training`] and [`data`]: the statement that a checkpoint comes from another by SGD
//!   steps of the integer training rule on committed data;
//! - [`r1cs`]: the circuit's constraint matrices, compactly;
//! - [`groth16`]: setup, prove (timed step by step), verify; [`encoding`] and [`evm`]:
//!   bytes and EVM words.

pub mod aggregation;
pub mod circuit;
pub mod commitment;
pub mod data;
pub mod encoding;
pub mod error;
pub mod evm;
pub mod gadgets;
pub mod groth16;
pub mod inference;
pub mod r1cs;
pub mod spec;
pub mod training;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
