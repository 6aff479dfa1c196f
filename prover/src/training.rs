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
use ark_crypto_primitives::sponge::poseidon::PoseidonSponge;
use ark_crypto_primitives::sponge::{CryptographicSponge, FieldBasedCryptographicSponge};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, LinearCombination,
    SynthesisError, SynthesisMode, Variable,
};
use ark_relations::lc;

use crate::commitment::{pack, poseidon_config, sponge_input};
use crate::error::{Error, Result};
use crate::gadgets::commit::enforce_commitment;
use crate::gadgets::fixed::{clip, divide, floor_at, maximum, mul, shift_round, sum, Num};
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
        for l in 0..layers {
            tensor_grad.push(r.batch_shift + act[l] + grad[l] - f + 1);
            tensor_grad.push(r.batch_shift + grad[l]);
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

    /// The update's quotient `shift_round(v, lr_shift + batch_shift)` of tensor `t` lies
    /// in `[−2^e, 2^e)`.
    fn update(&self, rule: &Rule, t: usize) -> u32 {
        let shift = rule.lr_shift + rule.batch_shift;
        let magnitude = rule.momentum_shift.unwrap_or(0) + self.tensor_grad[t];
        magnitude.saturating_sub(shift) + 1
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
        if *self.widths.last().expect("two widths") < 2 {
            return Err(Error::InvalidSpec(
                "a classifier has at least two classes".into(),
            ));
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
    let input = sponge_input(pack(&checkpoint.bits(&bounds)), salt);
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
}

impl Statement {
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.start, self.end]
    }
}

/// The trainer's private knowledge.
#[derive(Clone, Debug)]
pub struct Witness {
    pub start: Checkpoint,
    pub start_salt: Fr,
    pub batches: Vec<Batch>,
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
        for s in 0..shape.steps {
            let batch = allocate_batch(&cs, shape, w.map(|w| &w.batches[s]))?;
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

/// One step's batch in the circuit: inputs `x = q · 2^(F − input_bits)` with `q`
/// range-checked, and one-hot labels.
struct BatchWires {
    x: Vec<Vec<Num>>,
    onehot: Vec<Vec<Num>>,
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
    for s in 0..b {
        let mut row = Vec::with_capacity(d);
        for i in 0..d {
            let q = batch.map(|bt| i64::from(bt.inputs[s * d + i]));
            let var = witness(cs, q.map(fr))?;
            let bits = q.map(|v| bits_of(v as u128, r.input_bits));
            decompose(cs, lc!() + var, bits.as_deref(), r.input_bits)?;
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
        onehot.push(hot);
    }
    Ok(BatchWires { x, onehot })
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
                let z = rescale_signed(cs, &s, f, bounds.forward[l])?.add(&bias[j]);
                if l + 1 == layers {
                    out.push(z);
                } else {
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
                gw.push(rescale_signed(cs, &s, f, bounds.tensor_grad[2 * l])?);
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
    let shift = r.lr_shift + r.batch_shift;
    let top = r.param_max();
    let mut params = Vec::with_capacity(2 * layers);
    let mut velocity = Vec::new();
    for (t, (p, gt)) in state.params.iter().zip(&grads).enumerate() {
        let eu = bounds.update(r, t);
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
            let u = pi.sub(&rescale_signed(cs, &v, shift, eu)?);
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
            let p = divide(cs, &num, &total, f + 1, r_bits)?;
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

/// The statement and witness of training `start` on `batches`.
pub fn witness_of(
    shape: &Shape,
    start: &Checkpoint,
    start_salt: Fr,
    batches: &[Batch],
    end_salt: Fr,
) -> Result<(Statement, Witness)> {
    let end = train(shape, start, batches)?;
    let statement = Statement {
        start: commit(shape, start, start_salt)?,
        end: commit(shape, &end, end_salt)?,
    };
    Ok((
        statement,
        Witness {
            start: start.clone(),
            start_salt,
            batches: batches.to_vec(),
            end,
            end_salt,
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

    fn random_batch(shape: &Shape, rng: &mut ChaCha20Rng) -> Batch {
        let b = shape.rule.batch_size();
        let classes = *shape.widths.last().unwrap() as u8;
        Batch {
            inputs: (0..b * shape.widths[0]).map(|_| rng.gen()).collect(),
            labels: (0..b).map(|_| rng.gen_range(0..classes)).collect(),
        }
    }

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

    fn honest(shape: &Shape, seed: u64, scale: i64) -> (Statement, Witness) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let start = random_checkpoint(shape, &mut rng, scale);
        let batches: Vec<Batch> = (0..shape.steps)
            .map(|_| random_batch(shape, &mut rng))
            .collect();
        witness_of(
            shape,
            &start,
            Fr::rand(&mut rng),
            &batches,
            Fr::rand(&mut rng),
        )
        .unwrap()
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
            let (statement, witness) = honest(&s, 1, 1 << 17);
            assert!(satisfied(&s, &statement, &witness), "{loss:?} {momentum:?}");
        }
    }

    #[test]
    fn extreme_parameters_stay_inside_every_range() {
        // Every weight at ±(2^(F+wb) − 1) and inputs at their maximum: the widest honest
        // values the bounds are derived for.
        let s = shape(rule(), 1);
        let top = s.rule.param_max();
        let bounds = s.validate().unwrap();
        for sign in [1i64, -1] {
            let start = Checkpoint {
                params: (0..4).map(|t| vec![sign * top; s.tensor_len(t)]).collect(),
                velocity: (0..4)
                    .map(|t| {
                        vec![sign * ((1i64 << (bounds.velocity_bits[t] - 2)) - 1); s.tensor_len(t)]
                    })
                    .collect(),
            };
            let batch = Batch {
                inputs: vec![255; 4 * 6],
                labels: vec![0, 1, 2, 0],
            };
            let (statement, witness) =
                witness_of(&s, &start, Fr::from(1u64), &[batch], Fr::from(2u64)).unwrap();
            assert!(satisfied(&s, &statement, &witness), "sign {sign}");
        }
    }

    #[test]
    fn a_claimed_end_that_is_not_the_trained_one_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, witness) = honest(&s, 2, 1 << 17);
        let mut forged = witness.clone();
        forged.end.params[0][3] += 1;
        let lie = Statement {
            start: statement.start,
            end: commit(&s, &forged.end, forged.end_salt).unwrap(),
        };
        assert!(!satisfied(&s, &lie, &forged));
        let mut forged = witness.clone();
        forged.end.velocity[1][0] -= 1;
        let lie = Statement {
            start: statement.start,
            end: commit(&s, &forged.end, forged.end_salt).unwrap(),
        };
        assert!(!satisfied(&s, &lie, &forged));
    }

    #[test]
    fn a_start_that_does_not_open_its_commitment_is_rejected() {
        let s = shape(rule(), 1);
        let (statement, mut witness) = honest(&s, 3, 1 << 17);
        witness.start.params[2][0] += 1;
        assert!(!satisfied(&s, &statement, &witness));
        let (statement, mut witness) = honest(&s, 3, 1 << 17);
        witness.start_salt += Fr::from(1u64);
        assert!(!satisfied(&s, &statement, &witness));
    }

    #[test]
    fn the_end_depends_on_the_batch() {
        let s = shape(rule(), 1);
        let (statement, mut witness) = honest(&s, 4, 1 << 17);
        witness.batches[0].labels[0] = (witness.batches[0].labels[0] + 1) % 3;
        assert!(!satisfied(&s, &statement, &witness));
        let (statement, mut witness) = honest(&s, 4, 1 << 17);
        witness.batches[0].inputs[5] ^= 1;
        assert!(!satisfied(&s, &statement, &witness));
    }

    #[test]
    fn setup_and_prove_modes_have_the_same_constraints() {
        let s = shape(rule(), 2);
        let (statement, witness) = honest(&s, 5, 1 << 17);
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
        assert_eq!(proving.num_instance_variables(), 3);
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
        let mut start = random_checkpoint(&s, &mut rng, 10);
        start.params[0][0] = s.rule.param_max() + 1;
        let batch = random_batch(&s, &mut rng);
        assert!(train(&s, &start, std::slice::from_ref(&batch)).is_err());
        let start = random_checkpoint(&s, &mut rng, 10);
        let mut bad = batch.clone();
        bad.labels[0] = 3;
        assert!(train(&s, &start, &[bad]).is_err());
        let mut bad = batch.clone();
        bad.inputs.pop();
        assert!(train(&s, &start, &[bad]).is_err());
        assert!(train(&s, &start, &[]).is_err());
        assert!(Shape {
            steps: 0,
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
