"""Writes the seed corpora (fuzz/corpus/<harness>/): small valid inputs and near-valid
ones (truncated, one byte changed), from a real proving key, verifying key and proof of a
tiny digits task. ``python -m fuzz.seeds`` regenerates them; they are committed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus"


def _variants(data: bytes) -> list[bytes]:
    """The input, two truncations and a one-byte change in the middle."""
    flipped = bytearray(data)
    if flipped:
        flipped[len(flipped) // 2] ^= 0x5A
    return [data, data[: len(data) // 2], data[: max(len(data) - 1, 0)], bytes(flipped)]


def _seeds() -> dict[str, list[bytes]]:
    from eth_account import Account

    from fuzz.harnesses import RECIPIENT_ADDRESS, RECIPIENT_PRIVATE
    from zkpot import proving
    from zkpot.exchange import ModelPackage, params_to_bytes, seal_global
    from zkpot.learning.datasets import load_digits
    from zkpot.learning.integer_model import ModelSpec, QuantizedModel
    from zkpot.node.keys import identity_to_json
    from zkpot.node.manifest import TaskManifest, TaskRef
    from zkpot.node.state import ParticipantState, Stage
    from zkpot.onramp.artefacts import PROOF_FORMAT
    from zkpot.participant import Identity
    from zkpot.store.cid import build_dag
    from zkpot.store.sealed import KeyPair, encrypt, public_key, seal

    # A tiny digits task: 64 pixels of 4 bits, 2 hidden units, 10 classes, 1 test sample.
    spec = ModelSpec((64, 2, 10), (4,), input_bits=4, weight_bits=4, bias_bits=8, act_bits=4)
    digits = load_digits()
    x = np.asarray(np.round(digits.x_test[:1] * 15), dtype=np.uint8)
    y = np.asarray(digits.y_test[:1])
    pk, vk = proving.setup(proving.AccuracyCircuit(spec, x, y))
    rng = np.random.default_rng(0)
    model = QuantizedModel(
        spec,
        (rng.integers(-1, 2, (64, 2)), rng.integers(-8, 8, (2, 10))),
        (rng.integers(-16, 16, 2), rng.integers(-128, 128, 10)),
        (0.5, 0.25),
    )
    tag = 12345
    proven = proving.prove(pk, model, 7, tag)
    package = ModelPackage(model, 7, 300)
    pk_bytes = pk.to_bytes()
    aggregation_bytes = proving.setup_aggregation(proving.AggregationCircuit(spec, 1))[0].to_bytes()

    private = RECIPIENT_PRIVATE
    envelope = seal_global(package, {RECIPIENT_ADDRESS: public_key(private)})
    account = Account.from_key(hashlib.sha256(b"zkpot fuzz seed").digest())
    identity = Identity(account, KeyPair(private, public_key(private)))
    key_doc = identity_to_json(identity)
    ref = TaskRef(31337, "0x" + "11" * 20, 1, proven_cid := build_dag(b"manifest")[0])
    manifest = TaskManifest(
        name="digits",
        dataset="digits",
        spec=spec,
        threshold=0.5,
        rounds=3,
        window=60,
        test_samples=1,
        seed=3,
        test_set_cid=proven_cid,
        test_set_hash="0x" + "22" * 32,
        model_spec_hash="0x" + "33" * 32,
        proving_key_cid=proven_cid,
        verifying_key_cid=proven_cid,
        verifier="0x" + "44" * 20,
        constraints=pk.num_constraints,
        weight_scales=model.weight_scales,
        aggregation_key_cid=proven_cid,
        aggregator="0x" + "55" * 20,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.sqlite"
        with ParticipantState(path) as state:
            state.bind(identity, ref)
            state.advance(0, Stage.TRAINED, params=b"params")
            state.advance(0, Stage.PREPARED, salt="7", package_key=b"k" * 32, count=1)
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        db.close()
        state_bytes = path.read_bytes()

    _, blocks = build_dag(bytes(range(256)) * 1200)  # 300 kB: a root node and two leaves
    small_blocks = sorted(blocks.values(), key=len)
    package_key, ciphertext = encrypt(b"a model package")
    npz = io.BytesIO()
    np.savez_compressed(npz, x=x, y=y)
    proof_json = json.dumps(
        {
            "format": PROOF_FORMAT,
            "task": "00" * 32,
            "label": "model",
            "commitment": "0x" + proven.commitment.to_bytes(32, "big").hex(),
            "count": proven.count,
            "samples": 1,
            "accuracy": float(proven.count),
            "tag": "0x" + tag.to_bytes(32, "big").hex(),
            "proof": proven.proof.to_bytes().hex(),
        }
    ).encode()
    line = b'{"address": "%s", "x25519": "%s", "samples": 300}\n' % (
        identity.address.encode(),
        identity.keys.public.hex().encode(),
    )
    return {
        # The key itself, and its first 4 kB (spec, test set and the verifying key).
        "proving_key": [pk_bytes, pk_bytes[:4096], pk_bytes[:600]],
        "aggregation_key": [aggregation_bytes, aggregation_bytes[:4096], aggregation_bytes[:60]],
        "verifying_key": _variants(vk.to_bytes()),
        "proof": _variants(proven.proof.to_bytes()),
        "quantized_model": _variants(model.to_bytes()),
        "model_package": _variants(package.to_bytes()),
        "global_package": _variants(envelope),
        "params_blob": _variants(params_to_bytes([np.ones((2, 3)), np.zeros(4)])),
        "task_manifest": _variants(manifest.to_bytes()),
        "task_file": _variants(ref.to_json().encode()),
        "state_file": [state_bytes, state_bytes[: len(state_bytes) // 2]],
        "store_blocks": [b"\x00" + small_blocks[0], b"\x01" + b"raw bytes"]
        + [b"\x00" + v for v in _variants(small_blocks[0])[1:]],
        "key_file": _variants(json.dumps(key_doc).encode()),
        "participants_file": _variants(line * 2),
        "sealed_key": [seal(package_key, public_key(private)), package_key + ciphertext],
        "test_set_npz": _variants(npz.getvalue()),
        "proof_file": _variants(proof_json),
    }


def main() -> None:
    """``python -m fuzz.seeds [harness ...]``: rewrite the seeds of these (default: all)."""
    seeds = _seeds()
    names = sys.argv[1:] or list(seeds)
    for name in names:
        inputs = seeds[name]
        folder = CORPUS / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for data in inputs:
            (folder / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"wrote the seeds of {', '.join(names)}; {CORPUS} holds {total} bytes")


if __name__ == "__main__":
    main()
