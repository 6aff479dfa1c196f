"""Publishing a task and loading it back: the task manifest and the task file.

The ledger holds what consensus needs (verifier address, test-set hash and CID, model-spec
hash, threshold, rounds, window, initial model, registry). A participant on another
machine needs more: the proving keys of both circuits (accuracy and aggregation: any
submitter may lead), the model spec itself, the task's fixed-point format and the data set
the task is about. The publisher puts these in the content store and describes them in a
**task manifest**, a small JSON object in the store too (``format: zkpot-task/v2``)::

    {"format": "zkpot-task/v2", "name": …, "dataset": "digits", "spec": {…ModelSpec…},
     "weight_scales": [0.0125, 0.0125],
     "threshold": 0.3, "rounds": 3, "window": 600, "test_samples": 64, "seed": 3,
     "test_set_cid": …, "test_set_hash": …, "model_spec_hash": …,
     "proving_key_cid": …, "verifying_key_cid": …, "verifier": "0x…", "constraints": …,
     "aggregation_key_cid": …, "aggregator": "0x…"}

The contract has no field for the manifest's CID, so the publisher hands it out with a
**task file** (``format: zkpot-task-ref/v1``): chain id, ZKPoT contract address, task id
and manifest CID. Nothing in it is secret. Whoever loads a task checks the manifest
against the chain (:func:`load_task`): the test set fetched by its on-chain CID must hash
to the on-chain test-set hash, the spec to the on-chain spec hash, the threshold, rounds
and window must match, the verifiers must be the task's, and each proving key's verifying
key must be the one built into its verifier contract. A wrong or tampered manifest is
therefore refused before any proof is made; the store checks every object against its CID.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount

from zkpot import proving, safejson
from zkpot.learning.integer_model import ModelSpec
from zkpot.ledger import Ledger, TaskView
from zkpot.ledger.model import Member, checksum, uint
from zkpot.protocol import Task
from zkpot.publish import task_params
from zkpot.store import ContentStore
from zkpot.store.cid import normalize_cid

MANIFEST_FORMAT = "zkpot-task/v2"
TASK_FILE_FORMAT = "zkpot-task-ref/v1"

#: progress(step): called before each step of publishing, for a status line.
Step = Callable[[str], None]


class ManifestError(ValueError):
    """A task file or manifest is malformed, or disagrees with the chain."""


@dataclass(frozen=True)
class TaskRef:
    """Where a task lives: chain, ZKPoT contract, task id, and its manifest's CID."""

    chain_id: int
    zkpot: str
    task_id: int
    manifest: str

    def to_json(self) -> str:
        doc = {"format": TASK_FILE_FORMAT, **{f.name: getattr(self, f.name) for f in fields(self)}}
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "task file") -> TaskRef:
        try:
            doc = safejson.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ManifestError(f"{source}: not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != TASK_FILE_FORMAT:
            raise ManifestError(f"{source}: not a {TASK_FILE_FORMAT} document")
        try:
            return cls(
                chain_id=uint("chain_id", doc["chain_id"], 2**64 - 1),
                zkpot=checksum(doc["zkpot"], "zkpot"),
                task_id=uint("task_id", doc["task_id"], 2**256 - 1),
                manifest=normalize_cid(doc["manifest"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{source}: malformed ({exc})") from exc

    def write(self, path: Path) -> None:
        """Write the task file (replaced atomically if it exists)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_json() + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> TaskRef:
        try:
            return cls.from_json(Path(path).read_text(), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"cannot read task file {path}: {exc}") from exc


_TEXT_FIELDS = (
    "name",
    "dataset",
    "test_set_cid",
    "test_set_hash",
    "model_spec_hash",
    "proving_key_cid",
    "verifying_key_cid",
    "verifier",
    "aggregation_key_cid",
    "aggregator",
)


@dataclass(frozen=True)
class TaskManifest:
    """What a participant fetches to take part: see the module docstring."""

    name: str
    dataset: str
    spec: ModelSpec
    threshold: float
    rounds: int
    window: int
    test_samples: int
    seed: int
    test_set_cid: str
    test_set_hash: str
    model_spec_hash: str
    proving_key_cid: str
    verifying_key_cid: str
    verifier: str
    constraints: int
    weight_scales: tuple[float, ...] | None
    aggregation_key_cid: str
    aggregator: str

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {"format": MANIFEST_FORMAT}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ModelSpec):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            doc[f.name] = value
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskManifest:
        try:
            doc = safejson.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ManifestError(f"the manifest is not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.pop("format", None) != MANIFEST_FORMAT:
            raise ManifestError(f"not a {MANIFEST_FORMAT} manifest")
        expected = {f.name for f in fields(cls)}
        if set(doc) != expected:
            raise ManifestError(f"a manifest has exactly the keys {sorted(expected)}")
        try:
            doc["spec"] = ModelSpec.from_dict(doc["spec"])
        except ValueError as exc:
            raise ManifestError(f"the manifest's model spec is invalid: {exc}") from exc
        scales = doc["weight_scales"]
        if not isinstance(scales, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < float("inf")
            for x in scales
        ):
            raise ManifestError("manifest field weight_scales must be a list of positive numbers")
        if len(scales) != doc["spec"].num_layers:
            raise ManifestError("manifest field weight_scales has one scale per layer of the spec")
        doc["weight_scales"] = tuple(float(x) for x in scales)
        manifest = cls(**doc)
        for name in ("rounds", "window", "test_samples", "seed", "constraints"):
            value = getattr(manifest, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
                raise ManifestError(f"manifest field {name} must be an integer in [0, 2^64)")
        for name in _TEXT_FIELDS:
            if not isinstance(getattr(manifest, name), str):
                raise ManifestError(f"manifest field {name} must be a string")
        threshold = manifest.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ManifestError("manifest field threshold must be a number")
        if not 0 <= threshold <= 1:
            raise ManifestError("manifest field threshold must be in [0, 1]")
        return manifest


@dataclass(frozen=True)
class Published:
    """A registered task: its reference, its manifest and the setup's figures."""

    ref: TaskRef
    manifest: TaskManifest
    setup_s: float


def publish_task(
    ledger: Ledger,
    store: ContentStore,
    publisher: LocalAccount,
    task: Task,
    registrations: Sequence[Member],
    seed: int,
    step: Step = lambda _: None,
) -> Published:
    """Set up the circuit, deploy its verifier, store the task's objects, register the task.

    ``registrations`` are the participants in registration order; ``seed`` selected the
    public test set (``Task.create``) and draws the initial model. The proving key,
    verifying key, test set, initial model (sealed to every participant) and manifest go
    to ``store``; the manifest is stored before the task is registered, so it is there as
    soon as the task is visible on chain.
    """
    if task.weight_scales is None:
        raise ValueError(f"task {task.name} has no fixed-point format (weight_scales)")
    step("setup of the circuits")
    t = time.perf_counter()
    pk, vk = proving.setup(task.circuit)
    capacity = min(len(registrations), proving.MAX_AGGREGATION_CAPACITY)
    aggregation_key, aggregation_vk = proving.setup_aggregation(task.aggregation_circuit(capacity))
    setup_s = time.perf_counter() - t
    step("deploying the verifiers, storing the test set and the initial model")
    params = task_params(ledger, store, publisher, task, vk, aggregation_vk, registrations, seed)
    step("storing the proving keys and verifying key")
    manifest = TaskManifest(
        name=task.name,
        dataset=task.dataset,
        spec=task.spec,
        threshold=task.threshold,
        rounds=task.rounds,
        window=task.window_s,
        test_samples=task.num_samples,
        seed=seed,
        test_set_cid=params.test_set_cid,
        test_set_hash=task.test_set_hash.hex(),
        model_spec_hash=task.model_spec_hash.hex(),
        proving_key_cid=store.put(pk.to_bytes()),
        verifying_key_cid=store.put(vk.to_bytes()),
        verifier=params.verifier,
        constraints=pk.num_constraints,
        weight_scales=task.weight_scales,
        aggregation_key_cid=store.put(aggregation_key.to_bytes()),
        aggregator=params.aggregator,
    )
    manifest_cid = store.put(manifest.to_bytes())
    step("registering the task")
    task_id = ledger.register_task(publisher, params)
    ref = TaskRef(ledger.chain_id, ledger.address, task_id, manifest_cid)
    return Published(ref, manifest, setup_s)


@dataclass(frozen=True)
class LoadedTask:
    """A task as a participant holds it, every part checked against the chain."""

    ref: TaskRef
    manifest: TaskManifest
    task: Task
    chain: TaskView
    pk: proving.ProvingKey
    vk: proving.VerifyingKey
    aggregation_key: proving.AggregationKey


def load_task(ledger: Ledger, store: ContentStore, ref: TaskRef) -> LoadedTask:
    """Fetch a task's manifest, test set and proving key; check them against the chain."""
    if ledger.chain_id != ref.chain_id:
        raise ManifestError(f"the task is on chain {ref.chain_id}, the node on {ledger.chain_id}")
    if ledger.address != ref.zkpot:
        raise ManifestError(f"the task is on ZKPoT {ref.zkpot}, the client uses {ledger.address}")
    chain = ledger.task(ref.task_id)
    manifest = TaskManifest.from_bytes(store.get(ref.manifest))
    if manifest.test_set_cid != chain.test_set_cid:
        raise ManifestError("the manifest's test set is not the task's")
    try:
        with np.load(BytesIO(store.get(chain.test_set_cid)), allow_pickle=False) as npz:
            test_x, test_y = npz["x"], npz["y"]
    except (OSError, KeyError, ValueError) as exc:
        raise ManifestError(f"the task's test set does not parse: {exc}") from exc
    task = Task(
        name=manifest.name,
        dataset=manifest.dataset,
        spec=manifest.spec,
        test_x=test_x,
        test_y=test_y,
        threshold=manifest.threshold,
        rounds=manifest.rounds,
        window_s=manifest.window,
        weight_scales=manifest.weight_scales,
    )
    checks = [
        ("test-set hash", task.test_set_hash, chain.test_set_hash),
        ("model-spec hash", task.model_spec_hash, chain.model_spec_hash),
        ("number of test samples", task.num_samples, chain.num_samples),
        ("threshold", task.min_count, chain.min_count),
        ("rounds", task.rounds, chain.rounds),
        ("window", task.window_s, chain.window),
        ("verifier", manifest.verifier, chain.verifier),
        ("aggregator", manifest.aggregator, chain.aggregator),
    ]
    for what, ours, theirs in checks:
        if ours != theirs:
            raise ManifestError(f"the manifest's {what} differs from the chain's")
    pk = proving.ProvingKey.from_bytes(store.get(manifest.proving_key_cid))
    vk = pk.verifying_key()
    if proving.VerifyingKey.from_bytes(store.get(manifest.verifying_key_cid)) != vk:
        raise ManifestError("the stored verifying key is not the proving key's")
    # Groth16Verifier keeps its key in immutables: the 22 words sit verbatim in its code.
    code = bytes(ledger.w3.eth.get_code(chain.verifier))
    if not all(w.to_bytes(32, "big") in code for w in vk.to_evm()):
        raise ManifestError("the proving key does not belong to the task's verifier contract")
    aggregation_key = proving.AggregationKey.from_bytes(store.get(manifest.aggregation_key_cid))
    if aggregation_key.capacity != chain.capacity:
        raise ManifestError("the aggregation key's slots are not the task's")
    aggregation_vk = aggregation_key.verifying_key().to_evm()
    if not ledger.is_aggregation_verifier(chain.aggregator, aggregation_vk):
        raise ManifestError("the aggregation key does not belong to the task's aggregator")
    return LoadedTask(ref, manifest, task, chain, pk, vk, aggregation_key)
