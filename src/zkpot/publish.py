"""Publishing a task: what the publisher puts on chain and in the store, written once.

Both drivers publish through :func:`task_params`: the in-process
:class:`~zkpot.federation.Federation` and the ``zkpot publisher`` command
(:func:`zkpot.node.manifest.publish_task`, which also stores the proving key and the task
manifest for participants on other machines).
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount

from zkpot import proving
from zkpot.exchange import global_commitment, initial_global, seal_global
from zkpot.ledger import Ledger, TaskParams
from zkpot.ledger.model import Member
from zkpot.protocol import Task
from zkpot.store import ContentStore


def task_params(
    ledger: Ledger,
    store: ContentStore,
    publisher: LocalAccount,
    task: Task,
    vk: proving.VerifyingKey,
    aggregation_vk: proving.VerifyingKey,
    registrations: Sequence[Member],
    seed: int,
) -> TaskParams:
    """Deploy the task's verifiers (accuracy and aggregation), store its test set and its
    initial model (drawn from ``seed``, sealed to every registered participant); the
    parameters to register."""
    verifier = ledger.deploy_verifier(vk.to_evm(), publisher)
    aggregator = ledger.deploy_aggregation_verifier(aggregation_vk.to_evm(), publisher)
    test_set_cid = store.put(task.test_set_bytes())
    initial = initial_global(task.spec, task.test_x, seed, proving.new_salt(), task.weight_scales)
    registry = {r.address: r.x25519_key for r in registrations}
    return TaskParams(
        verifier=verifier,
        test_set_hash=task.test_set_hash,
        test_set_cid=test_set_cid,
        model_spec_hash=task.model_spec_hash,
        min_count=task.min_count,
        num_samples=task.num_samples,
        rounds=task.rounds,
        window=task.window_s,
        initial_commitment=global_commitment(initial),
        initial_cid=store.put(seal_global(initial, registry)),
        participants=tuple(registrations),
        aggregator=aggregator,
        padding_commitment=proving.padding_commitment(task.spec),
    )
