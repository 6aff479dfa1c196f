#!/usr/bin/env bash
# Installs everything the tests need, then runs the linters, the Rust tests and the Python
# tests (all but those marked slow; a few real end-to-end proofs are in the fast set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# shellcheck disable=SC1091
. .venv/bin/activate

ruff check src tests fuzz
(cd prover && cargo clippy --release --all-targets --all-features --quiet -- -D warnings && cargo test --release)
python -m pytest -m "not slow" --durations=25 "$@"
