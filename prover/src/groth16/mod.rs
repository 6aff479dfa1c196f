//! Setup, prove and verify: Groth16 over BN254 for the accuracy and aggregation circuits.
//!
//! The constraint matrices depend only on the task: setup synthesises the circuit once,
//! keeps its matrices (compactly, [`crate::r1cs`]) beside the proving key, and each proof
//! only assigns the witness. [`generator`] and [`prover`] are arkworks' Groth16 (the
//! libsnark QAP reduction, arkworks' FFTs and MSMs) over those matrices; verification is
//! ark-groth16's own.

pub mod generator;
pub mod prover;

use ark_bn254::{Bn254, Fr};
use ark_ff::Zero;
use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::{
    prepare_verifying_key, Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey,
};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode,
};
use ark_std::UniformRand;
use rand::{CryptoRng, RngCore};
use std::time::Instant;

use crate::aggregation::{self, AggregationCircuit, Shape};
use crate::circuit::{AccuracyCircuit, Statement, Witness};
use crate::commitment::commit;
use crate::data::DataTree;
use crate::error::{Error, Result};
use crate::inference::infer;
use crate::r1cs::Matrices;
use crate::spec::{ModelSpec, QuantizedModel, TestSet};
use crate::training::{self, TrainingCircuit};

pub use prover::Timings;

/// Everything a participant needs to prove for one task.
pub struct ProverKey {
    pub spec: ModelSpec,
    pub test: TestSet,
    pub pk: ProvingKey<Bn254>,
    pub matrices: Matrices,
}

/// A proof together with the statement it proves, and where the prover spent its time.
#[derive(Clone, Debug)]
pub struct Proven {
    pub proof: Proof<Bn254>,
    pub statement: Statement,
    pub timings: Timings,
}

fn synthesize<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    mode: SynthesisMode,
) -> Result<ConstraintSystem<Fr>> {
    let cs = ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(mode);
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();
    Ok(cs.into_inner().expect("the only reference"))
}

/// The task's R1CS matrices.
pub fn constraint_matrices(spec: &ModelSpec, test: &TestSet) -> Result<Matrices> {
    spec.validate()?;
    test.validate(spec)?;
    let cs = synthesize(AccuracyCircuit::shape(spec, test), SynthesisMode::Setup)?;
    Matrices::from_constraint_system(&cs)
}

/// Circuit-specific setup. Whoever runs it learns the trapdoor: see docs/proving.md.
pub fn setup<R: RngCore + CryptoRng>(
    spec: &ModelSpec,
    test: &TestSet,
    rng: &mut R,
) -> Result<(ProverKey, VerifyingKey<Bn254>)> {
    let matrices = constraint_matrices(spec, test)?;
    let pk = generator::generate_random_parameters(&matrices, rng)?;
    let vk = pk.vk.clone();
    Ok((
        ProverKey {
            spec: spec.clone(),
            test: test.clone(),
            pk,
            matrices,
        },
        vk,
    ))
}

/// The honest witness of a model on the task's test set.
pub fn witness(
    key: &ProverKey,
    model: &QuantizedModel,
    salt: Fr,
    tag: Fr,
) -> Result<(Statement, Witness)> {
    let trace = infer(&key.spec, &key.test, model)?;
    let statement = Statement {
        commitment: commit(&key.spec, model, salt),
        count: trace.count(),
        tag,
    };
    Ok((
        statement,
        Witness {
            model: model.clone(),
            salt,
            trace,
        },
    ))
}

/// The full assignment `z = (1, instance…, witness…)` of the circuit for this witness.
pub fn assignment(key: &ProverKey, statement: &Statement, witness: &Witness) -> Result<Vec<Fr>> {
    let circuit = AccuracyCircuit {
        spec: &key.spec,
        test: &key.test,
        statement: Some(statement),
        witness: Some(witness),
    };
    full_assignment(circuit, &key.matrices, "proving key")
}

/// Assigns every wire of `circuit` (without building matrices) and checks that the
/// assignment fits the key's `matrices`.
fn full_assignment<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    matrices: &Matrices,
    what: &'static str,
) -> Result<Vec<Fr>> {
    let cs = synthesize(
        circuit,
        SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: false,
        },
    )?;
    let z = [cs.instance_assignment()?, cs.witness_assignment()?].concat();
    if z.len() != matrices.num_variables() || cs.num_instance_variables() != matrices.num_instance {
        return Err(Error::Malformed {
            what,
            reason: "its circuit does not match this prover".into(),
        });
    }
    Ok(z)
}

/// A Groth16 proof of the assignment `z`, with fresh `r, s`; `start` is when the witness
/// computation began, so that `witness_s` includes it.
fn prove_assignment<R: RngCore + CryptoRng>(
    pk: &ProvingKey<Bn254>,
    matrices: &Matrices,
    z: &[Fr],
    start: Instant,
    rng: &mut R,
) -> Result<(Proof<Bn254>, Timings)> {
    let witness_s = start.elapsed().as_secs_f64();
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let (proof, mut timings) = prover::create_proof(pk, matrices, r, s, z)?;
    timings.witness_s = witness_s;
    Ok((proof, timings))
}

/// Proves that `model` (committed with `salt`) gets its count right, bound to `tag`.
pub fn prove<R: RngCore + CryptoRng>(
    key: &ProverKey,
    model: &QuantizedModel,
    salt: Fr,
    tag: Fr,
    rng: &mut R,
) -> Result<Proven> {
    let start = Instant::now();
    let (statement, witness) = witness(key, model, salt, tag)?;
    let z = assignment(key, &statement, &witness)?;
    let (proof, timings) = prove_assignment(&key.pk, &key.matrices, &z, start, rng)?;
    Ok(Proven {
        proof,
        statement,
        timings,
    })
}

pub fn prepare(vk: &VerifyingKey<Bn254>) -> PreparedVerifyingKey<Bn254> {
    prepare_verifying_key(vk)
}

/// Checks a proof of any of the task's circuits against its public inputs.
fn verify_inputs(
    pvk: &PreparedVerifyingKey<Bn254>,
    inputs: &[Fr],
    proof: &Proof<Bn254>,
) -> Result<bool> {
    Ok(Groth16::<Bn254, LibsnarkReduction>::verify_proof(
        pvk, proof, inputs,
    )?)
}

pub fn verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    statement: &Statement,
    proof: &Proof<Bn254>,
) -> Result<bool> {
    verify_inputs(pvk, &statement.public_inputs(), proof)
}

/// Everything a leader needs to prove aggregates for one task.
pub struct AggregationKey {
    pub shape: Shape,
    pub pk: ProvingKey<Bn254>,
    pub matrices: Matrices,
}

/// An aggregation proof with its statement and the global model it proves.
#[derive(Clone, Debug)]
pub struct ProvenAggregate {
    pub proof: Proof<Bn254>,
    pub statement: aggregation::Statement,
    pub global: QuantizedModel,
    pub timings: Timings,
}

/// The aggregation circuit's R1CS matrices.
pub fn aggregation_matrices(shape: &Shape) -> Result<Matrices> {
    shape.validate()?;
    let circuit = AggregationCircuit {
        shape,
        statement: None,
        witness: None,
    };
    Matrices::from_constraint_system(&synthesize(circuit, SynthesisMode::Setup)?)
}

/// Circuit-specific setup of the aggregation circuit (the same trust as [`setup`]).
pub fn aggregation_setup<R: RngCore + CryptoRng>(
    shape: &Shape,
    rng: &mut R,
) -> Result<(AggregationKey, VerifyingKey<Bn254>)> {
    let matrices = aggregation_matrices(shape)?;
    let pk = generator::generate_random_parameters(&matrices, rng)?;
    let vk = pk.vk.clone();
    Ok((
        AggregationKey {
            shape: shape.clone(),
            pk,
            matrices,
        },
        vk,
    ))
}

/// The statement and witness of aggregating `contributions` (model, salt, weight), in slot
/// order, with the remaining slots padded.
pub fn aggregation_witness(
    shape: &Shape,
    contributions: &[(QuantizedModel, Fr, u64)],
    global_salt: Fr,
) -> Result<(aggregation::Statement, aggregation::Witness)> {
    if contributions.is_empty() || contributions.len() > shape.capacity {
        return Err(Error::InvalidModel(format!(
            "{} contributions for {} slots",
            contributions.len(),
            shape.capacity
        )));
    }
    let padding = aggregation::padding_model(&shape.spec);
    let mut slots: Vec<(QuantizedModel, Fr, u64)> = contributions.to_vec();
    slots.resize(shape.capacity, (padding, Fr::zero(), 0));
    let models: Vec<QuantizedModel> = slots.iter().map(|s| s.0.clone()).collect();
    let weights: Vec<u64> = slots.iter().map(|s| s.2).collect();
    let global = aggregation::aggregate(shape, &models, &weights)?;
    let statement = aggregation::Statement {
        global: commit(&shape.spec, &global, global_salt),
        slots: slots
            .iter()
            .map(|(m, salt, w)| (commit(&shape.spec, m, *salt), *w))
            .collect(),
    };
    let witness = aggregation::Witness {
        models,
        salts: slots.iter().map(|s| s.1).collect(),
        global,
        global_salt,
    };
    Ok((statement, witness))
}

/// The full assignment of the aggregation circuit.
pub fn aggregation_assignment(
    key: &AggregationKey,
    statement: &aggregation::Statement,
    witness: &aggregation::Witness,
) -> Result<Vec<Fr>> {
    let circuit = AggregationCircuit {
        shape: &key.shape,
        statement: Some(statement),
        witness: Some(witness),
    };
    full_assignment(circuit, &key.matrices, "aggregation key")
}

/// Proves that the rounded weighted average of `contributions`, committed with
/// `global_salt`, is the global model; returns it with the proof.
pub fn aggregation_prove<R: RngCore + CryptoRng>(
    key: &AggregationKey,
    contributions: &[(QuantizedModel, Fr, u64)],
    global_salt: Fr,
    rng: &mut R,
) -> Result<ProvenAggregate> {
    let start = Instant::now();
    let (statement, witness) = aggregation_witness(&key.shape, contributions, global_salt)?;
    let z = aggregation_assignment(key, &statement, &witness)?;
    let (proof, timings) = prove_assignment(&key.pk, &key.matrices, &z, start, rng)?;
    Ok(ProvenAggregate {
        proof,
        statement,
        global: witness.global,
        timings,
    })
}

pub fn aggregation_verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    statement: &aggregation::Statement,
    proof: &Proof<Bn254>,
) -> Result<bool> {
    verify_inputs(pvk, &statement.public_inputs(), proof)
}

/// Everything a participant needs to prove training segments for one task.
pub struct TrainingKey {
    pub shape: training::Shape,
    pub pk: ProvingKey<Bn254>,
    pub matrices: Matrices,
}

/// A training proof with its statement and the segment's last checkpoint.
#[derive(Clone, Debug)]
pub struct ProvenTraining {
    pub proof: Proof<Bn254>,
    pub statement: training::Statement,
    pub end: training::Checkpoint,
    pub timings: Timings,
}

/// The training circuit's R1CS matrices.
pub fn training_matrices(shape: &training::Shape) -> Result<Matrices> {
    shape.validate()?;
    let circuit = TrainingCircuit {
        shape,
        statement: None,
        witness: None,
    };
    Matrices::from_constraint_system(&synthesize(circuit, SynthesisMode::Setup)?)
}

/// Circuit-specific setup of the training circuit (the same trust as [`setup`]).
pub fn training_setup<R: RngCore + CryptoRng>(
    shape: &training::Shape,
    rng: &mut R,
) -> Result<(TrainingKey, VerifyingKey<Bn254>)> {
    let matrices = training_matrices(shape)?;
    let pk = generator::generate_random_parameters(&matrices, rng)?;
    let vk = pk.vk.clone();
    Ok((
        TrainingKey {
            shape: shape.clone(),
            pk,
            matrices,
        },
        vk,
    ))
}

/// Proves one segment: `start` trained on the batches that `schedule` picks from `data`.
pub fn training_prove<R: RngCore + CryptoRng>(
    key: &TrainingKey,
    start: &training::Checkpoint,
    data: &DataTree,
    schedule: &training::Schedule,
    salts: &training::Salts,
    tag: Fr,
    rng: &mut R,
) -> Result<ProvenTraining> {
    let begin = Instant::now();
    let (statement, witness) = training::witness_of(&key.shape, start, data, schedule, salts, tag)?;
    let circuit = TrainingCircuit {
        shape: &key.shape,
        statement: Some(&statement),
        witness: Some(&witness),
    };
    let z = full_assignment(circuit, &key.matrices, "training key")?;
    let (proof, timings) = prove_assignment(&key.pk, &key.matrices, &z, begin, rng)?;
    Ok(ProvenTraining {
        proof,
        statement,
        end: witness.end,
        timings,
    })
}

pub fn training_verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    statement: &training::Statement,
    proof: &Proof<Bn254>,
) -> Result<bool> {
    verify_inputs(pvk, &statement.public_inputs(), proof)
}
