#!/usr/bin/env bash
# The whole test suite, as a new developer or CI runs it:
#   bash scripts/test.sh
# Installs what the tests need (Debian packages: etcd 3.4 server and client, jq and
# librsvg2-bin and nodejs (runbooks, page-map rendering and its script),
# python3-fuse (a FUSE file failing chosen reads),
# Go and the bbolt 1.3.6 library for the reference checker, kubectl and
# openssl as oracles; etcd, etcdctl, etcdutl of 3.5, 3.6, 3.7, bbolt's CLI and
# etcd's dump tools built with Go 1.24+ by scripts/oracles.sh; Python's cryptography and PyNaCl for the Kubernetes
# fixture's encrypted values), then runs formatting and lint checks and
# every test in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(etcd-server etcd-client golang-go golang-github-coreos-bbolt-dev golang-golang-x-sys-dev kubectl openssl zsh fish jq librsvg2-bin nodejs python3-fuse)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import cryptography, nacl" 2>/dev/null; then
  echo "== installing: python cryptography pynacl"
  python3 -m pip install -q cryptography pynacl
fi

echo "== oracles: etcd 3.5/3.6/3.7, bbolt 1.4, etcd-dump-db/-logs (built once into a cache, reused)"
start=$(date +%s)
ETCD_RESCUE_ORACLES="$(bash scripts/oracles.sh)"
export ETCD_RESCUE_ORACLES
echo "   $ETCD_RESCUE_ORACLES ($(($(date +%s) - start)) s)"

# A lint tool the toolchain lacks is skipped with a clear line, never a red run.
if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
else
  echo "== SKIPPED cargo fmt --check: rustfmt is not part of this toolchain (rustup component add rustfmt)"
fi
if cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo clippy"
  cargo clippy --all-targets --release -- -D warnings
else
  echo "== SKIPPED cargo clippy: clippy is not part of this toolchain (rustup component add clippy)"
fi
echo "== cargo test"
cargo test --release
echo "== all tests passed"
