//! Hostile key and proof bytes: every decoder returns a value or `Error::Malformed`
//! (never a panic, never an allocation sized by a length it has not checked).

use ark_serialize::CanonicalSerialize;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkpot_prover::encoding::{
    aggregation_key_from_bytes, aggregation_key_to_bytes, pk_from_bytes, pk_to_bytes,
    proof_from_bytes, vk_from_bytes,
};
use zkpot_prover::error::Error;
use zkpot_prover::groth16;
use zkpot_prover::spec::{ModelSpec, TestSet};

/// A 3-input, 2-class model spec small enough that every setup here takes milliseconds.
fn tiny_spec() -> ModelSpec {
    ModelSpec {
        widths: vec![3, 2],
        shifts: vec![],
        input_bits: 2,
        weight_bits: 3,
        bias_bits: 4,
        act_bits: 2,
    }
}

fn tiny_key() -> Vec<u8> {
    let spec = tiny_spec();
    let test = TestSet {
        dim: 3,
        inputs: vec![0, 1, 2, 3, 2, 1],
        labels: vec![0, 1],
    };
    let (key, _) = groth16::setup(&spec, &test, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    pk_to_bytes(&key)
}

/// The byte offsets of the `u64` lengths of the arkworks key's vectors (gamma_abc, then
/// the five queries) and of the matrices' first count.
fn length_fields(bytes: &[u8]) -> Vec<usize> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap()) as usize;
    let layers = u32_at(8);
    let mut off = 8 + 4 + 4 * layers + 4 * (layers - 2) + 16 + 8;
    off += 8 + u64_at(off); // inputs
    off += 8 + u64_at(off); // labels
    off += 64 + 3 * 128; // alpha, beta, gamma, delta
    let mut fields = vec![off];
    off += 8 + 64 * u64_at(off) + 2 * 64;
    for size in [64, 64, 128, 64, 64] {
        fields.push(off);
        off += 8 + size * u64_at(off);
    }
    fields.push(off);
    fields
}

fn malformed<T>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Malformed { .. }))
}

#[test]
fn corrupted_lengths_of_a_proving_key_are_errors() {
    let good = tiny_key();
    assert!(pk_from_bytes(&good).is_ok());
    for at in length_fields(&good) {
        for value in [0u64, 1, 3, 5, 1 << 20, 1 << 40, u64::MAX / 64, u64::MAX] {
            let mut bad = good.clone();
            bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
            assert!(malformed(pk_from_bytes(&bad)), "length {value} at {at}");
        }
    }
}

#[test]
fn truncated_or_extended_proving_keys_are_errors() {
    let good = tiny_key();
    for len in (0..good.len()).step_by(97).chain([good.len() - 1]) {
        assert!(pk_from_bytes(&good[..len]).is_err(), "truncated at {len}");
    }
    let mut long = good.clone();
    long.push(0);
    assert!(malformed(pk_from_bytes(&long)));
}

#[test]
fn a_verifying_key_point_off_the_curve_is_an_error() {
    let good = tiny_key();
    let key = pk_from_bytes(&good).unwrap();
    let mut vk = Vec::new();
    key.pk.vk.serialize_uncompressed(&mut vk).unwrap();
    let at = good.windows(vk.len()).position(|w| w == vk).unwrap();
    let mut bad = good.clone();
    bad[at] ^= 1; // alpha_g1's x coordinate
    assert!(malformed(pk_from_bytes(&bad)));
}

#[test]
fn short_or_garbage_vks_and_proofs_are_errors() {
    assert!(malformed(vk_from_bytes(b"")));
    assert!(malformed(vk_from_bytes(b"ZKPOTVK1")));
    assert!(malformed(vk_from_bytes(
        &[b"ZKPOTVK1".as_slice(), &[0xff; 400]].concat()
    )));
    assert!(malformed(proof_from_bytes(&[0xff; 128])));
    assert!(malformed(proof_from_bytes(&[0; 127])));
}

#[test]
fn only_the_canonical_encoding_of_a_proof_or_vk_decodes() {
    use zkpot_prover::encoding::{proof_to_bytes, vk_to_bytes};
    let key = pk_from_bytes(&tiny_key()).unwrap();
    let vk = vk_to_bytes(&key.pk.vk);
    assert!(vk_from_bytes(&vk).is_ok());
    // A proof whose B is the point at infinity, with garbage in its coordinate bytes.
    let mut proof = proof_to_bytes(&ark_groth16::Proof {
        a: key.pk.vk.alpha_g1,
        b: ark_bn254::G2Affine::identity(),
        c: key.pk.vk.alpha_g1,
    });
    assert!(proof_from_bytes(&proof).is_ok());
    proof[40] ^= 0x11;
    assert!(malformed(proof_from_bytes(&proof)));
    // The same for a verifying key's IC point set to infinity.
    let mut ark = key.pk.vk.clone();
    ark.gamma_abc_g1[1] = ark_bn254::G1Affine::identity();
    let mut bytes = vk_to_bytes(&ark);
    assert!(vk_from_bytes(&bytes).is_ok());
    let ic1 = 8 + 32 + 3 * 64 + 8 + 32; // magic, alpha, beta, gamma, delta, length, IC0
    bytes[ic1 + 10] ^= 0x11;
    assert!(malformed(vk_from_bytes(&bytes)));
}

fn tiny_aggregation_key() -> Vec<u8> {
    let shape = zkpot_prover::aggregation::Shape {
        spec: tiny_spec(),
        capacity: 2,
        frac_bits: 4,
    };
    let (key, _) = groth16::aggregation_setup(&shape, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
    aggregation_key_to_bytes(&key)
}

#[test]
fn an_aggregation_key_round_trips_and_hostile_ones_are_errors() {
    let good = tiny_aggregation_key();
    let key = aggregation_key_from_bytes(&good).unwrap();
    assert_eq!(aggregation_key_to_bytes(&key), good);
    assert_eq!((key.shape.capacity, key.shape.frac_bits), (2, 4));
    for len in (0..good.len()).step_by(61).chain([good.len() - 1]) {
        assert!(
            malformed(aggregation_key_from_bytes(&good[..len])),
            "truncated at {len}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(malformed(aggregation_key_from_bytes(&long)));
    // An accuracy key is not an aggregation key, and the other way round.
    assert!(malformed(aggregation_key_from_bytes(&tiny_key())));
    assert!(malformed(pk_from_bytes(&good)));
    // The capacity field (after the magic and the 2-layer spec: 8 + 4 + 8 + 16 bytes):
    // another capacity, one out of range or a huge one.
    let at = 8 + 4 + 8 + 16;
    assert_eq!(u64::from_le_bytes(good[at..at + 8].try_into().unwrap()), 2);
    for value in [0u64, 1, 3, 65, 1 << 40, u64::MAX] {
        let mut bad = good.clone();
        bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
        assert!(
            malformed(aggregation_key_from_bytes(&bad)),
            "capacity {value}"
        );
    }
    // Fractional bits out of range.
    for value in [0u32, 25, u32::MAX] {
        let mut bad = good.clone();
        bad[at + 8..at + 12].copy_from_slice(&value.to_le_bytes());
        assert!(
            malformed(aggregation_key_from_bytes(&bad)),
            "frac bits {value}"
        );
    }
}

#[test]
fn proof_words_round_trip_and_hostile_words_are_errors() {
    use zkpot_prover::evm::{proof_from_words, proof_words};
    let key = pk_from_bytes(&tiny_key()).unwrap();
    let vk = &key.pk.vk;
    let proof = ark_groth16::Proof {
        a: vk.alpha_g1,
        b: vk.beta_g2,
        c: ark_bn254::G1Affine::identity(),
    };
    let words = proof_words(&proof);
    let slices = |ws: &[[u8; 32]]| ws.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
    let decode =
        |ws: &[Vec<u8>]| proof_from_words(&ws.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(decode(&slices(&words)).unwrap(), proof);
    // Each coordinate off by one leaves its curve (or, for zero C, is a point off it).
    for i in 0..8 {
        let mut bad = slices(&words);
        bad[i][31] ^= 1;
        assert!(malformed(decode(&bad)), "word {i}");
    }
    // A coordinate >= q, a short word, a missing word, an extra word.
    let mut above = slices(&words);
    above[0] = vec![0xff; 32];
    assert!(malformed(decode(&above)));
    let mut short = slices(&words);
    short[3].pop();
    assert!(malformed(decode(&short)));
    assert!(malformed(decode(&slices(&words)[..7])));
    let mut extra = slices(&words);
    extra.push(vec![0; 32]);
    assert!(malformed(decode(&extra)));
}
