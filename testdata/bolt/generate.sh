#!/usr/bin/env bash
# Regenerate freelist.db: a bbolt file written by Debian's bbolt 1.3.6 with
# default options (a persisted freelist), nested and inline buckets and an
# overflow value. Needs golang-go and golang-github-coreos-bbolt-dev.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/genfreelist"
cp "$here/genfreelist.go" "$work/src/genfreelist/main.go"
(cd "$work/src/genfreelist" && GO111MODULE=off GOPATH="/usr/share/gocode:$work" GOCACHE="$work/cache" go build -o "$work/genfreelist" .)
"$work/genfreelist" "$here/freelist.db"
echo "wrote $here/freelist.db ($(stat -c %s "$here/freelist.db") bytes)"
