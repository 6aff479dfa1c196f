//! The data commitment: a participant's quantised local dataset as a Poseidon Merkle tree
//! (ark-crypto-primitives' `MerkleTree` with its Poseidon configuration), published as
//! `C_D = Poseidon(root, n, salt)` so that the root stays hidden and the sample count `n`
//! is bound to it.
//!
//! Leaf `i` is `Poseidon(#words, words…)` over sample `i`'s offset bits: every input in
//! `input_bits` bits, then the label in `label_bits(classes)` bits, packed 248 bits a word
//! as the model commitment packs its bits. The tree has `2^depth` leaves; those past `n`
//! hold the one-element input `[0]`, which no sample's encoding (at least two elements)
//! equals. The depth is a constant of the task, so every path has the same length.

use ark_bn254::Fr;
use ark_crypto_primitives::crh::poseidon::constraints::{CRHGadget, TwoToOneCRHGadget};
use ark_crypto_primitives::crh::poseidon::CRH;
use ark_crypto_primitives::crh::CRHScheme;
use ark_crypto_primitives::merkle_tree::configs::PoseidonMerkleConfig;
use ark_crypto_primitives::merkle_tree::constraints::ConfigGadget;
use ark_crypto_primitives::merkle_tree::{IdentityDigestConverter, MerkleTree, Path};
use ark_ff::Zero;
use ark_r1cs_std::fields::fp::FpVar;

use crate::commitment::{counted_words, poseidon_config};
use crate::error::{Error, Result};
use crate::gadgets::range::bits_of;

/// Deepest data tree a task may fix: a million samples per participant (building a tree
/// hashes all `2^depth` leaves, so this bounds what a hostile task can make a node do).
pub const MAX_DEPTH: u32 = 20;

pub type DataConfig = PoseidonMerkleConfig<Fr>;

/// The in-circuit counterpart of [`DataConfig`].
pub struct DataConfigVar;

impl ConfigGadget<DataConfig, Fr> for DataConfigVar {
    type Leaf = [FpVar<Fr>];
    type LeafDigest = FpVar<Fr>;
    type LeafInnerConverter = IdentityDigestConverter<FpVar<Fr>>;
    type InnerDigest = FpVar<Fr>;
    type LeafHash = CRHGadget<Fr>;
    type TwoToOneHash = TwoToOneCRHGadget<Fr>;
}

/// Bits of a label below `classes`.
pub fn label_bits(classes: usize) -> u32 {
    usize::BITS - classes.saturating_sub(1).leading_zeros()
}

/// The bits of one sample's leaf, least significant first: inputs, then the label.
pub fn sample_bits(inputs: &[u8], label: u8, input_bits: u32, classes: usize) -> Vec<bool> {
    let mut bits: Vec<bool> = inputs
        .iter()
        .flat_map(|&q| bits_of(u128::from(q), input_bits))
        .collect();
    bits.extend(bits_of(u128::from(label), label_bits(classes)));
    bits
}

/// `C_D = Poseidon(root, n, salt)`.
pub fn commitment(root: Fr, n: u64, salt: Fr) -> Fr {
    CRH::<Fr>::evaluate(poseidon_config(), [root, Fr::from(n), salt].as_slice())
        .expect("Poseidon over three elements")
}

/// A participant's dataset with its tree.
pub struct DataTree {
    pub dim: usize,
    pub classes: usize,
    pub input_bits: u32,
    pub depth: u32,
    pub inputs: Vec<u8>,
    pub labels: Vec<u8>,
    tree: MerkleTree<DataConfig>,
}

impl DataTree {
    /// Builds the tree of `labels.len()` samples of `dim` inputs each (row-major).
    pub fn new(
        inputs: Vec<u8>,
        labels: Vec<u8>,
        dim: usize,
        classes: usize,
        input_bits: u32,
        depth: u32,
    ) -> Result<Self> {
        let bad = |what: String| Err(Error::InvalidModel(what));
        if !(1..=MAX_DEPTH).contains(&depth) {
            return bad(format!(
                "a data tree's depth must be in 1..={MAX_DEPTH}, got {depth}"
            ));
        }
        let n = labels.len();
        if n == 0 || n > 1 << depth {
            return bad(format!(
                "a tree of depth {depth} holds 1..={} samples, got {n}",
                1u64 << depth
            ));
        }
        if dim == 0 || inputs.len() != n.saturating_mul(dim) {
            return bad(format!(
                "{} inputs are not {n} samples of {dim}",
                inputs.len()
            ));
        }
        if !(1..=8).contains(&input_bits) || inputs.iter().any(|&q| u32::from(q) >> input_bits != 0)
        {
            return bad(format!("inputs must be {input_bits}-bit integers"));
        }
        if !(2..=256).contains(&classes) || labels.iter().any(|&y| usize::from(y) >= classes) {
            return bad(format!("labels must be below {classes}"));
        }
        let mut leaves: Vec<Vec<Fr>> = (0..n)
            .map(|i| {
                counted_words(&sample_bits(
                    &inputs[i * dim..(i + 1) * dim],
                    labels[i],
                    input_bits,
                    classes,
                ))
            })
            .collect();
        leaves.resize(1 << depth, vec![Fr::zero()]);
        let params = poseidon_config();
        let tree = MerkleTree::<DataConfig>::new(params, params, leaves)
            .map_err(|e| Error::InvalidModel(format!("the data tree: {e}")))?;
        Ok(DataTree {
            dim,
            classes,
            input_bits,
            depth,
            inputs,
            labels,
            tree,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn root(&self) -> Fr {
        self.tree.root()
    }

    pub fn sample(&self, i: usize) -> (&[u8], u8) {
        (
            &self.inputs[i * self.dim..(i + 1) * self.dim],
            self.labels[i],
        )
    }

    /// The authentication path of sample `i < n`.
    pub fn path(&self, i: usize) -> Result<Path<DataConfig>> {
        if i >= self.len() {
            return Err(Error::InvalidModel(format!(
                "no sample {i} among {}",
                self.len()
            )));
        }
        self.tree
            .generate_proof(i)
            .map_err(|e| Error::InvalidModel(format!("the data tree: {e}")))
    }
}

/// A path of the right shape for key generation (its values are never read).
pub fn blank_path(depth: u32) -> Path<DataConfig> {
    Path {
        leaf_sibling_hash: Fr::zero(),
        auth_path: vec![Fr::zero(); depth as usize - 1],
        leaf_index: 0,
    }
}

/// The sample at position `p` of the schedule `(a, b)`: `(a · p + b) mod n`.
pub fn scheduled(n: u64, a: u64, b: u64, p: u64) -> u64 {
    ((u128::from(a) * u128::from(p) + u128::from(b)) % u128::from(n)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: usize) -> DataTree {
        let inputs: Vec<u8> = (0..n * 5).map(|i| (i * 37 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        DataTree::new(inputs, labels, 5, 3, 8, 4).unwrap()
    }

    #[test]
    fn every_path_verifies_against_the_root_and_only_for_its_sample() {
        let t = tree(11);
        let params = poseidon_config();
        for i in 0..11 {
            let (x, y) = t.sample(i);
            let leaf = counted_words(&sample_bits(x, y, 8, 3));
            let path = t.path(i).unwrap();
            assert!(path
                .verify(params, params, &t.root(), leaf.as_slice())
                .unwrap());
            let other = counted_words(&sample_bits(x, (y + 1) % 3, 8, 3));
            assert!(!path
                .verify(params, params, &t.root(), other.as_slice())
                .unwrap());
        }
        assert!(t.path(11).is_err());
    }

    #[test]
    fn the_commitment_binds_root_count_and_salt() {
        let t = tree(11);
        let c = commitment(t.root(), 11, Fr::from(5u64));
        assert_ne!(c, commitment(t.root(), 12, Fr::from(5u64)));
        assert_ne!(c, commitment(t.root(), 11, Fr::from(6u64)));
        assert_ne!(c, commitment(tree(10).root(), 11, Fr::from(5u64)));
    }

    #[test]
    fn hostile_datasets_are_refused() {
        assert!(DataTree::new(vec![0; 10], vec![0, 1], 5, 3, 8, 0).is_err());
        assert!(DataTree::new(vec![0; 10], vec![0, 1], 5, 3, 8, 21).is_err());
        assert!(DataTree::new(vec![0; 9], vec![0, 1], 5, 3, 8, 4).is_err());
        assert!(DataTree::new(vec![0; 10], vec![0, 3], 5, 3, 8, 4).is_err());
        assert!(DataTree::new(vec![16; 10], vec![0, 1], 5, 3, 4, 4).is_err());
        assert!(DataTree::new(vec![0; 85], vec![0; 17], 5, 3, 8, 4).is_err());
        assert!(DataTree::new(vec![], vec![], 5, 3, 8, 4).is_err());
    }

    #[test]
    fn the_schedule_is_affine_mod_n() {
        assert_eq!(scheduled(10, 3, 4, 0), 4);
        assert_eq!(scheduled(10, 3, 4, 5), 9);
        assert_eq!(scheduled(u64::MAX, u64::MAX - 1, 1, u64::MAX - 1), 2);
    }
}
