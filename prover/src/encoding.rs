//! Compact, versioned byte encodings of keys and proofs.
//!
//! A proof is its 128-byte compressed form. Keys start with a magic tag and carry the
//! task's spec and test set, so a key can never be used with another circuit. Anything
//! decoded is validated: points on the curve and in the subgroup, sizes, trailing bytes.

use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Proof, ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};

use crate::aggregation::Shape;
use crate::error::{Error, Result};
use crate::groth16::{AggregationKey, ProverKey};
use crate::r1cs::{Matrices, SparseRows};
use crate::spec::{ModelSpec, TestSet};

const PK_MAGIC: &[u8; 8] = b"ZKPOTPK2";
const VK_MAGIC: &[u8; 8] = b"ZKPOTVK1";
const AGGREGATION_MAGIC: &[u8; 8] = b"ZKPOTAK1";

fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        reason: reason.into(),
    }
}

/// A field element from 32 big-endian bytes; values `>= r` are rejected, not reduced.
pub fn field_from_be(bytes: &[u8]) -> Result<Fr> {
    let bytes: &[u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::InvalidField(format!("expected 32 bytes, got {}", bytes.len())))?;
    prime_from_be(bytes).ok_or_else(|| {
        Error::InvalidField("value is not below the BN254 scalar field order".into())
    })
}

/// The element of `F` with these 32 big-endian bytes, or None if the value is not below
/// the field's modulus (never reduced).
pub fn prime_from_be<F: PrimeField>(bytes: &[u8; 32]) -> Option<F> {
    let bits: Vec<bool> = bytes
        .iter()
        .rev()
        .flat_map(|b| (0..8).map(move |i| (b >> i) & 1 == 1))
        .collect();
    F::from_bigint(BigInteger::from_bits_le(&bits))
}

pub fn field_to_be(x: &Fr) -> [u8; 32] {
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    out
}

pub fn proof_to_bytes(proof: &Proof<Bn254>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    proof
        .serialize_compressed(&mut out)
        .expect("writing to a vector");
    out
}

pub fn proof_from_bytes(bytes: &[u8]) -> Result<Proof<Bn254>> {
    if bytes.len() != 128 {
        return Err(malformed(
            "proof",
            format!("expected 128 bytes, got {}", bytes.len()),
        ));
    }
    let proof = Proof::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes)
        .map_err(|e| malformed("proof", e.to_string()))?;
    // The point at infinity ignores its coordinate bytes: only one encoding is accepted.
    if proof_to_bytes(&proof) != bytes {
        return Err(malformed("proof", "not the canonical encoding"));
    }
    Ok(proof)
}

pub fn vk_to_bytes(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    let mut out = VK_MAGIC.to_vec();
    vk.serialize_compressed(&mut out)
        .expect("writing to a vector");
    out
}

pub fn vk_from_bytes(bytes: &[u8]) -> Result<VerifyingKey<Bn254>> {
    let body = bytes
        .strip_prefix(VK_MAGIC.as_slice())
        .ok_or_else(|| malformed("verifying key", "bad magic"))?;
    let mut reader = body;
    let vk = VerifyingKey::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
        .map_err(|e| malformed("verifying key", e.to_string()))?;
    if !reader.is_empty() {
        return Err(malformed("verifying key", "trailing bytes"));
    }
    if vk.gamma_abc_g1.len() != 4 {
        return Err(malformed(
            "verifying key",
            "not a key for three public inputs",
        ));
    }
    if vk_to_bytes(&vk) != bytes {
        return Err(malformed("verifying key", "not the canonical encoding"));
    }
    Ok(vk)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend(v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend(b);
    }
}

struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(malformed(self.what, "truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| malformed(self.what, "length overflow"))?;
        self.take(n)
    }
    /// A `u64` count of items of `item_bytes` each, checked against the bytes that remain
    /// before anything is allocated for them.
    fn count(&mut self, item_bytes: usize) -> Result<usize> {
        let n = usize::try_from(self.u64()?).map_err(|_| malformed(self.what, "size overflow"))?;
        if n.checked_mul(item_bytes)
            .is_none_or(|b| b > self.rest.len())
        {
            return Err(malformed(self.what, "a count exceeds the data"));
        }
        Ok(n)
    }
    /// The next `u64`, not consumed.
    fn clone_count(&self) -> Result<u64> {
        Reader {
            rest: self.rest,
            what: self.what,
        }
        .u64()
    }
    /// One canonical (arkworks, uncompressed) value of exactly `size` bytes.
    fn point<T: CanonicalDeserialize>(&mut self, size: usize, validate: Validate) -> Result<T> {
        let what = self.what;
        T::deserialize_with_mode(self.take(size)?, Compress::No, validate)
            .map_err(|e| malformed(what, e.to_string()))
    }
    /// An arkworks `Vec` of uncompressed points: its `u64` length, checked against the
    /// remaining bytes, then the points.
    fn points<T: CanonicalDeserialize>(
        &mut self,
        size: usize,
        validate: Validate,
    ) -> Result<Vec<T>> {
        let n = self.count(size)?;
        (0..n).map(|_| self.point(size, validate)).collect()
    }
}

const G1_BYTES: usize = 64;
const G2_BYTES: usize = 128;

/// The arkworks proving key (uncompressed), read field by field so that no length is
/// trusted before it is checked against the data. The verifying key's points are
/// validated (on the curve, in the subgroup); the queries are not (see `pk_from_bytes`).
fn decode_groth16_pk(r: &mut Reader, inputs: usize) -> Result<ProvingKey<Bn254>> {
    let alpha_g1 = r.point::<G1Affine>(G1_BYTES, Validate::Yes)?;
    let beta_g2 = r.point::<G2Affine>(G2_BYTES, Validate::Yes)?;
    let gamma_g2 = r.point::<G2Affine>(G2_BYTES, Validate::Yes)?;
    let delta_g2 = r.point::<G2Affine>(G2_BYTES, Validate::Yes)?;
    if r.clone_count()? != inputs as u64 + 1 {
        return Err(malformed(
            r.what,
            "not a key for this statement's public inputs",
        ));
    }
    let gamma_abc_g1 = r.points::<G1Affine>(G1_BYTES, Validate::Yes)?;
    let vk = VerifyingKey {
        alpha_g1,
        beta_g2,
        gamma_g2,
        delta_g2,
        gamma_abc_g1,
    };
    Ok(ProvingKey {
        vk,
        beta_g1: r.point(G1_BYTES, Validate::Yes)?,
        delta_g1: r.point(G1_BYTES, Validate::Yes)?,
        a_query: r.points(G1_BYTES, Validate::No)?,
        b_g1_query: r.points(G1_BYTES, Validate::No)?,
        b_g2_query: r.points(G2_BYTES, Validate::No)?,
        h_query: r.points(G1_BYTES, Validate::No)?,
        l_query: r.points(G1_BYTES, Validate::No)?,
    })
}

pub fn encode_spec(spec: &ModelSpec, out: &mut Vec<u8>) {
    let mut w = Writer(std::mem::take(out));
    w.u32(spec.widths.len() as u32);
    spec.widths.iter().for_each(|&x| w.u32(x as u32));
    spec.shifts.iter().for_each(|&k| w.u32(k));
    for bits in [
        spec.input_bits,
        spec.weight_bits,
        spec.bias_bits,
        spec.act_bits,
    ] {
        w.u32(bits);
    }
    *out = w.0;
}

fn decode_spec(r: &mut Reader) -> Result<ModelSpec> {
    let layers = r.u32()? as usize;
    if !(2..=64).contains(&layers) {
        return Err(malformed(r.what, "implausible layer count"));
    }
    let widths = (0..layers)
        .map(|_| r.u32().map(|x| x as usize))
        .collect::<Result<Vec<_>>>()?;
    let shifts = (0..layers - 2)
        .map(|_| r.u32())
        .collect::<Result<Vec<_>>>()?;
    let spec = ModelSpec {
        widths,
        shifts,
        input_bits: r.u32()?,
        weight_bits: r.u32()?,
        bias_bits: r.u32()?,
        act_bits: r.u32()?,
    };
    spec.validate()?;
    Ok(spec)
}

pub fn pk_to_bytes(key: &ProverKey) -> Vec<u8> {
    let mut out = PK_MAGIC.to_vec();
    encode_spec(&key.spec, &mut out);
    let mut w = Writer(out);
    w.u64(key.test.dim as u64);
    w.bytes(&key.test.inputs);
    w.bytes(&key.test.labels);
    key.pk
        .serialize_uncompressed(&mut w.0)
        .expect("writing to a vector");
    encode_matrices(&key.matrices, &mut w);
    w.0
}

/// The constraint matrices: sizes, the distinct coefficients (32 bytes each), then for
/// each of A, B, C its entry count, every row's length (`u32`) and every entry as
/// `(u32 column, u32 coefficient index)`.
fn encode_matrices(m: &Matrices, w: &mut Writer) {
    w.u64(m.num_instance as u64);
    w.u64(m.num_witness as u64);
    w.u64(m.num_constraints as u64);
    w.u64(m.coefficients.len() as u64);
    for c in &m.coefficients {
        c.serialize_uncompressed(&mut w.0)
            .expect("writing to a vector");
    }
    for rows in [&m.a, &m.b, &m.c] {
        w.u64(rows.entries.len() as u64);
        for pair in rows.starts.windows(2) {
            w.u32(pair[1] - pair[0]);
        }
        for &(col, k) in &rows.entries {
            w.u32(col);
            w.u32(k);
        }
    }
}

fn decode_matrices(r: &mut Reader) -> Result<Matrices> {
    let what = r.what;
    // Every count is checked against the bytes that remain before anything is allocated.
    let count = |r: &mut Reader, item_bytes: usize| r.count(item_bytes);
    let num_instance = count(r, 0)?;
    let num_witness = count(r, 0)?;
    let num_constraints = count(r, 4)?;
    if num_instance > u32::MAX as usize || num_witness > u32::MAX as usize {
        return Err(malformed(what, "too many variables"));
    }
    let coefficients = (0..count(r, 32)?)
        .map(|_| {
            Fr::deserialize_uncompressed(r.take(32)?).map_err(|e| malformed(what, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(3);
    for _ in 0..3 {
        let entries = count(r, 8)?;
        if entries > u32::MAX as usize || num_constraints * 4 + entries * 8 > r.rest.len() {
            return Err(malformed(what, "a matrix exceeds the data"));
        }
        let mut starts = Vec::with_capacity(num_constraints + 1);
        starts.push(0u32);
        let mut end = 0u64;
        for _ in 0..num_constraints {
            end += u64::from(r.u32()?);
            starts.push(u32::try_from(end).map_err(|_| malformed(what, "row lengths overflow"))?);
        }
        if end != entries as u64 {
            return Err(malformed(
                what,
                "row lengths do not add up to the entry count",
            ));
        }
        let body = r.take(entries * 8)?;
        let pairs = body
            .chunks_exact(8)
            .map(|e| {
                let word = |i: usize| u32::from_le_bytes(e[i..i + 4].try_into().expect("4 bytes"));
                (word(0), word(4))
            })
            .collect();
        rows.push(SparseRows {
            starts,
            entries: pairs,
        });
    }
    let c = rows.pop().expect("three matrices");
    let b = rows.pop().expect("three matrices");
    let a = rows.pop().expect("three matrices");
    let matrices = Matrices {
        num_instance,
        num_witness,
        num_constraints,
        coefficients,
        a,
        b,
        c,
    };
    matrices.validate()?;
    Ok(matrices)
}

/// Decodes a proving key with its circuit's matrices. Every length is checked against the
/// bytes that remain before it is allocated, and the key's parts must fit together (query
/// lengths, evaluation domain, three public inputs). The verifying key's points are
/// validated; the queries are not (that would cost minutes): a corrupted query yields
/// proofs that fail to verify.
pub fn pk_from_bytes(bytes: &[u8]) -> Result<ProverKey> {
    let what = "proving key";
    let body = bytes
        .strip_prefix(PK_MAGIC.as_slice())
        .ok_or_else(|| malformed(what, "bad magic"))?;
    let mut r = Reader { rest: body, what };
    let spec = decode_spec(&mut r)?;
    let dim = usize::try_from(r.u64()?).map_err(|_| malformed(what, "bad dimension"))?;
    let test = TestSet {
        dim,
        inputs: r.bytes()?.to_vec(),
        labels: r.bytes()?.to_vec(),
    };
    test.validate(&spec)?;
    let (pk, matrices) = decode_key_and_matrices(&mut r, 3)?;
    Ok(ProverKey {
        spec,
        test,
        pk,
        matrices,
    })
}

/// The Groth16 key and the circuit's matrices of a statement with `inputs` public inputs,
/// which must be the rest of the data and fit together (query lengths, evaluation domain).
fn decode_key_and_matrices(r: &mut Reader, inputs: usize) -> Result<(ProvingKey<Bn254>, Matrices)> {
    let what = r.what;
    let pk = decode_groth16_pk(r, inputs)?;
    let matrices = decode_matrices(r)?;
    if !r.rest.is_empty() {
        return Err(malformed(what, "trailing bytes"));
    }
    let expected = matrices.num_variables();
    if pk.a_query.len() != expected
        || pk.b_g1_query.len() != expected
        || pk.b_g2_query.len() != expected
        || pk.l_query.len() + matrices.num_instance != expected
        || matrices.num_instance != inputs + 1
        || pk.vk.gamma_abc_g1.len() != inputs + 1
        || Some(pk.h_query.len() + 1) != domain_size(&matrices)
    {
        return Err(malformed(
            what,
            "the key and its matrices do not belong together",
        ));
    }
    Ok((pk, matrices))
}

/// An aggregation key: magic, the shape (spec, capacity, fractional bits), the Groth16
/// key and the circuit's matrices.
pub fn aggregation_key_to_bytes(key: &AggregationKey) -> Vec<u8> {
    let mut out = AGGREGATION_MAGIC.to_vec();
    encode_spec(&key.shape.spec, &mut out);
    let mut w = Writer(out);
    w.u64(key.shape.capacity as u64);
    w.u32(key.shape.frac_bits);
    key.pk
        .serialize_uncompressed(&mut w.0)
        .expect("writing to a vector");
    encode_matrices(&key.matrices, &mut w);
    w.0
}

/// Decodes an aggregation key, with the checks of [`pk_from_bytes`]; the shape must be
/// valid and the key's statement must have its `1 + 2 * capacity` public inputs.
pub fn aggregation_key_from_bytes(bytes: &[u8]) -> Result<AggregationKey> {
    let what = "aggregation key";
    let body = bytes
        .strip_prefix(AGGREGATION_MAGIC.as_slice())
        .ok_or_else(|| malformed(what, "bad magic"))?;
    let mut r = Reader { rest: body, what };
    let spec = decode_spec(&mut r)?;
    let capacity = usize::try_from(r.u64()?).map_err(|_| malformed(what, "bad capacity"))?;
    let shape = Shape {
        spec,
        capacity,
        frac_bits: r.u32()?,
    };
    shape
        .validate()
        .map_err(|e| malformed(what, e.to_string()))?;
    let (pk, matrices) = decode_key_and_matrices(&mut r, 1 + 2 * capacity)?;
    Ok(AggregationKey {
        shape,
        pk,
        matrices,
    })
}

/// Points in the evaluation domain of the circuit with these matrices.
fn domain_size(m: &Matrices) -> Option<usize> {
    use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
    GeneralEvaluationDomain::<Fr>::new(m.num_constraints + m.num_instance).map(|d| d.size())
}

fn io_error(what: &'static str, path: &std::path::Path, e: std::io::Error) -> Error {
    malformed(what, format!("{}: {e}", path.display()))
}

/// Reads and decodes a proving key file.
pub fn pk_load(path: &std::path::Path) -> Result<ProverKey> {
    let bytes = std::fs::read(path).map_err(|e| io_error("proving key", path, e))?;
    pk_from_bytes(&bytes)
}

/// Writes a proving key file atomically: a temporary file beside it, then a rename.
pub fn pk_save(key: &ProverKey, path: &std::path::Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&pk_to_bytes(key))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| io_error("proving key", path, e))
}
