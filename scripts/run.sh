#!/usr/bin/env bash
# Installs zkpot and runs the default federation: 5 participants, 3 rounds, MNIST, real proofs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/zkpot run "$@"
