//! The `zkpot._prover` extension module: a thin PyO3 layer over the prover.
//!
//! Field elements cross the boundary as 32 big-endian bytes; every error is a Python
//! exception (`ProverError`, or `ActivationOverflowError` for an unprovable model),
//! never a panic: every function and method runs inside [`guarded`], which turns a Rust
//! panic into a `ProverError`. Long computations release the GIL.

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::PreparedVerifyingKey;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};
use rand::rngs::OsRng;

use crate::aggregation::{self, Shape};
use crate::circuit::Statement;
use crate::encoding::{self, field_from_be, field_to_be};
use crate::error::{panic_message, Error};
use crate::spec::{ModelSpec, QuantizedModel, TestSet};
use crate::{commitment, data, evm, groth16, inference, training};

create_exception!(_prover, ProverError, PyValueError);
create_exception!(_prover, ActivationOverflowError, ProverError);

fn err(e: Error) -> PyErr {
    match e {
        Error::ActivationOverflow { .. } => ActivationOverflowError::new_err(e.to_string()),
        _ => ProverError::new_err(e.to_string()),
    }
}

/// Runs `f`, turning a Rust panic into a `ProverError` (an `Exception`), so that no panic
/// crosses into Python as pyo3's `PanicException` (a `BaseException`).
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(ProverError::new_err(format!(
            "internal error: {}",
            panic_message(payload.as_ref())
        )))
    })
}

fn spec_of(obj: &Bound<'_, PyAny>) -> PyResult<ModelSpec> {
    let spec = ModelSpec {
        widths: obj.getattr("widths")?.extract()?,
        shifts: obj.getattr("shifts")?.extract()?,
        input_bits: obj.getattr("input_bits")?.extract()?,
        weight_bits: obj.getattr("weight_bits")?.extract()?,
        bias_bits: obj.getattr("bias_bits")?.extract()?,
        act_bits: obj.getattr("act_bits")?.extract()?,
    };
    spec.validate().map_err(err)?;
    Ok(spec)
}

fn field(bytes: &[u8]) -> PyResult<Fr> {
    field_from_be(bytes).map_err(err)
}

/// EVM words as Python ints.
fn words(py: Python<'_>, ws: Vec<evm::Word>) -> PyResult<Vec<PyObject>> {
    let int = py.get_type::<PyInt>();
    ws.iter()
        .map(|w| {
            Ok(int
                .call_method1("from_bytes", (PyBytes::new(py, w), "big"))?
                .unbind())
        })
        .collect()
}

/// A task's proving key (with its circuit's matrices).
#[pyclass(frozen, module = "zkpot._prover")]
pub struct ProvingKey(Arc<groth16::ProverKey>);

#[pymethods]
impl ProvingKey {
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guarded(|| {
            let key = self.0.clone();
            let bytes = py.allow_threads(move || encoding::pk_to_bytes(&key));
            Ok(PyBytes::new(py, &bytes))
        })
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        guarded(|| {
            let key = py
                .allow_threads(|| encoding::pk_from_bytes(data))
                .map_err(err)?;
            Ok(Self(Arc::new(key)))
        })
    }

    /// Reads a key file written by `save` (or `to_bytes`).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        guarded(|| {
            let key = py.allow_threads(|| encoding::pk_load(&path)).map_err(err)?;
            Ok(Self(Arc::new(key)))
        })
    }

    /// Writes the key to `path` atomically: a temporary file beside it, then a rename.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        guarded(|| {
            let key = self.0.clone();
            py.allow_threads(move || encoding::pk_save(&key, &path))
                .map_err(err)
        })
    }

    #[getter]
    fn num_constraints(&self) -> PyResult<usize> {
        guarded(|| Ok(self.0.matrices.num_constraints))
    }

    #[getter]
    fn num_variables(&self) -> PyResult<usize> {
        guarded(|| Ok(self.0.matrices.num_variables()))
    }

    /// Points in the evaluation domain: the constraint count plus the public inputs,
    /// rounded up to a power of two.
    #[getter]
    fn domain_size(&self) -> PyResult<usize> {
        guarded(|| Ok(self.0.pk.h_query.len() + 1))
    }

    /// Seconds of one G1 MSM with random full-size scalars over this key's H query (the
    /// evaluation domain): the floor of any Groth16 prover for this circuit.
    fn floor_msm_seconds(&self, py: Python<'_>) -> PyResult<f64> {
        guarded(|| {
            let key = self.0.clone();
            Ok(py.allow_threads(move || groth16::prover::floor_msm(&key.pk.h_query, &mut OsRng)))
        })
    }

    fn verifying_key(&self) -> PyResult<VerifyingKey> {
        guarded(|| Ok(VerifyingKey::new(self.0.pk.vk.clone())))
    }
}

/// A task's aggregation proving key (with its circuit's matrices).
#[pyclass(frozen, module = "zkpot._prover")]
pub struct AggregationKey(Arc<groth16::AggregationKey>);

#[pymethods]
impl AggregationKey {
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guarded(|| {
            let key = self.0.clone();
            let bytes = py.allow_threads(move || encoding::aggregation_key_to_bytes(&key));
            Ok(PyBytes::new(py, &bytes))
        })
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        guarded(|| {
            let key = py
                .allow_threads(|| encoding::aggregation_key_from_bytes(data))
                .map_err(err)?;
            Ok(Self(Arc::new(key)))
        })
    }

    #[getter]
    fn num_constraints(&self) -> usize {
        self.0.matrices.num_constraints
    }

    #[getter]
    fn num_variables(&self) -> usize {
        self.0.matrices.num_variables()
    }

    #[getter]
    fn domain_size(&self) -> usize {
        self.0.pk.h_query.len() + 1
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.0.shape.capacity
    }

    #[getter]
    fn frac_bits(&self) -> u32 {
        self.0.shape.frac_bits
    }

    fn floor_msm_seconds(&self, py: Python<'_>) -> f64 {
        let key = self.0.clone();
        py.allow_threads(move || groth16::prover::floor_msm(&key.pk.h_query, &mut OsRng))
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::new(self.0.pk.vk.clone())
    }
}

/// A task's verifying key.
#[pyclass(frozen, module = "zkpot._prover")]
pub struct VerifyingKey {
    vk: ark_groth16::VerifyingKey<Bn254>,
    pvk: PreparedVerifyingKey<Bn254>,
}

impl VerifyingKey {
    fn new(vk: ark_groth16::VerifyingKey<Bn254>) -> Self {
        let pvk = groth16::prepare(&vk);
        Self { vk, pvk }
    }
}

#[pymethods]
impl VerifyingKey {
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guarded(|| Ok(PyBytes::new(py, &encoding::vk_to_bytes(&self.vk))))
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        guarded(|| encoding::vk_from_bytes(data).map(Self::new).map_err(err))
    }

    /// The 22 words of the EVM verifier's constructor.
    fn to_evm(&self, py: Python<'_>) -> PyResult<Vec<PyObject>> {
        guarded(|| words(py, evm::vk_words(&self.vk)))
    }

    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guarded(|| Ok(self.vk == other.vk))
    }
}

/// A Groth16 proof (128 bytes compressed).
#[pyclass(frozen, module = "zkpot._prover")]
pub struct Proof(ark_groth16::Proof<Bn254>);

#[pymethods]
impl Proof {
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guarded(|| Ok(PyBytes::new(py, &encoding::proof_to_bytes(&self.0))))
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        guarded(|| encoding::proof_from_bytes(data).map(Self).map_err(err))
    }

    /// The 8 words the EVM verifier takes.
    fn to_evm(&self, py: Python<'_>) -> PyResult<Vec<PyObject>> {
        guarded(|| words(py, evm::proof_words(&self.0)))
    }

    /// The proof of 8 EVM words, each 32 big-endian bytes (every point checked).
    #[staticmethod]
    fn from_evm(words: Vec<Vec<u8>>) -> PyResult<Self> {
        guarded(|| {
            let slices: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
            evm::proof_from_words(&slices).map(Self).map_err(err)
        })
    }
}

/// Circuit-specific setup for a task: spec (any object with the ModelSpec attributes),
/// test inputs (`n * dim` bytes) and labels (`n` bytes).
#[pyfunction]
fn setup(
    py: Python<'_>,
    spec: &Bound<'_, PyAny>,
    dim: usize,
    inputs: Vec<u8>,
    labels: Vec<u8>,
) -> PyResult<(ProvingKey, VerifyingKey)> {
    guarded(|| {
        let spec = spec_of(spec)?;
        let test = TestSet {
            dim,
            inputs,
            labels,
        };
        let (key, vk) = py
            .allow_threads(|| groth16::setup(&spec, &test, &mut OsRng))
            .map_err(err)?;
        Ok((ProvingKey(Arc::new(key)), VerifyingKey::new(vk)))
    })
}

/// Each step of the prover with its seconds.
type Timings = Vec<(&'static str, f64)>;

fn step_timings(t: &groth16::Timings) -> Timings {
    vec![
        ("witness_s", t.witness_s),
        ("qap_s", t.qap_s),
        ("msm_a_s", t.msm_a_s),
        ("msm_b_g1_s", t.msm_b_g1_s),
        ("msm_b_g2_s", t.msm_b_g2_s),
        ("msm_c_s", t.msm_c_s),
        ("msm_h_s", t.msm_h_s),
    ]
}

/// Proves the model's count; returns `(proof, commitment, count, timings)` where the
/// timings map each step of the prover to its seconds.
#[pyfunction]
fn prove<'py>(
    py: Python<'py>,
    pk: &ProvingKey,
    weights: Vec<Vec<i64>>,
    biases: Vec<Vec<i64>>,
    salt: &[u8],
    tag: &[u8],
) -> PyResult<(Proof, Bound<'py, PyBytes>, u64, Timings)> {
    guarded(|| {
        let model = QuantizedModel { weights, biases };
        let (salt, tag) = (field(salt)?, field(tag)?);
        let key = pk.0.clone();
        let proven = py
            .allow_threads(move || groth16::prove(&key, &model, salt, tag, &mut OsRng))
            .map_err(err)?;
        let (st, t) = (proven.statement, proven.timings);
        let timings = step_timings(&t);
        Ok((
            Proof(proven.proof),
            PyBytes::new(py, &field_to_be(&st.commitment)),
            st.count,
            timings,
        ))
    })
}

/// Checks a proof against a statement. Inputs that are not field elements never verify.
#[pyfunction]
fn verify(
    vk: &VerifyingKey,
    commitment: &[u8],
    count: u64,
    tag: &[u8],
    proof: &Proof,
) -> PyResult<bool> {
    guarded(|| {
        let (Ok(commitment), Ok(tag)) = (field_from_be(commitment), field_from_be(tag)) else {
            return Ok(false);
        };
        groth16::verify(
            &vk.pvk,
            &Statement {
                commitment,
                count,
                tag,
            },
            &proof.0,
        )
        .map_err(err)
    })
}

/// The Poseidon commitment to a quantised model.
#[pyfunction]
fn commit<'py>(
    py: Python<'py>,
    spec: &Bound<'_, PyAny>,
    weights: Vec<Vec<i64>>,
    biases: Vec<Vec<i64>>,
    salt: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    guarded(|| {
        let spec = spec_of(spec)?;
        let model = QuantizedModel { weights, biases };
        model.validate(&spec).map_err(err)?;
        let c = commitment::commit(&spec, &model, field(salt)?);
        Ok(PyBytes::new(py, &field_to_be(&c)))
    })
}

/// Weights and biases per layer, as they cross the boundary.
type Layers = (Vec<Vec<i64>>, Vec<Vec<i64>>);

fn model_of((weights, biases): Layers) -> QuantizedModel {
    QuantizedModel { weights, biases }
}

fn layers_of(m: QuantizedModel) -> Layers {
    (m.weights, m.biases)
}

/// Key generation for the aggregation circuit of `spec` with `capacity` slots.
#[pyfunction]
fn aggregation_setup(
    py: Python<'_>,
    spec: &Bound<'_, PyAny>,
    capacity: usize,
    frac_bits: u32,
) -> PyResult<(AggregationKey, VerifyingKey)> {
    guarded(|| {
        let shape = Shape {
            spec: spec_of(spec)?,
            capacity,
            frac_bits,
        };
        let (key, vk) = py
            .allow_threads(|| groth16::aggregation_setup(&shape, &mut OsRng))
            .map_err(err)?;
        Ok((AggregationKey(Arc::new(key)), VerifyingKey::new(vk)))
    })
}

/// Proves the aggregate of `models` (each with its salt and weight, in slot order; the
/// remaining slots are padded). Returns `(proof, global commitment, slot commitments,
/// global model, timings)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn aggregation_prove<'py>(
    py: Python<'py>,
    key: &AggregationKey,
    models: Vec<Layers>,
    salts: Vec<Vec<u8>>,
    weights: Vec<u64>,
    global_salt: &[u8],
) -> PyResult<(
    Proof,
    Bound<'py, PyBytes>,
    Vec<Bound<'py, PyBytes>>,
    Layers,
    Timings,
)> {
    guarded(|| {
        if models.len() != salts.len() || models.len() != weights.len() {
            return Err(ProverError::new_err(format!(
                "{} models, {} salts and {} weights",
                models.len(),
                salts.len(),
                weights.len()
            )));
        }
        for m in &models {
            if m.0.len() != key.0.shape.spec.num_layers() || m.1.len() != m.0.len() {
                return Err(ProverError::new_err(
                    "a model has the wrong number of layers",
                ));
            }
        }
        let salts = salts
            .iter()
            .map(|s| field(s))
            .collect::<PyResult<Vec<Fr>>>()?;
        let global_salt = field(global_salt)?;
        let contributions: Vec<(QuantizedModel, Fr, u64)> = models
            .into_iter()
            .map(model_of)
            .zip(salts)
            .zip(weights)
            .map(|((m, s), w)| (m, s, w))
            .collect();
        let key = key.0.clone();
        let proven = py
            .allow_threads(move || {
                groth16::aggregation_prove(&key, &contributions, global_salt, &mut OsRng)
            })
            .map_err(err)?;
        let t = proven.timings;
        let timings = step_timings(&t);
        let commitments = proven
            .statement
            .slots
            .iter()
            .map(|(c, _)| PyBytes::new(py, &field_to_be(c)))
            .collect();
        Ok((
            Proof(proven.proof),
            PyBytes::new(py, &field_to_be(&proven.statement.global)),
            commitments,
            layers_of(proven.global),
            timings,
        ))
    })
}

/// Checks an aggregation proof. Inputs that are not field elements never verify.
#[pyfunction]
fn aggregation_verify(
    vk: &VerifyingKey,
    global: &[u8],
    commitments: Vec<Vec<u8>>,
    weights: Vec<u64>,
    proof: &Proof,
) -> PyResult<bool> {
    guarded(|| {
        if commitments.len() != weights.len() {
            return Ok(false);
        }
        let Ok(global) = field_from_be(global) else {
            return Ok(false);
        };
        let mut slots = Vec::with_capacity(commitments.len());
        for (c, w) in commitments.iter().zip(weights) {
            let Ok(c) = field_from_be(c) else {
                return Ok(false);
            };
            slots.push((c, w));
        }
        if slots.len() + 1 + slots.len() + 1 != vk.pvk.vk.gamma_abc_g1.len() {
            return Ok(false);
        }
        groth16::aggregation_verify(&vk.pvk, &aggregation::Statement { global, slots }, &proof.0)
            .map_err(err)
    })
}

/// The fixed-point weights of sample counts (see `aggregation::weights`).
#[pyfunction]
fn aggregation_weights(counts: Vec<u64>, frac_bits: u32) -> PyResult<Vec<u64>> {
    guarded(|| {
        if !(1..=aggregation::MAX_FRAC_BITS).contains(&frac_bits) {
            return Err(ProverError::new_err(format!(
                "frac_bits must be in 1..={}, got {frac_bits}",
                aggregation::MAX_FRAC_BITS
            )));
        }
        aggregation::weights(&counts, frac_bits).map_err(err)
    })
}

/// The native rounded weighted average that the aggregation circuit checks.
#[pyfunction]
fn aggregate(
    spec: &Bound<'_, PyAny>,
    models: Vec<Layers>,
    weights: Vec<u64>,
    frac_bits: u32,
) -> PyResult<Layers> {
    guarded(|| {
        let shape = Shape {
            spec: spec_of(spec)?,
            capacity: models.len().max(1),
            frac_bits,
        };
        let models: Vec<QuantizedModel> = models.into_iter().map(model_of).collect();
        for m in &models {
            if m.weights.len() != shape.spec.num_layers() || m.biases.len() != m.weights.len() {
                return Err(ProverError::new_err(
                    "a model has the wrong number of layers",
                ));
            }
        }
        aggregation::aggregate(&shape, &models, &weights)
            .map(layers_of)
            .map_err(err)
    })
}

/// The commitment of an empty aggregation slot.
#[pyfunction]
fn padding_commitment<'py>(
    py: Python<'py>,
    spec: &Bound<'_, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    guarded(|| {
        let c = aggregation::padding_commitment(&spec_of(spec)?);
        Ok(PyBytes::new(py, &field_to_be(&c)))
    })
}

/// The circuit's own integer inference: per-sample logits and match bits.
#[pyfunction]
fn infer(
    spec: &Bound<'_, PyAny>,
    dim: usize,
    inputs: Vec<u8>,
    labels: Vec<u8>,
    weights: Vec<Vec<i64>>,
    biases: Vec<Vec<i64>>,
) -> PyResult<(Vec<i64>, Vec<bool>)> {
    guarded(|| {
        let spec = spec_of(spec)?;
        let test = TestSet {
            dim,
            inputs,
            labels,
        };
        let trace =
            inference::infer(&spec, &test, &QuantizedModel { weights, biases }).map_err(err)?;
        Ok((trace.logits, trace.correct))
    })
}

/// The training rule from a `TrainingRule` (duck-typed: its attributes).
fn rule_of(obj: &Bound<'_, PyAny>) -> PyResult<training::Rule> {
    let loss: String = obj.getattr("loss")?.extract()?;
    let rule = training::Rule {
        frac_bits: obj.getattr("frac_bits")?.extract()?,
        input_bits: obj.getattr("input_bits")?.extract()?,
        lr_shift: obj.getattr("lr_shift")?.extract()?,
        batch_shift: obj.getattr("batch_shift")?.extract()?,
        momentum_shift: obj.getattr("momentum_shift")?.extract()?,
        act_bits: obj.getattr("act_bits")?.extract()?,
        grad_bits: obj.getattr("grad_bits")?.extract()?,
        weight_bits: obj.getattr("weight_bits")?.extract()?,
        loss: match loss.as_str() {
            "softmax" => training::Loss::Softmax,
            "squared" => training::Loss::Squared,
            other => return Err(ProverError::new_err(format!("unknown loss {other:?}"))),
        },
        exp_shift: obj.getattr("exp_shift")?.extract()?,
    };
    rule.validate().map_err(err)?;
    Ok(rule)
}

fn training_shape(
    rule: &Bound<'_, PyAny>,
    widths: Vec<usize>,
    steps: usize,
    depth: u32,
) -> PyResult<training::Shape> {
    let shape = training::Shape {
        widths,
        rule: rule_of(rule)?,
        steps,
        depth,
    };
    shape.validate().map_err(err)?;
    Ok(shape)
}

/// `(params, velocity)` of a checkpoint, each a list of flat tensors.
type Tensors = (Vec<Vec<i64>>, Vec<Vec<i64>>);

fn batches_of(inputs: Vec<Vec<u8>>, labels: Vec<Vec<u8>>) -> PyResult<Vec<training::Batch>> {
    if inputs.len() != labels.len() {
        return Err(ProverError::new_err(format!(
            "{} input batches and {} label batches",
            inputs.len(),
            labels.len()
        )));
    }
    Ok(inputs
        .into_iter()
        .zip(labels)
        .map(|(inputs, labels)| training::Batch { inputs, labels })
        .collect())
}

/// The circuit's own arithmetic of `steps` SGD steps: the checkpoint after the batches.
#[pyfunction]
fn training_run(
    py: Python<'_>,
    rule: &Bound<'_, PyAny>,
    widths: Vec<usize>,
    start: Tensors,
    inputs: Vec<Vec<u8>>,
    labels: Vec<Vec<u8>>,
) -> PyResult<Tensors> {
    guarded(|| {
        let shape = training_shape(rule, widths, inputs.len().max(1), 1)?;
        let batches = batches_of(inputs, labels)?;
        let start = training::Checkpoint {
            params: start.0,
            velocity: start.1,
        };
        let end = py
            .allow_threads(|| training::train(&shape, &start, &batches))
            .map_err(err)?;
        Ok((end.params, end.velocity))
    })
}

/// A checkpoint's commitment.
#[pyfunction]
fn training_commit<'py>(
    py: Python<'py>,
    rule: &Bound<'_, PyAny>,
    widths: Vec<usize>,
    checkpoint: Tensors,
    salt: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    guarded(|| {
        let shape = training_shape(rule, widths, 1, 1)?;
        let c = training::commit(
            &shape,
            &training::Checkpoint {
                params: checkpoint.0,
                velocity: checkpoint.1,
            },
            field(salt)?,
        )
        .map_err(err)?;
        Ok(PyBytes::new(py, &field_to_be(&c)))
    })
}

/// A task's training proving key (with its circuit's matrices).
#[pyclass(frozen, module = "zkpot._prover")]
pub struct TrainingKey(Arc<groth16::TrainingKey>);

#[pymethods]
impl TrainingKey {
    #[getter]
    fn num_constraints(&self) -> usize {
        self.0.matrices.num_constraints
    }

    #[getter]
    fn num_variables(&self) -> usize {
        self.0.matrices.num_variables()
    }

    #[getter]
    fn domain_size(&self) -> usize {
        self.0.pk.h_query.len() + 1
    }

    #[getter]
    fn steps(&self) -> usize {
        self.0.shape.steps
    }

    fn floor_msm_seconds(&self, py: Python<'_>) -> f64 {
        let key = self.0.clone();
        py.allow_threads(move || groth16::prover::floor_msm(&key.pk.h_query, &mut OsRng))
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::new(self.0.pk.vk.clone())
    }
}

#[pyfunction]
fn training_setup(
    py: Python<'_>,
    rule: &Bound<'_, PyAny>,
    widths: Vec<usize>,
    steps: usize,
    depth: u32,
) -> PyResult<(TrainingKey, VerifyingKey)> {
    guarded(|| {
        let shape = training_shape(rule, widths, steps, depth)?;
        let (key, vk) = py
            .allow_threads(|| groth16::training_setup(&shape, &mut OsRng))
            .map_err(err)?;
        Ok((TrainingKey(Arc::new(key)), VerifyingKey::new(vk)))
    })
}

/// The number of constraints of a segment, without a setup.
#[pyfunction]
fn training_constraints(
    py: Python<'_>,
    rule: &Bound<'_, PyAny>,
    widths: Vec<usize>,
    steps: usize,
    depth: u32,
) -> PyResult<(usize, usize)> {
    guarded(|| {
        let shape = training_shape(rule, widths, steps, depth)?;
        let m = py
            .allow_threads(|| groth16::training_matrices(&shape))
            .map_err(err)?;
        Ok((m.num_constraints, m.num_variables()))
    })
}

/// A participant's dataset and its Poseidon Merkle tree.
#[pyclass(frozen, module = "zkpot._prover")]
pub struct DataTree(Arc<data::DataTree>);

#[pymethods]
impl DataTree {
    #[new]
    fn new(
        py: Python<'_>,
        inputs: Vec<u8>,
        labels: Vec<u8>,
        dim: usize,
        classes: usize,
        input_bits: u32,
        depth: u32,
    ) -> PyResult<Self> {
        guarded(|| {
            let tree = py
                .allow_threads(|| {
                    data::DataTree::new(inputs, labels, dim, classes, input_bits, depth)
                })
                .map_err(err)?;
            Ok(Self(Arc::new(tree)))
        })
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    #[getter]
    fn depth(&self) -> u32 {
        self.0.depth
    }

    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &field_to_be(&self.0.root()))
    }

    /// `C_D = Poseidon(root, n, salt)`.
    fn commitment<'py>(&self, py: Python<'py>, salt: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        guarded(|| {
            let c = data::commitment(self.0.root(), self.0.len() as u64, field(salt)?);
            Ok(PyBytes::new(py, &field_to_be(&c)))
        })
    }
}

/// A training statement as Python sees it: `(C_start, C_end, C_D, n, a, a0, tag)`.
type TrainingStatement<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    u64,
    u64,
    u64,
    Bound<'py, PyBytes>,
);

/// Proves one segment: `start` trained on the samples that the schedule `(a, b)` picks
/// from `data`, from step `first_step` on. Returns `(proof, statement, end checkpoint,
/// timings)`.
#[pyfunction]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn training_prove<'py>(
    py: Python<'py>,
    key: &TrainingKey,
    start: Tensors,
    data: &DataTree,
    schedule: (u64, u64, u64),
    salts: (Vec<u8>, Vec<u8>, Vec<u8>),
    tag: &[u8],
) -> PyResult<(Proof, TrainingStatement<'py>, Tensors, Timings)> {
    guarded(|| {
        let start = training::Checkpoint {
            params: start.0,
            velocity: start.1,
        };
        let schedule = training::Schedule {
            a: schedule.0,
            b: schedule.1,
            first_step: schedule.2,
        };
        let salts = training::Salts {
            start: field(&salts.0)?,
            end: field(&salts.1)?,
            data: field(&salts.2)?,
        };
        let tag = field(tag)?;
        let (key, tree) = (key.0.clone(), data.0.clone());
        let proven = py
            .allow_threads(move || {
                groth16::training_prove(&key, &start, &tree, &schedule, &salts, tag, &mut OsRng)
            })
            .map_err(err)?;
        let st = &proven.statement;
        let bytes = |x: &Fr| PyBytes::new(py, &field_to_be(x));
        Ok((
            Proof(proven.proof),
            (
                bytes(&st.start),
                bytes(&st.end),
                bytes(&st.data),
                st.n,
                st.a,
                st.a0,
                bytes(&st.tag),
            ),
            (proven.end.params, proven.end.velocity),
            step_timings(&proven.timings),
        ))
    })
}

/// Checks a training proof for `(C_start, C_end, C_D, n, a, a0, tag)`. Inputs that are not
/// field elements never verify.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn training_verify(
    vk: &VerifyingKey,
    start: &[u8],
    end: &[u8],
    data: &[u8],
    n: u64,
    a: u64,
    a0: u64,
    tag: &[u8],
    proof: &Proof,
) -> PyResult<bool> {
    guarded(|| {
        let fields = [start, end, data, tag].map(field_from_be);
        let [Ok(start), Ok(end), Ok(data), Ok(tag)] = fields else {
            return Ok(false);
        };
        if vk.pvk.vk.gamma_abc_g1.len() != 1 + training::PUBLIC_INPUTS {
            return Ok(false);
        }
        let statement = training::Statement {
            start,
            end,
            data,
            n,
            a,
            a0,
            tag,
        };
        groth16::training_verify(&vk.pvk, &statement, &proof.0).map_err(err)
    })
}

#[pymodule]
#[pyo3(name = "_prover")]
fn prover_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ProvingKey>()?;
    m.add_class::<VerifyingKey>()?;
    m.add_class::<Proof>()?;
    m.add_function(wrap_pyfunction!(setup, m)?)?;
    m.add_function(wrap_pyfunction!(prove, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(commit, m)?)?;
    m.add_function(wrap_pyfunction!(infer, m)?)?;
    m.add_class::<AggregationKey>()?;
    m.add_function(wrap_pyfunction!(aggregation_setup, m)?)?;
    m.add_function(wrap_pyfunction!(aggregation_prove, m)?)?;
    m.add_function(wrap_pyfunction!(aggregation_verify, m)?)?;
    m.add_function(wrap_pyfunction!(aggregation_weights, m)?)?;
    m.add_function(wrap_pyfunction!(aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(padding_commitment, m)?)?;
    m.add_class::<TrainingKey>()?;
    m.add_class::<DataTree>()?;
    m.add_function(wrap_pyfunction!(training_run, m)?)?;
    m.add_function(wrap_pyfunction!(training_commit, m)?)?;
    m.add_function(wrap_pyfunction!(training_setup, m)?)?;
    m.add_function(wrap_pyfunction!(training_constraints, m)?)?;
    m.add_function(wrap_pyfunction!(training_prove, m)?)?;
    m.add_function(wrap_pyfunction!(training_verify, m)?)?;
    m.add("ProverError", m.py().get_type::<ProverError>())?;
    m.add(
        "ActivationOverflowError",
        m.py().get_type::<ActivationOverflowError>(),
    )?;
    Ok(())
}
