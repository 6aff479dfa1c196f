//! The hiding model commitment `C = Poseidon(len, packed parameters..., salt)`.
//!
//! Every parameter is offset to an unsigned value of its bit width and its bits are
//! concatenated (least significant first) in canonical order; the bit string is cut into
//! 248-bit words, each a field element. The salt makes the commitment hiding.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::poseidon::{
    find_poseidon_ark_and_mds, PoseidonConfig, PoseidonSponge,
};
use ark_crypto_primitives::sponge::{CryptographicSponge, FieldBasedCryptographicSponge};
use ark_ff::{BigInteger, PrimeField};

use crate::spec::{ModelSpec, QuantizedModel};

/// Bits packed into one field element.
pub const WORD_BITS: usize = 248;

/// Poseidon over BN254 with x^5 S-boxes, width 5 (rate 4, capacity 1), 8 full and 60
/// partial rounds, round constants and MDS matrix from the reference Grain LFSR.
pub fn poseidon_config() -> &'static PoseidonConfig<Fr> {
    static CONFIG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (rate, full, partial) = (4, 8, 60);
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
            u64::from(Fr::MODULUS_BIT_SIZE),
            rate,
            full,
            partial,
            0,
        );
        PoseidonConfig::new(full as usize, partial as usize, 5, mds, ark, rate, 1)
    })
}

/// The parameter bits in canonical order: `(v + 2^(b-1))` in `b` bits, least significant first.
pub fn parameter_bits(spec: &ModelSpec, model: &QuantizedModel) -> Vec<bool> {
    model
        .canonical(spec)
        .flat_map(|(v, bits)| {
            let u = (v + (1i64 << (bits - 1))) as u64;
            (0..bits).map(move |i| (u >> i) & 1 == 1)
        })
        .collect()
}

/// Number of parameter bits of a model of this spec.
pub fn parameter_bit_count(spec: &ModelSpec) -> usize {
    (0..spec.num_layers())
        .map(|l| {
            spec.weight_count(l) * spec.weight_bits as usize
                + spec.widths[l + 1] * spec.bias_bits as usize
        })
        .sum()
}

/// Packs bits into 248-bit field elements.
pub fn pack(bits: &[bool]) -> Vec<Fr> {
    bits.chunks(WORD_BITS)
        .map(|chunk| Fr::from_bigint(BigInteger::from_bits_le(chunk)).expect("248 bits < r"))
        .collect()
}

/// `[#words, words…]`: bits packed into words, prefixed by their number (the layout that
/// commitments and data-tree leaves hash).
pub fn counted_words(bits: &[bool]) -> Vec<Fr> {
    let words = pack(bits);
    let mut input = Vec::with_capacity(words.len() + 2);
    input.push(Fr::from(words.len() as u64));
    input.extend(words);
    input
}

/// The sponge's input: the counted words of `bits`, then the salt.
pub fn sponge_input(bits: &[bool], salt: Fr) -> Vec<Fr> {
    let mut input = counted_words(bits);
    input.push(salt);
    input
}

pub fn commit(spec: &ModelSpec, model: &QuantizedModel, salt: Fr) -> Fr {
    let input = sponge_input(&parameter_bits(spec, model), salt);
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&input);
    sponge.squeeze_native_field_elements(1)[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ModelSpec {
        ModelSpec {
            widths: vec![3, 2],
            shifts: vec![],
            input_bits: 8,
            weight_bits: 8,
            bias_bits: 12,
            act_bits: 8,
        }
    }

    fn model() -> QuantizedModel {
        QuantizedModel {
            weights: vec![vec![-128, 127, 0, 5, -5, 1]],
            biases: vec![vec![-2048, 2047]],
        }
    }

    #[test]
    fn bits_are_offset_and_little_endian() {
        let bits = parameter_bits(&spec(), &model());
        assert_eq!(bits.len(), parameter_bit_count(&spec()));
        // -128 + 128 = 0 -> eight zeros; 127 + 128 = 255 -> eight ones.
        assert!(bits[..8].iter().all(|b| !b));
        assert!(bits[8..16].iter().all(|&b| b));
    }

    #[test]
    fn commitment_binds_every_parameter_and_the_salt() {
        let (s, m) = (spec(), model());
        let c = commit(&s, &m, Fr::from(7u64));
        assert_eq!(c, commit(&s, &m, Fr::from(7u64)));
        assert_ne!(c, commit(&s, &m, Fr::from(8u64)));
        let mut m2 = m.clone();
        m2.biases[0][1] -= 1;
        assert_ne!(c, commit(&s, &m2, Fr::from(7u64)));
    }
}
