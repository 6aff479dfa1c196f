//! Setup, prove and verify: Groth16 over BN254 for the accuracy circuit.
//!
//! The constraint matrices depend only on the task, so the prover keeps them beside the
//! proving key and each proof only computes the witness assignment.

use ark_bn254::{Bn254, Fr};
use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::{
    prepare_verifying_key, Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey,
};
use ark_relations::r1cs::{
    ConstraintMatrices, ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode,
};
use ark_std::UniformRand;
use rand::{CryptoRng, RngCore};

use crate::circuit::{AccuracyCircuit, Statement, Witness};
use crate::commitment::commit;
use crate::error::{Error, Result};
use crate::inference::infer;
use crate::spec::{ModelSpec, QuantizedModel, TestSet};

/// Everything a participant needs to prove for one task.
pub struct ProverKey {
    pub spec: ModelSpec,
    pub test: TestSet,
    pub pk: ProvingKey<Bn254>,
    pub matrices: ConstraintMatrices<Fr>,
}

/// A proof together with the statement it proves.
#[derive(Clone, Debug)]
pub struct Proven {
    pub proof: Proof<Bn254>,
    pub statement: Statement,
}

fn synthesize(circuit: AccuracyCircuit, mode: SynthesisMode) -> Result<ConstraintSystem<Fr>> {
    let cs = ark_relations::r1cs::ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(mode);
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();
    Ok(cs.into_inner().expect("the only reference"))
}

/// The task's R1CS matrices.
pub fn constraint_matrices(spec: &ModelSpec, test: &TestSet) -> Result<ConstraintMatrices<Fr>> {
    let cs = synthesize(AccuracyCircuit::shape(spec, test), SynthesisMode::Setup)?;
    Ok(cs.to_matrices().expect("setup mode builds matrices"))
}

/// Circuit-specific setup. Whoever runs it learns the trapdoor: see docs/proving.md.
pub fn setup<R: RngCore + CryptoRng>(
    spec: &ModelSpec,
    test: &TestSet,
    rng: &mut R,
) -> Result<(ProverKey, VerifyingKey<Bn254>)> {
    spec.validate()?;
    test.validate(spec)?;
    let pk = Groth16::<Bn254, LibsnarkReduction>::generate_random_parameters_with_reduction(
        AccuracyCircuit::shape(spec, test),
        rng,
    )?;
    let vk = pk.vk.clone();
    let matrices = constraint_matrices(spec, test)?;
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

/// Proves that `model` (committed with `salt`) gets its count right, bound to `tag`.
pub fn prove<R: RngCore + CryptoRng>(
    key: &ProverKey,
    model: &QuantizedModel,
    salt: Fr,
    tag: Fr,
    rng: &mut R,
) -> Result<Proven> {
    let (statement, witness) = witness(key, model, salt, tag)?;
    let circuit = AccuracyCircuit {
        spec: &key.spec,
        test: &key.test,
        statement: Some(&statement),
        witness: Some(&witness),
    };
    let cs = synthesize(
        circuit,
        SynthesisMode::Prove {
            construct_matrices: false,
        },
    )?;
    let assignment = [
        cs.instance_assignment.as_slice(),
        cs.witness_assignment.as_slice(),
    ]
    .concat();
    let m = &key.matrices;
    if assignment.len() != m.num_instance_variables + m.num_witness_variables {
        return Err(Error::Malformed {
            what: "proving key",
            reason: "its circuit does not match this prover".into(),
        });
    }
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let proof = Groth16::<Bn254, LibsnarkReduction>::create_proof_with_reduction_and_matrices(
        &key.pk,
        r,
        s,
        m,
        m.num_instance_variables,
        m.num_constraints,
        &assignment,
    )?;
    Ok(Proven { proof, statement })
}

pub fn prepare(vk: &VerifyingKey<Bn254>) -> PreparedVerifyingKey<Bn254> {
    prepare_verifying_key(vk)
}

pub fn verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    statement: &Statement,
    proof: &Proof<Bn254>,
) -> Result<bool> {
    Ok(Groth16::<Bn254, LibsnarkReduction>::verify_proof(
        pvk,
        proof,
        &statement.public_inputs(),
    )?)
}
