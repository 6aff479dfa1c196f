"""zkpot: blockchain-secured federated learning whose consensus is a Zero-Knowledge Proof
of Training (ZKPoT).

Each round, every participant trains locally, proves with Groth16 that its committed model
reaches a stated accuracy on the task's public test set, and posts the proof, the
commitment and the CID of its encrypted model. The participant with the best proven
accuracy leads the round: it aggregates the models and proposes the block.

    from zkpot import Federation, Task
    result = Federation(Task.create("digits", test_samples=200), participants=5).run()
"""

from __future__ import annotations

from typing import Any

__all__ = ["Federation", "Task"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import zkpot` stays light for the CLI and helpers (and
    # the package, at the bottom of every layer, imports none of the layers above it).
    if name == "Federation":
        from zkpot.federation import Federation

        return Federation
    if name == "Task":
        from zkpot.protocol import Task

        return Task
    raise AttributeError(f"module 'zkpot' has no attribute {name!r}")
