#!/usr/bin/env bash
# Build a pinned kubo (the reference IPFS node) into a project-local prefix.
#
# Idempotent: if an `ipfs` binary of the pinned version is already in the
# prefix, nothing is built. The source comes through the Go module proxy, so
# the build needs only a Go toolchain (kubo v0.43.0's go.mod asks for
# Go >= 1.26.5). Prints the binary's path on stdout as the last line.
#
# Environment:
#   KUBO_VERSION   pinned kubo module version (default below)
#   KUBO_PREFIX    directory that receives bin/ipfs (default: <repo>/.cache/kubo)
set -euo pipefail

KUBO_VERSION="${KUBO_VERSION:-v0.43.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBO_PREFIX="${KUBO_PREFIX:-$REPO_ROOT/.cache/kubo}"
BIN_DIR="$KUBO_PREFIX/bin"
IPFS_BIN="$BIN_DIR/ipfs"

installed_version() {
    [[ -x "$IPFS_BIN" ]] || return 1
    "$IPFS_BIN" version --number 2>/dev/null
}

if [[ "$(installed_version || true)" == "${KUBO_VERSION#v}" ]]; then
    echo "kubo ${KUBO_VERSION} already installed" >&2
    echo "$IPFS_BIN"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install_kubo.sh: 'go' not found; a Go toolchain is needed to build kubo" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
echo "building kubo ${KUBO_VERSION} with $(go version) into $BIN_DIR ..." >&2
start=$(date +%s)
# kubo's go.mod carries `exclude` directives (and v0.43.1 a `replace` of
# go-libp2p by a fork the proxy does not serve, hence the v0.43.0 pin), so
# `go install pkg@version` refuses it. Build it as the main module instead:
# fetch the module source through the Go module proxy, copy it to a scratch
# directory and `go build` there with kubo's own go.mod/go.sum, so every
# dependency version is exactly the one kubo pins.
# GOTOOLCHAIN=local: use the installed Go, never fetch another toolchain.
export GOTOOLCHAIN=local
src_dir="$(go mod download -json "github.com/ipfs/kubo@${KUBO_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$src_dir" || ! -f "$src_dir/go.mod" ]]; then
    echo "install_kubo.sh: could not download github.com/ipfs/kubo@${KUBO_VERSION}" >&2
    exit 1
fi
build_dir="$(mktemp -d "${TMPDIR:-/tmp}/kubo-build.XXXXXX")"
trap 'chmod -R u+w "$build_dir" 2>/dev/null; rm -rf "$build_dir"' EXIT
cp -R "$src_dir/." "$build_dir/"
chmod -R u+w "$build_dir"
(cd "$build_dir" && go build -trimpath -o "$IPFS_BIN.tmp" ./cmd/ipfs)
mv -f "$IPFS_BIN.tmp" "$IPFS_BIN"
end=$(date +%s)

got="$(installed_version || true)"
if [[ "$got" != "${KUBO_VERSION#v}" ]]; then
    echo "install_kubo.sh: built binary reports version '$got', expected '${KUBO_VERSION#v}'" >&2
    exit 1
fi
echo "built kubo ${KUBO_VERSION} in $((end - start)) s" >&2
echo "$IPFS_BIN"
