//! The training circuit: "the checkpoint committed to as `C_end` comes from the checkpoint
//! committed to as `C_start` by `steps` consecutive SGD steps of the task's integer training
//! rule" (docs/training.md; `zkpot.learning.integer_training` is the NumPy reference this
//! circuit agrees with bit for bit).
//!
//! A checkpoint is the master parameters (`F` fractional bits, clamped to
//! `±(2^(F + weight_bits) − 1)`) and, with momentum, the velocity. Its commitment is Poseidon
//! over their offset bits and a salt, packed as the model commitment packs its bits.
//!
//! Public inputs, in order: `C_start`, `C_end`. Private: both checkpoints, their salts and
//! each step's batch (inputs of `input_bits` bits, one-hot labels). The batch is not yet
//! bound to the participant's committed data: docs/training.md, "What the circuit proves".
//!
//! Every bound below is established by a constraint (a bit decomposition), never assumed
//! of an honest prover; [`Bounds`] derives each range from the ones before it, and honest
//! values always lie inside them.

use ark_bn254::Fr;
use ark_crypto_primitives::crh::poseidon::constraints::{CRHGadget, CRHParametersVar};
use ark_crypto_primitives::crh::CRHSchemeGadget;
use ark_crypto_primitives::merkle_tree::constraints::PathVar;
use ark_crypto_primitives::merkle_tree::Path;
use ark_crypto_primitives::sponge::poseidon::PoseidonSponge;
use ark_crypto_primitives::sponge::{CryptographicSponge, FieldBasedCryptographicSponge};
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, LinearCombination,
    SynthesisError, SynthesisMode, Variable,
};
use ark_relations::lc;

use crate::commitment::{poseidon_config, sponge_input};
use crate::data::{
    self, blank_path, label_bits, sample_bits, scheduled, DataConfig, DataConfigVar, DataTree,
    MAX_DEPTH,
};
use crate::error::{Error, Result};
use crate::gadgets::commit::{counted_words_var, enforce_commitment};
use crate::gadgets::fixed::{
    clip, divide, floor_at, maximum, mul, shift_round, shift_round_bounded_later, sum, Num,
};
use crate::gadgets::range::{bits_of, decompose, enforce_boolean};
use crate::gadgets::{enforce, fr, pow2, witness};

/// Largest layer width, number of layers and steps per segment a training shape may have.
pub const MAX_WIDTH: usize = 4096;
pub const MAX_LAYERS: usize = 8;
pub const MAX_STEPS: usize = 1024;
/// Every range of the circuit stays below `2^MAX_BITS`, so honest values fit an `i64`.
pub const MAX_BITS: u32 = 60;

/// The loss whose gradient the rule uses at the logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Cross-entropy with the lookup-free softmax.
    Softmax,
    /// Squared error against `2^F · e_y`, clamped to `±(2^(F + grad_bits) − 1)`.
    Squared,
}

/// The task's integer training rule, field for field `TrainingRule` of the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub frac_bits: u32,
    pub input_bits: u32,
    pub lr_shift: u32,
    pub batch_shift: u32,
    pub momentum_shift: Option<u32>,
    pub act_bits: u32,
    pub grad_bits: u32,
    pub weight_bits: u32,
    pub loss: Loss,
    pub exp_shift: u32,
}

impl Rule {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidSpec(what));
        if !(8..=24).contains(&self.frac_bits) {
            return bad(format!(
                "frac_bits must be in 8..=24, got {}",
                self.frac_bits
            ));
        }
        if !(1..=8.min(self.frac_bits)).contains(&self.input_bits) {
            return bad(format!(
                "input_bits must be in 1..=8, got {}",
                self.input_bits
            ));
        }
        if self.lr_shift > 24 || self.batch_shift > 12 {
            return bad("lr_shift must be in 0..=24 and batch_shift in 0..=12".into());
        }
        if let Some(m) = self.momentum_shift {
            if !(1..=16).contains(&m) {
                return bad(format!("momentum_shift must be in 1..=16, got {m}"));
            }
        }
        if !(1..=8).contains(&self.exp_shift) {
            return bad(format!(
                "exp_shift must be in 1..=8, got {}",
                self.exp_shift
            ));
        }
        for (name, v) in [
            ("act_bits", self.act_bits),
            ("grad_bits", self.grad_bits),
            ("weight_bits", self.weight_bits),
        ] {
            if v > 8 {
                return bad(format!("{name} must be in 0..=8, got {v}"));
            }
        }
        Ok(())
    }

    pub fn batch_size(&self) -> usize {
        1 << self.batch_shift
    }

    /// The largest magnitude of a master parameter, `2^(F + weight_bits) − 1`.
    pub fn param_max(&self) -> i64 {
        (1i64 << (self.frac_bits + self.weight_bits)) - 1
    }
}

/// What the training keys are generated for: the layer widths, the rule and the number
/// of steps one proof (a segment) covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub widths: Vec<usize>,
    pub rule: Rule,
    pub steps: usize,
    /// Depth of the task's data trees: a participant has at most `2^depth` samples.
    pub depth: u32,
}

fn ceil_log2(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// The ranges of every quantity of one step, each `[−2^e, 2^e)` for the exponent `e` given
/// (or `[0, 2^e)` for the unsigned ones), derived from the rule and the widths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Bits of a master parameter's offset form, `F + weight_bits + 1`.
    pub param_bits: u32,
    /// Per layer: activations entering it are in `[0, 2^act)`.
    pub act: Vec<u32>,
    /// Per layer: the rescaled product `a · W` lies in `[−2^e, 2^e)`.
    pub forward: Vec<u32>,
    /// Per layer: the pre-activation `z = rescale(a · W) + b` lies in `[−2^e, 2^e)`.
    pub pre: Vec<u32>,
    /// Per layer: the gradient at its output lies in `[−2^e, 2^e)`.
    pub grad: Vec<u32>,
    /// Per tensor (`W_0, b_0, W_1, …`): its gradient lies in `[−2^e, 2^e)`.
    pub tensor_grad: Vec<u32>,
    /// Per tensor: the gradient before any rescale (`aᵀ · g` at `2F` fractional bits for a
    /// weight, `Σ g` for a bias) lies in `[−2^e, 2^e)`.
    pub raw_grad: Vec<u32>,
    /// Per tensor: the velocity's offset form has this many bits (0 without momentum).
    pub velocity_bits: Vec<u32>,
}

impl Bounds {
    pub fn new(shape: &Shape) -> Result<Self> {
        let r = &shape.rule;
        let (f, wb, a) = (r.frac_bits, r.weight_bits, r.act_bits);
        let layers = shape.widths.len() - 1;
        let act: Vec<u32> = (0..layers)
            .map(|l| if l == 0 { f } else { f + a })
            .collect();
        let forward: Vec<u32> = (0..layers)
            .map(|l| ceil_log2(shape.widths[l]) + act[l] + wb + 1)
            .collect();
        let pre: Vec<u32> = forward.iter().map(|&e| e.max(f + wb) + 1).collect();
        let mut grad = vec![0; layers];
        grad[layers - 1] = match r.loss {
            Loss::Softmax => f + 1,
            Loss::Squared => f + r.grad_bits,
        };
        for l in (1..layers).rev() {
            grad[l - 1] = ceil_log2(shape.widths[l + 1]) + grad[l] + wb + 1;
        }
        let mut tensor_grad = Vec::with_capacity(2 * layers);
        let mut raw_grad = Vec::with_capacity(2 * layers);
        for l in 0..layers {
            tensor_grad.push(r.batch_shift + act[l] + grad[l] - f + 1);
            tensor_grad.push(r.batch_shift + grad[l]);
            raw_grad.push(r.batch_shift + act[l] + grad[l]);
            raw_grad.push(r.batch_shift + grad[l]);
        }
        let velocity_bits = tensor_grad
            .iter()
            .map(|&g| r.momentum_shift.map_or(0, |m| m + g + 2))
            .collect();
        let bounds = Bounds {
            param_bits: f + wb + 1,
            act,
            forward,
            pre,
            grad,
            tensor_grad,
            raw_grad,
            velocity_bits,
        };
        let widest = bounds.widest(shape);
        if widest > MAX_BITS {
            return Err(Error::InvalidSpec(format!(
                "this rule and these widths need {widest}-bit intermediate values; at most \
                 {MAX_BITS} are supported"
            )));
        }
        Ok(bounds)
    }

    /// The widest range any intermediate value (a product's sum included) needs.
    fn widest(&self, shape: &Shape) -> u32 {
        let r = &shape.rule;
        let f = r.frac_bits;
        let sums = (0..self.act.len()).flat_map(|l| {
            [
                self.forward[l] + f,
                r.batch_shift + self.act[l] + self.grad[l] + 1,
                self.grad[l] + f + r.weight_bits + ceil_log2(shape.widths[l + 1]) + 1,
            ]
        });
        sums.chain(self.velocity_bits.iter().copied())
            .chain(self.pre.iter().map(|&p| p + 2))
            .max()
            .unwrap_or(0)
    }

    /// The shift of tensor `t`'s update: `lr_shift + batch_shift` on the velocity, or
    /// without momentum on the raw gradient (`F` more for a weight, one rounding in all).
    fn update_shift(rule: &Rule, t: usize) -> u32 {
        let shift = rule.lr_shift + rule.batch_shift;
        match rule.momentum_shift {
            None if t.is_multiple_of(2) => shift + rule.frac_bits,
            _ => shift,
        }
    }

    /// The update's quotient of tensor `t` lies in `[−2^e, 2^e)`: `|v| ≤ 2^(m + g)` with
    /// momentum, the raw gradient's bound without.
    fn update(&self, rule: &Rule, t: usize) -> u32 {
        let magnitude = match rule.momentum_shift {
            Some(m) => m + self.tensor_grad[t],
            None => self.raw_grad[t],
        };
        magnitude.saturating_sub(Self::update_shift(rule, t)) + 1
    }
}

impl Shape {
    pub fn validate(&self) -> Result<Bounds> {
        self.rule.validate()?;
        if !(2..=MAX_LAYERS + 1).contains(&self.widths.len()) {
            return Err(Error::InvalidSpec(format!(
                "a model has 1..={MAX_LAYERS} layers, got {} widths",
                self.widths.len()
            )));
        }
        if let Some(w) = self.widths.iter().find(|&&w| !(1..=MAX_WIDTH).contains(&w)) {
            return Err(Error::InvalidSpec(format!(
                "layer widths must be in 1..={MAX_WIDTH}, got {w}"
            )));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(Error::InvalidSpec(format!(
                "the data tree's depth must be in 1..={MAX_DEPTH}, got {}",
                self.depth
            )));
        }
        let classes = *self.widths.last().expect("two widths");
        if !(2..=256).contains(&classes) {
            return Err(Error::InvalidSpec(format!(
                "a classifier has 2..=256 classes (labels are bytes), got {classes}"
            )));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(Error::InvalidSpec(format!(
                "a segment has 1..={MAX_STEPS} steps, got {}",
                self.steps
            )));
        }
        Bounds::new(self)
    }

    pub fn num_layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// The number of values of tensor `t` (`W_0, b_0, W_1, …`).
    pub fn tensor_len(&self, t: usize) -> usize {
        let l = t / 2;
        if t.is_multiple_of(2) {
            self.widths[l] * self.widths[l + 1]
        } else {
            self.widths[l + 1]
        }
    }
}

/// Master parameters `[W_0, b_0, W_1, b_1, …]` (`W_l` is `in × out`, row-major) and, with
/// momentum, the velocity laid out the same way (empty without momentum).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub params: Vec<Vec<i64>>,
    pub velocity: Vec<Vec<i64>>,
}

impl Checkpoint {
    pub fn validate(&self, shape: &Shape, bounds: &Bounds) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidModel(what));
        let tensors = 2 * shape.num_layers();
        if self.params.len() != tensors {
            return bad(format!(
                "{} parameter tensors, expected {tensors}",
                self.params.len()
            ));
        }
        let momentum = shape.rule.momentum_shift.is_some();
        let expected_velocity = if momentum { tensors } else { 0 };
        if self.velocity.len() != expected_velocity {
            return bad(format!(
                "{} velocity tensors, expected {expected_velocity}",
                self.velocity.len()
            ));
        }
        let top = shape.rule.param_max();
        for (t, p) in self.params.iter().enumerate() {
            if p.len() != shape.tensor_len(t) {
                return bad(format!(
                    "tensor {t} has {} values, expected {}",
                    p.len(),
                    shape.tensor_len(t)
                ));
            }
            if p.iter().any(|v| v.abs() > top) {
                return bad(format!("tensor {t} has a parameter beyond ±{top}"));
            }
        }
        for (t, v) in self.velocity.iter().enumerate() {
            let half = 1i64 << (bounds.velocity_bits[t] - 1);
            if v.len() != shape.tensor_len(t) {
                return bad(format!(
                    "velocity {t} has {} values, expected {}",
                    v.len(),
                    shape.tensor_len(t)
                ));
            }
            if v.iter().any(|&x| !(-half..half).contains(&x)) {
                return bad(format!(
                    "velocity {t} has a value outside [−2^{0}, 2^{0})",
                    bounds.velocity_bits[t] - 1
                ));
            }
        }
        Ok(())
    }

    /// The offset bits the commitment is over: every parameter in `param_bits` bits, then
    /// every velocity value in its tensor's bits, least significant first.
    pub fn bits(&self, bounds: &Bounds) -> Vec<bool> {
        let mut bits = Vec::new();
        let pb = bounds.param_bits;
        for p in &self.params {
            for &v in p {
                bits.extend(bits_of((v + (1i64 << (pb - 1))) as u128, pb));
            }
        }
        for (t, vs) in self.velocity.iter().enumerate() {
            let vb = bounds.velocity_bits[t];
            for &v in vs {
                bits.extend(bits_of((v + (1i64 << (vb - 1))) as u128, vb));
            }
        }
        bits
    }
}

/// The checkpoint's commitment, `Poseidon(#words, words…, salt)` over [`Checkpoint::bits`].
pub fn commit(shape: &Shape, checkpoint: &Checkpoint, salt: Fr) -> Result<Fr> {
    let bounds = shape.validate()?;
    checkpoint.validate(shape, &bounds)?;
    let input = sponge_input(&checkpoint.bits(&bounds), salt);
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&input);
    Ok(sponge.squeeze_native_field_elements(1)[0])
}

/// One step's batch: `batch_size` samples of `widths[0]` inputs (row-major) and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub inputs: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Batch {
    pub fn validate(&self, shape: &Shape) -> Result<()> {
        let (b, d) = (shape.rule.batch_size(), shape.widths[0]);
        let classes = *shape.widths.last().expect("two widths");
        if self.inputs.len() != b * d || self.labels.len() != b {
            return Err(Error::InvalidModel(format!(
                "a batch holds {b} samples of {d} inputs; got {} inputs and {} labels",
                self.inputs.len(),
                self.labels.len()
            )));
        }
        if self
            .inputs
            .iter()
            .any(|&q| u32::from(q) >> shape.rule.input_bits != 0)
        {
            return Err(Error::InvalidModel(format!(
                "inputs must be {}-bit integers",
                shape.rule.input_bits
            )));
        }
        if self.labels.iter().any(|&y| usize::from(y) >= classes) {
            return Err(Error::InvalidModel(format!(
                "labels must be below {classes}"
            )));
        }
        Ok(())
    }
}

/// The public inputs of one training proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub start: Fr,
    pub end: Fr,
    /// The data commitment `C_D = Poseidon(root, n, salt)`.
    pub data: Fr,
    /// The number of samples under `C_D`.
    pub n: u64,
    /// The schedule's multiplier `a`, and `a0 = (a · p0 + b) mod n` for the segment's first
    /// position `p0`: its `o`-th sample is `(a0 + a · o) mod n`.
    pub a: u64,
    pub a0: u64,
    /// Names the task, round and submitter; no constraint reads it (the QAP binds it).
    pub tag: Fr,
}

impl Statement {
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![
            self.start,
            self.end,
            self.data,
            Fr::from(self.n),
            Fr::from(self.a),
            Fr::from(self.a0),
            self.tag,
        ]
    }
}

/// Number of public inputs of a training proof.
pub const PUBLIC_INPUTS: usize = 7;

/// The trainer's private knowledge.
#[derive(Clone, Debug)]
pub struct Witness {
    pub start: Checkpoint,
    pub start_salt: Fr,
    pub batches: Vec<Batch>,
    /// Each batch sample's path in the data tree, step by step.
    pub paths: Vec<Path<DataConfig>>,
    pub data_root: Fr,
    pub data_salt: Fr,
    pub end: Checkpoint,
    pub end_salt: Fr,
}

/// The circuit; without statement and witness it describes the shape for key generation.
#[derive(Clone, Copy)]
pub struct TrainingCircuit<'a> {
    pub shape: &'a Shape,
    pub statement: Option<&'a Statement>,
    pub witness: Option<&'a Witness>,
}

/// A checkpoint's values in the circuit.
struct Tensors {
    params: Vec<Vec<Num>>,
    velocity: Vec<Vec<Num>>,
}

impl ConstraintSynthesizer<Fr> for TrainingCircuit<'_> {
    fn generate_constraints(
        self,
        cs: ConstraintSystemRef<Fr>,
    ) -> std::result::Result<(), SynthesisError> {
        let shape = self.shape;
        let bounds = shape
            .validate()
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        let missing = || SynthesisError::AssignmentMissing;
        let start_c =
            cs.new_input_variable(|| self.statement.map(|s| s.start).ok_or_else(missing))?;
        let end_c = cs.new_input_variable(|| self.statement.map(|s| s.end).ok_or_else(missing))?;
        let st = self.statement;
        let data = open_data(&cs, shape, st, self.witness)?;
        let w = self.witness;
        let mut state = open_start(
            &cs,
            shape,
            &bounds,
            w.map(|w| &w.start),
            w.map(|w| w.start_salt),
            start_c,
            self.statement.map(|s| s.start),
        )?;
        let b = shape.rule.batch_size();
        for s in 0..shape.steps {
            let batch = allocate_batch(&cs, shape, w.map(|w| &w.batches[s]))?;
            for (j, bits) in batch.leaf_bits.iter().enumerate() {
                let path = w.map(|w| &w.paths[s * b + j]);
                data.open_sample(&cs, shape, s * b + j, bits, path)?;
            }
            state = step(&cs, shape, &bounds, &state, &batch)?;
        }
        close_end(
            &cs,
            &bounds,
            &state,
            w.map(|w| &w.end),
            w.map(|w| w.end_salt),
            end_c,
            self.statement.map(|s| s.end),
        )
    }
}

/// Allocates the starting checkpoint (range-checked) and enforces that it opens `C_start`.
fn open_start(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    bounds: &Bounds,
    checkpoint: Option<&Checkpoint>,
    salt: Option<Fr>,
    commitment: Variable,
    commitment_value: Option<Fr>,
) -> std::result::Result<Tensors, SynthesisError> {
    let mut bits = Vec::new();
    let mut alloc = |values: Option<&Vec<i64>>, n: usize, nbits: u32| {
        (0..n)
            .map(|i| {
                let val = values.map(|v| v[i]);
                let var = witness(cs, val.map(fr))?;
                let offset = 1i64 << (nbits - 1);
                let b = val.map(|v| bits_of((v + offset) as u128, nbits));
                bits.extend(decompose(
                    cs,
                    lc!() + var + (fr(offset), Variable::One),
                    b.as_deref(),
                    nbits,
                )?);
                Ok(Num::var(var, val))
            })
            .collect::<std::result::Result<Vec<Num>, SynthesisError>>()
    };
    let tensors = 2 * shape.num_layers();
    let params = (0..tensors)
        .map(|t| {
            alloc(
                checkpoint.map(|c| &c.params[t]),
                shape.tensor_len(t),
                bounds.param_bits,
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let velocity = if shape.rule.momentum_shift.is_some() {
        (0..tensors)
            .map(|t| {
                alloc(
                    checkpoint.map(|c| &c.velocity[t]),
                    shape.tensor_len(t),
                    bounds.velocity_bits[t],
                )
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
    } else {
        vec![]
    };
    let bit_values = checkpoint.map(|c| c.bits(bounds));
    enforce_commitment(
        cs,
        &bits,
        bit_values.as_deref(),
        salt,
        commitment,
        commitment_value,
    )?;
    Ok(Tensors { params, velocity })
}

/// Range-checks the final checkpoint into its offset bits and enforces that they open
/// `C_end`.
fn close_end(
    cs: &ConstraintSystemRef<Fr>,
    bounds: &Bounds,
    state: &Tensors,
    claimed: Option<&Checkpoint>,
    salt: Option<Fr>,
    commitment: Variable,
    commitment_value: Option<Fr>,
) -> std::result::Result<(), SynthesisError> {
    let mut bits = Vec::new();
    let mut pack_tensor = |values: &[Num], nbits: u32| -> std::result::Result<(), SynthesisError> {
        let offset = 1i64 << (nbits - 1);
        for v in values {
            let shifted = v.offset(offset);
            let b = shifted.val.map(|x| bits_of(x as u128, nbits));
            bits.extend(decompose(cs, shifted.lc, b.as_deref(), nbits)?);
        }
        Ok(())
    };
    for p in &state.params {
        pack_tensor(p, bounds.param_bits)?;
    }
    for (t, v) in state.velocity.iter().enumerate() {
        pack_tensor(v, bounds.velocity_bits[t])?;
    }
    // The claimed checkpoint's bits are what the commitment is computed over natively; the
    // circuit's own bits are the wires, so a claim that differs from the trained state has
    // no satisfying assignment.
    let bit_values = claimed.map(|c| c.bits(bounds));
    enforce_commitment(
        cs,
        &bits,
        bit_values.as_deref(),
        salt,
        commitment,
        commitment_value,
    )
}

/// The data commitment's wires: the tree root behind the public `C_D`, and the schedule.
struct DataWires {
    root: FpVar<Fr>,
    n: Num,
    a: Num,
    a0: Num,
    params: CRHParametersVar<Fr>,
}

/// Allocates the public data inputs, range-checks them and enforces
/// `C_D = Poseidon(root, n, salt)` with a private root and salt.
fn open_data(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    st: Option<&Statement>,
    w: Option<&Witness>,
) -> std::result::Result<DataWires, SynthesisError> {
    let missing = || SynthesisError::AssignmentMissing;
    let input =
        |f: &dyn Fn(&Statement) -> Fr| cs.new_input_variable(|| st.map(f).ok_or_else(missing));
    let data_c = input(&|s| s.data)?;
    let n_var = input(&|s| Fr::from(s.n))?;
    let a_var = input(&|s| Fr::from(s.a))?;
    let a0_var = input(&|s| Fr::from(s.a0))?;
    let _tag = input(&|s| s.tag)?;
    let value = |f: &dyn Fn(&Statement) -> u64| st.map(|s| f(s) as i64);
    let n = Num::var(n_var, value(&|s| s.n));
    let a = Num::var(a_var, value(&|s| s.a));
    let a0 = Num::var(a0_var, value(&|s| s.a0));
    // 1 ≤ n ≤ 2^depth, a and a0 below 2^depth: every schedule quantity is a small integer.
    let depth = shape.depth;
    for (x, offset) in [(&n, -1i64), (&a, 0), (&a0, 0)] {
        let shifted = x.offset(offset);
        let bits = shifted.val.map(|v| bits_of(v as u128, depth));
        decompose(cs, shifted.lc, bits.as_deref(), depth)?;
    }
    let root = FpVar::new_witness(cs.clone(), || w.map(|w| w.data_root).ok_or_else(missing))?;
    let salt = FpVar::new_witness(cs.clone(), || w.map(|w| w.data_salt).ok_or_else(missing))?;
    let n_fp = FpVar::Var(AllocatedFp::new(
        st.map(|s| Fr::from(s.n)),
        n_var,
        cs.clone(),
    ));
    let params = CRHParametersVar {
        parameters: poseidon_config().clone(),
    };
    let claimed = CRHGadget::<Fr>::evaluate(&params, &[root.clone(), n_fp, salt])?;
    let public = FpVar::Var(AllocatedFp::new(st.map(|s| s.data), data_c, cs.clone()));
    claimed.enforce_equal(&public)?;
    Ok(DataWires {
        root,
        n,
        a,
        a0,
        params,
    })
}

impl DataWires {
    /// Enforces that the segment's `o`-th sample, whose leaf is over `bits`, is the leaf at
    /// `(a0 + a · o) mod n` of the committed tree.
    fn open_sample(
        &self,
        cs: &ConstraintSystemRef<Fr>,
        shape: &Shape,
        o: usize,
        bits: &(Vec<Variable>, Option<Vec<bool>>),
        path: Option<&Path<DataConfig>>,
    ) -> std::result::Result<(), SynthesisError> {
        let num = self.a0.add_scaled(&self.a, o as i64);
        let q_bits = ceil_log2(shape.steps * shape.rule.batch_size() + 1) + 1;
        let (_, index) = divide(cs, &num, &self.n, q_bits, shape.depth)?;
        // The leaf: [#words, words…] over the sample's bits.
        let leaf = counted_words_var(cs, &bits.0, bits.1.as_deref())?;
        let blank = blank_path(shape.depth);
        let path_var = PathVar::<DataConfig, Fr, DataConfigVar>::new_witness(cs.clone(), || {
            Ok(path.unwrap_or(&blank))
        })?;
        // The path's position is the scheduled index.
        let mut position = LinearCombination::zero();
        for (i, bit) in path_var.get_leaf_position().iter().enumerate() {
            position = position + bit.lc() * pow2(i as u32);
        }
        enforce(
            cs,
            || position.clone() - index.lc.clone(),
            || lc!() + Variable::One,
            LinearCombination::zero,
        )?;
        path_var
            .verify_membership(&self.params, &self.params, &self.root, &leaf)?
            .enforce_equal(&Boolean::TRUE)
    }
}

/// One step's batch in the circuit: inputs `x = q · 2^(F − input_bits)` with `q`
/// range-checked, and one-hot labels.
struct BatchWires {
    x: Vec<Vec<Num>>,
    onehot: Vec<Vec<Num>>,
    /// Per sample, the bits its leaf is over (inputs, then label), with their values.
    leaf_bits: Vec<(Vec<Variable>, Option<Vec<bool>>)>,
}

fn allocate_batch(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    batch: Option<&Batch>,
) -> std::result::Result<BatchWires, SynthesisError> {
    let r = &shape.rule;
    let (b, d) = (r.batch_size(), shape.widths[0]);
    let classes = *shape.widths.last().expect("two widths");
    let scale = 1i64 << (r.frac_bits - r.input_bits);
    let mut x = Vec::with_capacity(b);
    let mut onehot = Vec::with_capacity(b);
    let mut leaf_bits = Vec::with_capacity(b);
    for s in 0..b {
        let mut row = Vec::with_capacity(d);
        let mut wires = Vec::new();
        for i in 0..d {
            let q = batch.map(|bt| i64::from(bt.inputs[s * d + i]));
            let var = witness(cs, q.map(fr))?;
            let bits = q.map(|v| bits_of(v as u128, r.input_bits));
            wires.extend(decompose(cs, lc!() + var, bits.as_deref(), r.input_bits)?);
            row.push(Num {
                lc: lc!() + (fr(scale), var),
                val: q.map(|v| v * scale),
            });
        }
        x.push(row);
        let label = batch.map(|bt| usize::from(bt.labels[s]));
        let hot = (0..classes)
            .map(|c| {
                let v = label.map(|y| i64::from(y == c));
                let var = witness(cs, v.map(fr))?;
                enforce_boolean(cs, var)?;
                Ok(Num::var(var, v))
            })
            .collect::<std::result::Result<Vec<Num>, SynthesisError>>()?;
        let total = sum(&hot);
        enforce(
            cs,
            || total.lc.clone() - (fr(1), Variable::One),
            || lc!() + Variable::One,
            LinearCombination::zero,
        )?;
        // The label's binary form, for the leaf: Σ c · onehot_c in label_bits bits.
        let mut value = LinearCombination::zero();
        for (c, h) in hot.iter().enumerate().skip(1) {
            value = value + h.lc.clone() * fr(c as i64);
        }
        let lb = label_bits(classes);
        let label_value = label.map(|y| bits_of(y as u128, lb));
        wires.extend(decompose(cs, value, label_value.as_deref(), lb)?);
        let values = batch.map(|bt| {
            sample_bits(
                &bt.inputs[s * d..(s + 1) * d],
                bt.labels[s],
                r.input_bits,
                classes,
            )
        });
        leaf_bits.push((wires, values));
        onehot.push(hot);
    }
    Ok(BatchWires {
        x,
        onehot,
        leaf_bits,
    })
}

/// `shift_round` into `[−2^e, 2^e)`.
fn rescale_signed(
    cs: &ConstraintSystemRef<Fr>,
    x: &Num,
    shift: u32,
    e: u32,
) -> std::result::Result<Num, SynthesisError> {
    shift_round(cs, x, shift, -(1i64 << e), e + 1)
}

/// `Σ_k a_k · b_k`, one constraint per product.
fn dot(
    cs: &ConstraintSystemRef<Fr>,
    a: &[&Num],
    b: &[&Num],
) -> std::result::Result<Num, SynthesisError> {
    let products = a
        .iter()
        .zip(b)
        .map(|(x, y)| mul(cs, x, y))
        .collect::<std::result::Result<Vec<Num>, SynthesisError>>()?;
    Ok(sum(&products))
}

/// One SGD step of the rule: forward, loss gradient, backward, update.
fn step(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    bounds: &Bounds,
    state: &Tensors,
    batch: &BatchWires,
) -> std::result::Result<Tensors, SynthesisError> {
    let r = &shape.rule;
    let f = r.frac_bits;
    let layers = shape.num_layers();
    let hidden_top = (1i64 << (f + r.act_bits)) - 1;
    // Forward: acts[l] enters layer l; live[l] is the ReLU mask of hidden layer l's output.
    let mut acts: Vec<Vec<Vec<Num>>> = vec![batch.x.clone()];
    let mut live: Vec<Vec<Vec<Num>>> = Vec::new();
    let mut logits: Vec<Vec<Num>> = Vec::new();
    for l in 0..layers {
        let (n_in, n_out) = (shape.widths[l], shape.widths[l + 1]);
        let (w, bias) = (&state.params[2 * l], &state.params[2 * l + 1]);
        let mut out_rows = Vec::with_capacity(acts[l].len());
        let mut live_rows = Vec::new();
        for a in &acts[l] {
            let mut out = Vec::with_capacity(n_out);
            let mut mask = Vec::new();
            for j in 0..n_out {
                let column: Vec<&Num> = (0..n_in).map(|i| &w[i * n_out + j]).collect();
                let row: Vec<&Num> = a.iter().collect();
                let s = dot(cs, &row, &column)?;
                if l + 1 == layers {
                    let z = rescale_signed(cs, &s, f, bounds.forward[l])?.add(&bias[j]);
                    out.push(z);
                } else {
                    // The clip's comparisons bound z, hence the rescale's quotient z − b.
                    let z = shift_round_bounded_later(cs, &s, f)?.add(&bias[j]);
                    let (h, inside) = clip(
                        cs,
                        &z,
                        (1, hidden_top),
                        (0, hidden_top),
                        bounds.pre[l].max(f + r.act_bits) + 1,
                    )?;
                    out.push(h);
                    mask.push(inside);
                }
            }
            out_rows.push(out);
            live_rows.push(mask);
        }
        if l + 1 == layers {
            logits = out_rows;
        } else {
            acts.push(out_rows);
            live.push(live_rows);
        }
    }
    // The loss gradient at the logits.
    let mut g: Vec<Vec<Num>> = Vec::with_capacity(logits.len());
    let zl = bounds.pre[layers - 1];
    for (z, hot) in logits.iter().zip(&batch.onehot) {
        let row = match r.loss {
            Loss::Softmax => softmax_gradient(cs, r, zl, z, hot)?,
            Loss::Squared => {
                let top = (1i64 << (f + r.grad_bits)) - 1;
                let bits = zl.max(f + r.grad_bits) + 2;
                z.iter()
                    .zip(hot)
                    .map(|(zj, yj)| {
                        let d = zj.add_scaled(yj, -(1i64 << f));
                        Ok(clip(cs, &d, (-top, top + 1), (-top, top), bits)?.0)
                    })
                    .collect::<std::result::Result<Vec<Num>, SynthesisError>>()?
            }
        };
        g.push(row);
    }
    // Backward, from the last layer.
    let mut grads: Vec<Vec<Num>> = vec![Vec::new(); 2 * layers];
    for l in (0..layers).rev() {
        let (n_in, n_out) = (shape.widths[l], shape.widths[l + 1]);
        let mut gw = Vec::with_capacity(n_in * n_out);
        for i in 0..n_in {
            for j in 0..n_out {
                let a: Vec<&Num> = acts[l].iter().map(|row| &row[i]).collect();
                let gj: Vec<&Num> = g.iter().map(|row| &row[j]).collect();
                let s = dot(cs, &a, &gj)?;
                gw.push(match r.momentum_shift {
                    Some(_) => rescale_signed(cs, &s, f, bounds.tensor_grad[2 * l])?,
                    // Without momentum the update rounds the raw sum once.
                    None => s,
                });
            }
        }
        grads[2 * l] = gw;
        grads[2 * l + 1] = (0..n_out)
            .map(|j| sum(&g.iter().map(|row| row[j].clone()).collect::<Vec<_>>()))
            .collect();
        if l > 0 {
            let w = &state.params[2 * l];
            let mut below = Vec::with_capacity(g.len());
            for (row, mask) in g.iter().zip(&live[l - 1]) {
                let mut out = Vec::with_capacity(n_in);
                for i in 0..n_in {
                    let wi: Vec<&Num> = (0..n_out).map(|j| &w[i * n_out + j]).collect();
                    let gr: Vec<&Num> = row.iter().collect();
                    let s = dot(cs, &gr, &wi)?;
                    let q = rescale_signed(cs, &s, f, bounds.grad[l - 1])?;
                    out.push(mul(cs, &q, &mask[i])?);
                }
                below.push(out);
            }
            g = below;
        }
    }
    // Update.
    let top = r.param_max();
    let mut params = Vec::with_capacity(2 * layers);
    let mut velocity = Vec::new();
    for (t, (p, gt)) in state.params.iter().zip(&grads).enumerate() {
        let eu = bounds.update(r, t);
        let shift = Bounds::update_shift(r, t);
        let clip_bits = (f + r.weight_bits + 1).max(eu) + 2;
        let mut new_p = Vec::with_capacity(p.len());
        let mut new_v = Vec::new();
        for (i, (pi, gi)) in p.iter().zip(gt).enumerate() {
            let v = match r.momentum_shift {
                Some(m) => {
                    let v = &state.velocity[t][i];
                    let decay = rescale_signed(cs, v, m, bounds.tensor_grad[t] + 1)?;
                    let v = v.sub(&decay).add(gi);
                    new_v.push(v.clone());
                    v
                }
                None => gi.clone(),
            };
            // The clip's comparisons bound u, hence the quotient p − u (p is bounded).
            let u = pi.sub(&shift_round_bounded_later(cs, &v, shift)?);
            new_p.push(clip(cs, &u, (-top, top + 1), (-top, top), clip_bits)?.0);
        }
        params.push(new_p);
        if r.momentum_shift.is_some() {
            velocity.push(new_v);
        }
    }
    Ok(Tensors { params, velocity })
}

/// `softmax(z) − e_y` of the rule for one sample: `d = max(z − max z, −2^(F+k))`,
/// `e = (1 + d / 2^k)^(2^k)` by `k` rescaled squarings, `p_j = ⌊e_j · 2^F / Σ e⌋`.
fn softmax_gradient(
    cs: &ConstraintSystemRef<Fr>,
    r: &Rule,
    zl: u32,
    z: &[Num],
    hot: &[Num],
) -> std::result::Result<Vec<Num>, SynthesisError> {
    let (f, k) = (r.frac_bits, r.exp_shift);
    let m = maximum(cs, z, zl)?;
    let floor = -(1i64 << (f + k));
    let floor_bits = (zl + 1).max(f + k) + 1;
    let mut e = Vec::with_capacity(z.len());
    for zj in z {
        let d = floor_at(cs, &zj.sub(&m), floor, floor_bits)?;
        // d ∈ [−2^(F+k), 0]: its shift lies in [−2^F, 0], so e_0 ∈ [0, 2^F].
        let mut ej = shift_round(cs, &d, k, -(1i64 << f), f + 1)?.offset(1i64 << f);
        for _ in 0..k {
            let square = mul(cs, &ej, &ej)?;
            ej = shift_round(cs, &square, f, 0, f + 1)?;
        }
        e.push(ej);
    }
    let total = sum(&e);
    let r_bits = f + 1 + ceil_log2(z.len());
    e.iter()
        .zip(hot)
        .map(|(ej, yj)| {
            let num = Num {
                lc: ej.lc.clone() * pow2(f),
                val: ej.val.map(|v| v << f),
            };
            let (p, _) = divide(cs, &num, &total, f + 1, r_bits)?;
            Ok(p.add_scaled(yj, -(1i64 << f)))
        })
        .collect()
}

/// Runs `batches` through the circuit's own arithmetic (no matrices are built) and returns
/// the final checkpoint, with the number of constraints one such segment has.
pub fn train(shape: &Shape, start: &Checkpoint, batches: &[Batch]) -> Result<Checkpoint> {
    let bounds = shape.validate()?;
    start.validate(shape, &bounds)?;
    if batches.len() != shape.steps {
        return Err(Error::InvalidModel(format!(
            "{} batches for a segment of {} steps",
            batches.len(),
            shape.steps
        )));
    }
    for b in batches {
        b.validate(shape)?;
    }
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
        generate_lc_assignments: false,
    });
    let run = || -> std::result::Result<Checkpoint, SynthesisError> {
        let mut state = open_start_values(&cs, start)?;
        for b in batches {
            let wires = allocate_batch(&cs, shape, Some(b))?;
            state = step(&cs, shape, &bounds, &state, &wires)?;
        }
        let values = |ts: &[Vec<Num>]| {
            ts.iter()
                .map(|t| {
                    t.iter()
                        .map(|n| n.val.ok_or(SynthesisError::AssignmentMissing))
                        .collect()
                })
                .collect::<std::result::Result<Vec<Vec<i64>>, SynthesisError>>()
        };
        Ok(Checkpoint {
            params: values(&state.params)?,
            velocity: values(&state.velocity)?,
        })
    };
    Ok(run()?)
}

/// The starting checkpoint as bare witnesses (for [`train`], which checks no commitment).
fn open_start_values(
    cs: &ConstraintSystemRef<Fr>,
    start: &Checkpoint,
) -> std::result::Result<Tensors, SynthesisError> {
    let alloc = |ts: &[Vec<i64>]| {
        ts.iter()
            .map(|t| {
                t.iter()
                    .map(|&v| Ok(Num::var(witness(cs, Some(fr(v)))?, Some(v))))
                    .collect::<std::result::Result<Vec<Num>, SynthesisError>>()
            })
            .collect::<std::result::Result<Vec<_>, SynthesisError>>()
    };
    Ok(Tensors {
        params: alloc(&start.params)?,
        velocity: alloc(&start.velocity)?,
    })
}

/// Where a segment sits in its round: the schedule `(a, b)` over the participant's samples
/// (`zkpot.learning.integer_training.schedule`) and the segment's first step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub a: u64,
    pub b: u64,
    pub first_step: u64,
}

/// The batches a segment trains on, with their paths: the samples at positions
/// `first_step · B ..` of the schedule.
pub fn scheduled_batches(
    shape: &Shape,
    data: &DataTree,
    schedule: &Schedule,
) -> Result<(Vec<Batch>, Vec<Path<DataConfig>>, u64)> {
    shape.validate()?;
    let classes = *shape.widths.last().expect("two widths");
    if data.dim != shape.widths[0]
        || data.classes != classes
        || data.input_bits != shape.rule.input_bits
        || data.depth != shape.depth
    {
        return Err(Error::InvalidModel(format!(
            "a tree of {} inputs, {} classes, {}-bit inputs and depth {} does not fit this \
             circuit ({} inputs, {classes} classes, {}-bit inputs, depth {})",
            data.dim,
            data.classes,
            data.input_bits,
            data.depth,
            shape.widths[0],
            shape.rule.input_bits,
            shape.depth
        )));
    }
    let n = data.len() as u64;
    if schedule.a == 0 || schedule.a > n.max(1) || schedule.b >= n {
        return Err(Error::InvalidModel(format!(
            "a schedule over {n} samples has 1 ≤ a ≤ {n} and b < {n}; got a = {}, b = {}",
            schedule.a, schedule.b
        )));
    }
    let b = shape.rule.batch_size() as u64;
    let p0 = schedule
        .first_step
        .checked_mul(b)
        .filter(|p| p.checked_add(shape.steps as u64 * b).is_some())
        .ok_or_else(|| Error::InvalidModel("the segment's first step is out of range".into()))?;
    let mut batches = Vec::with_capacity(shape.steps);
    let mut paths = Vec::with_capacity(shape.steps * b as usize);
    for s in 0..shape.steps as u64 {
        let mut batch = Batch {
            inputs: Vec::with_capacity(b as usize * data.dim),
            labels: Vec::with_capacity(b as usize),
        };
        for j in 0..b {
            let i = scheduled(n, schedule.a, schedule.b, p0 + s * b + j) as usize;
            let (x, y) = data.sample(i);
            batch.inputs.extend_from_slice(x);
            batch.labels.push(y);
            paths.push(data.path(i)?);
        }
        batches.push(batch);
    }
    Ok((batches, paths, scheduled(n, schedule.a, schedule.b, p0)))
}

/// The trainer's secrets besides the data: the checkpoints' and the data commitment's salts.
#[derive(Clone, Copy, Debug)]
pub struct Salts {
    pub start: Fr,
    pub end: Fr,
    pub data: Fr,
}

/// The statement and witness of training `start` on the segment's scheduled batches.
pub fn witness_of(
    shape: &Shape,
    start: &Checkpoint,
    data: &DataTree,
    schedule: &Schedule,
    salts: &Salts,
    tag: Fr,
) -> Result<(Statement, Witness)> {
    let (batches, paths, a0) = scheduled_batches(shape, data, schedule)?;
    let end = train(shape, start, &batches)?;
    let n = data.len() as u64;
    let statement = Statement {
        start: commit(shape, start, salts.start)?,
        end: commit(shape, &end, salts.end)?,
        data: data::commitment(data.root(), n, salts.data),
        n,
        a: schedule.a,
        a0,
        tag,
    };
    Ok((
        statement,
        Witness {
            start: start.clone(),
            start_salt: salts.start,
            batches,
            paths,
            data_root: data.root(),
            data_salt: salts.data,
            end,
            end_salt: salts.end,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_std::UniformRand;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn rule() -> Rule {
        Rule {
            frac_bits: 16,
            input_bits: 8,
            lr_shift: 4,
            batch_shift: 2,
            momentum_shift: Some(3),
            act_bits: 4,
            grad_bits: 4,
            weight_bits: 3,
            loss: Loss::Softmax,
            exp_shift: 3,
        }
    }

    fn shape(rule: Rule, steps: usize) -> Shape {
        Shape {
            widths: vec![6, 4, 3],
            rule,
            steps,
            depth: 4,
        }
    }

    fn random_checkpoint(shape: &Shape, rng: &mut ChaCha20Rng, scale: i64) -> Checkpoint {
        let bounds = shape.validate().unwrap();
        let tensors = 2 * shape.num_layers();
        let params = (0..tensors)
            .map(|t| {
                (0..shape.tensor_len(t))
                    .map(|_| rng.gen_range(-scale..=scale))
                    .collect()
            })
            .collect();
        let velocity = if shape.rule.momentum_shift.is_some() {
            (0..tensors)
                .map(|t| {
                    let half = 1i64 << (bounds.velocity_bits[t] - 4);
                    (0..shape.tensor_len(t))
                        .map(|_| rng.gen_range(-half..half))
                        .collect()
                })
                .collect()
        } else {
            vec![]
        };
        Checkpoint { params, velocity }
    }

    /// 13 random samples in a tree of depth 4.
    fn random_data(shape: &Shape, rng: &mut ChaCha20Rng) -> DataTree {
        let n = 13;
        let classes = *shape.widths.last().unwrap();
        DataTree::new(
            (0..n * shape.widths[0]).map(|_| rng.gen()).collect(),
            (0..n).map(|_| rng.gen_range(0..classes as u8)).collect(),
            shape.widths[0],
            classes,
            shape.rule.input_bits,
            shape.depth,
        )
        .unwrap()
    }

    const SCHEDULE: Schedule = Schedule {
        a: 5,
        b: 3,
        first_step: 2,
    };

    fn satisfied(shape: &Shape, statement: &Statement, witness: &Witness) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        TrainingCircuit {
            shape,
            statement: Some(statement),
            witness: Some(witness),
        }
        .generate_constraints(cs.clone())
        .unwrap();
        cs.is_satisfied().unwrap()
    }

    fn salts(rng: &mut ChaCha20Rng) -> Salts {
        Salts {
            start: Fr::rand(rng),
            end: Fr::rand(rng),
            data: Fr::rand(rng),
        }
    }

    fn honest(shape: &Shape, seed: u64) -> (Statement, Witness, DataTree) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let start = random_checkpoint(shape, &mut rng, 1 << 17);
        let data = random_data(shape, &mut rng);
        let salts = salts(&mut rng);
        let (st, w) =
            witness_of(shape, &start, &data, &SCHEDULE, &salts, Fr::rand(&mut rng)).unwrap();
        (st, w, data)
    }

    /// Re-trains a tampered witness and re-commits its end, as a cheating prover would, so
    /// that only the constraint under test can fail.
    fn consistent(shape: &Shape, st: &Statement, w: &mut Witness) -> Statement {
        w.end = train(shape, &w.start, &w.batches).unwrap();
        Statement {
            end: commit(shape, &w.end, w.end_salt).unwrap(),
            ..st.clone()
        }
    }

    #[test]
    fn honest_segments_satisfy_for_every_loss_and_momentum() {
        for (loss, momentum) in [
            (Loss::Softmax, Some(3)),
            (Loss::Softmax, None),
            (Loss::Squared, Some(2)),
        ] {
            let s = shape(
                Rule {
                    loss,
                    momentum_shift: momentum,
                    ..rule()
                },
                2,
            );
            let (statement, witness, _) = honest(&s, 1);
            assert!(satisfied(&s, &statement, &witness), "{loss:?} {momentum:?}");
        }
    }

    #[test]
    fn the_batches_are_the_scheduled_samples() {
        let s = shape(rule(), 2);
        let (statement, witness, data) = honest(&s, 7);
        assert_eq!(statement.n, 13);
        // First position 2 · 4 = 8: samples (5 · p + 3) mod 13 for p = 8..16.
        let expected: Vec<usize> = (8..16).map(|p| (5 * p + 3) % 13).collect();
        let got: Vec<usize> = witness.paths.iter().map(|p| p.leaf_index).collect();
        assert_eq!(got, expected);
        assert_eq!(statement.a0, ((5 * 8 + 3) % 13) as u64);
        for (k, &i) in expected.iter().enumerate() {
            let (x, y) = data.sample(i);
            let batch = &witness.batches[k / 4];
            assert_eq!(&batch.inputs[(k % 4) * 6..(k % 4 + 1) * 6], x);
            assert_eq!(batch.labels[k % 4], y);
        }
    }

    #[test]
    fn extreme_parameters_stay_inside_every_range() {
        // Every weight at ±(2^(F+wb) − 1) and inputs at their maximum: the widest honest
        // values the bounds are derived for, with and without momentum, for both losses.
        let data = DataTree::new(vec![255; 4 * 6], vec![0, 1, 2, 0], 6, 3, 8, 4).unwrap();
        let schedule = Schedule {
            a: 1,
            b: 0,
            first_step: 0,
        };
        for (loss, momentum) in [
            (Loss::Softmax, Some(3)),
            (Loss::Softmax, None),
            (Loss::Squared, Some(1)),
            (Loss::Squared, None),
        ] {
            let s = shape(
                Rule {
                    loss,
                    momentum_shift: momentum,
                    lr_shift: 0,
                    ..rule()
                },
                1,
            );
            let top = s.rule.param_max();
            let bounds = s.validate().unwrap();
            for sign in [1i64, -1] {
                let velocity = match momentum {
                    Some(_) => (0..4)
                        .map(|t| {
                            let v = (1i64 << (bounds.velocity_bits[t] - 2)) - 1;
                            vec![sign * v; s.tensor_len(t)]
                        })
                        .collect(),
                    None => vec![],
                };
                let start = Checkpoint {
                    params: (0..4).map(|t| vec![sign * top; s.tensor_len(t)]).collect(),
                    velocity,
                };
                let salts = Salts {
                    start: Fr::from(1u64),
                    end: Fr::from(2u64),
                    data: Fr::from(3u64),
                };
                let (statement, witness) =
                    witness_of(&s, &start, &data, &schedule, &salts, Fr::from(4u64)).unwrap();
                assert!(
                    satisfied(&s, &statement, &witness),
                    "{loss:?} {momentum:?} sign {sign}"
                );
            }
        }
    }

    #[test]
    fn a_claimed_end_that_is_not_the_trained_one_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, witness, _) = honest(&s, 2);
        for tamper in [(0usize, 3usize, 1i64), (3, 0, -1)] {
            let mut forged = witness.clone();
            forged.end.params[tamper.0][tamper.1] += tamper.2;
            let lie = Statement {
                end: commit(&s, &forged.end, forged.end_salt).unwrap(),
                ..statement.clone()
            };
            assert!(!satisfied(&s, &lie, &forged));
        }
        let mut forged = witness.clone();
        forged.end.velocity[1][0] -= 1;
        let lie = Statement {
            end: commit(&s, &forged.end, forged.end_salt).unwrap(),
            ..statement.clone()
        };
        assert!(!satisfied(&s, &lie, &forged));
    }

    #[test]
    fn a_start_that_does_not_open_its_commitment_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, mut witness, _) = honest(&s, 3);
        witness.start.params[2][0] += 1;
        assert!(!satisfied(&s, &statement, &witness));
        let (statement, mut witness, _) = honest(&s, 3);
        witness.start_salt += Fr::from(1u64);
        assert!(!satisfied(&s, &statement, &witness));
    }

    #[test]
    fn a_sample_that_is_not_in_the_committed_data_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, mut witness, _) = honest(&s, 4);
        witness.batches[0].inputs[5] ^= 1;
        let lie = consistent(&s, &statement, &mut witness);
        assert!(!satisfied(&s, &lie, &witness));
        let (statement, mut witness, _) = honest(&s, 4);
        witness.batches[0].labels[1] = (witness.batches[0].labels[1] + 1) % 3;
        let lie = consistent(&s, &statement, &mut witness);
        assert!(!satisfied(&s, &lie, &witness));
    }

    #[test]
    fn a_committed_sample_at_another_position_is_rejected() {
        // The prover trains on a real sample of its tree, with that sample's true path, but
        // not the one the schedule names.
        let s = shape(rule(), 1);
        let (statement, mut witness, data) = honest(&s, 5);
        let scheduled_index = witness.paths[0].leaf_index;
        let other = (scheduled_index + 1) % data.len();
        let (x, y) = data.sample(other);
        witness.batches[0].inputs[..6].copy_from_slice(x);
        witness.batches[0].labels[0] = y;
        witness.paths[0] = data.path(other).unwrap();
        let lie = consistent(&s, &statement, &mut witness);
        assert!(!satisfied(&s, &lie, &witness));
    }

    #[test]
    fn another_data_commitment_count_or_schedule_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, witness, data) = honest(&s, 6);
        assert!(satisfied(&s, &statement, &witness));
        let mut w = witness.clone();
        w.data_salt += Fr::from(1u64);
        assert!(!satisfied(&s, &statement, &w));
        // A larger count under a commitment re-made for it: the schedule's indices move.
        let more = Statement {
            n: 14,
            data: data::commitment(data.root(), 14, witness.data_salt),
            ..statement.clone()
        };
        assert!(!satisfied(&s, &more, &witness));
        let shifted = Statement {
            a0: (statement.a0 + 1) % 13,
            ..statement.clone()
        };
        assert!(!satisfied(&s, &shifted, &witness));
        let other_a = Statement {
            a: 6,
            ..statement.clone()
        };
        assert!(!satisfied(&s, &other_a, &witness));
    }

    #[test]
    fn setup_and_prove_modes_have_the_same_constraints() {
        let s = shape(rule(), 2);
        let (statement, witness, _) = honest(&s, 5);
        let proving = ConstraintSystem::<Fr>::new_ref();
        TrainingCircuit {
            shape: &s,
            statement: Some(&statement),
            witness: Some(&witness),
        }
        .generate_constraints(proving.clone())
        .unwrap();
        let setup = ConstraintSystem::<Fr>::new_ref();
        setup.set_mode(SynthesisMode::Setup);
        TrainingCircuit {
            shape: &s,
            statement: None,
            witness: None,
        }
        .generate_constraints(setup.clone())
        .unwrap();
        assert_eq!(proving.num_constraints(), setup.num_constraints());
        assert_eq!(proving.num_instance_variables(), 1 + PUBLIC_INPUTS);
    }

    #[test]
    fn hostile_shapes_and_inputs_are_refused() {
        // Ranges beyond 2^60 (a wide layer, 24 fractional bits, 8-bit weights) are refused.
        let mut wide = shape(
            Rule {
                frac_bits: 24,
                weight_bits: 8,
                act_bits: 8,
                ..rule()
            },
            1,
        );
        wide.widths = vec![4096, 4096, 10];
        assert!(wide
            .validate()
            .unwrap_err()
            .to_string()
            .contains("intermediate values"));
        let s = shape(rule(), 1);
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let data = random_data(&s, &mut rng);
        let mut start = random_checkpoint(&s, &mut rng, 10);
        start.params[0][0] = s.rule.param_max() + 1;
        let (batches, _, _) = scheduled_batches(&s, &data, &SCHEDULE).unwrap();
        assert!(train(&s, &start, &batches).is_err());
        let start = random_checkpoint(&s, &mut rng, 10);
        let mut bad = batches[0].clone();
        bad.labels[0] = 3;
        assert!(train(&s, &start, &[bad]).is_err());
        let mut bad = batches[0].clone();
        bad.inputs.pop();
        assert!(train(&s, &start, &[bad]).is_err());
        assert!(train(&s, &start, &[]).is_err());
        for schedule in [
            Schedule { a: 0, ..SCHEDULE },
            Schedule { a: 14, ..SCHEDULE },
            Schedule { b: 13, ..SCHEDULE },
            Schedule {
                first_step: u64::MAX / 2,
                ..SCHEDULE
            },
        ] {
            assert!(
                scheduled_batches(&s, &data, &schedule).is_err(),
                "{schedule:?}"
            );
        }
        let deeper = Shape {
            depth: 5,
            ..s.clone()
        };
        assert!(scheduled_batches(&deeper, &data, &SCHEDULE).is_err());
        assert!(Shape {
            steps: 0,
            ..s.clone()
        }
        .validate()
        .is_err());
        assert!(Shape {
            depth: 0,
            ..s.clone()
        }
        .validate()
        .is_err());
        assert!(Shape {
            widths: vec![6],
            ..s.clone()
        }
        .validate()
        .is_err());
        assert!(Shape {
            widths: vec![6, 1],
            ..s.clone()
        }
        .validate()
        .is_err());
    }
}
