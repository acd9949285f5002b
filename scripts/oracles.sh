#!/usr/bin/env bash
# Builds the oracle programs (real etcd of every line, bbolt's CLI, etcd's
# dump tools) into a cache outside the repo, reusing what is already built.
#
#   bash scripts/oracles.sh            # build what is missing; prints the cache dir on stdout
#   bash scripts/oracles.sh --list     # print the index (line, tool, path) without building
#
# CACHE LAYOUT (tests/common/oracle.rs and other scripts read it):
#   $ETCD_RESCUE_ORACLES = ${XDG_CACHE_HOME:-~/.cache}/etcd-rescue/oracles
#     etcd-3.4.23/{etcd,etcdctl}           symlinks to Debian's /usr/bin binaries
#     etcd-3.5.35/{etcd,etcdctl,etcdutl}   go.etcd.io/etcd/{server,etcdctl,etcdutl}/v3
#     etcd-3.6.16/{etcd,etcdctl,etcdutl}
#     etcd-3.7.3/{etcd,etcdctl,etcdutl}
#     bbolt-1.4.3/bbolt                    go.etcd.io/bbolt/cmd/bbolt
#     dump-3.6.8/{etcd-dump-db,etcd-dump-logs}   go.etcd.io/etcd/v3/tools/... (root module)
#     index.tsv    one line per program: "<line>\t<tool>\t<absolute path>", line being
#                  3.4 3.5 3.6 3.7 (etcd, etcdctl, etcdutl), bbolt (bbolt), dump (etcd-dump-db,
#                  etcd-dump-logs); rewritten on every run from the stamped dirs
#   Every built dir holds .stamp (name + sha256 of the pinning go.mod/go.sum), written
#   last; a dir is built under .tmp-<name>.XXXX and renamed into place, so a killed
#   build leaves nothing that looks finished. A dir whose stamp matches is reused.
#
# The pins live in scripts/oracles/<module>/go.mod (+go.sum): a module of ours whose
# `tool` lines require the programs (`go install M@V` refuses etcd's modules because
# their go.mod has replace directives; building them as our dependencies works).
# To move a pin: edit the version in that go.mod, run `go mod tidy` there (GOFLAGS=-mod=mod)
# and update the name below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${ETCD_RESCUE_ORACLES:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-rescue/oracles}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

# name | module dir under scripts/oracles | line | package=binary ...
builds=(
  "etcd-3.5.35|etcd-3.5|3.5|go.etcd.io/etcd/server/v3=etcd go.etcd.io/etcd/etcdctl/v3=etcdctl go.etcd.io/etcd/etcdutl/v3=etcdutl"
  "etcd-3.6.16|etcd-3.6|3.6|go.etcd.io/etcd/server/v3=etcd go.etcd.io/etcd/etcdctl/v3=etcdctl go.etcd.io/etcd/etcdutl/v3=etcdutl"
  "etcd-3.7.3|etcd-3.7|3.7|go.etcd.io/etcd/server/v3=etcd go.etcd.io/etcd/etcdctl/v3=etcdctl go.etcd.io/etcd/etcdutl/v3=etcdutl"
  "bbolt-1.4.3|bbolt-1.4|bbolt|go.etcd.io/bbolt/cmd/bbolt=bbolt"
  "dump-3.6.8|dump-3.6|dump|go.etcd.io/etcd/v3/tools/etcd-dump-db=etcd-dump-db go.etcd.io/etcd/v3/tools/etcd-dump-logs=etcd-dump-logs"
)

list_only=0
[ "${1:-}" = "--list" ] && list_only=1

log() { echo "oracles: $*" >&2; }

# Go 1.24+ (tool directives); Debian's golang-go (1.19) is too old for these modules.
pick_go() {
  local g
  for g in "${GO:-}" /usr/local/go/bin/go "$(command -v go || true)"; do
    [ -n "$g" ] && [ -x "$g" ] || continue
    if "$g" version | grep -Eq 'go1\.(2[4-9]|[3-9][0-9])'; then
      echo "$g"
      return
    fi
  done
  log "no Go 1.24+ found (set GO=/path/to/go)"
  return 1
}

stamp_of() { # name moddir
  { echo "$1"; cat "$here/oracles/$2/go.mod" "$here/oracles/$2/go.sum"; } | sha256sum | cut -d' ' -f1
}

build_one() { # name moddir pkgs...
  local name=$1 moddir=$2
  shift 2
  local dest="$cache/$name" want
  want="$(stamp_of "$name" "$moddir")"
  if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ]; then
    return
  fi
  ((list_only)) && return
  local go tmp start pb pkg bin
  go="$(pick_go)"
  tmp="$(mktemp -d "$cache/.tmp-$name.XXXX")"
  chmod 755 "$tmp"
  start=$(date +%s)
  log "building $name ..."
  for pb in "$@"; do
    pkg=${pb%%=*}
    bin=${pb#*=}
    (cd "$here/oracles/$moddir" &&
      GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
        "$go" build -trimpath -ldflags='-s -w' -o "$tmp/$bin" "$pkg") >&2
  done
  echo "$want" >"$tmp/.stamp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "built $name in $(($(date +%s) - start)) s"
}

# etcd 3.4 is Debian's (scripts/test.sh installs etcd-server and etcd-client).
if [ -x /usr/bin/etcd ] && [ -x /usr/bin/etcdctl ] && ((list_only == 0)); then
  v34="$(/usr/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
  if [ -n "$v34" ] && [ ! -f "$cache/etcd-$v34/.stamp" ]; then
    tmp="$(mktemp -d "$cache/.tmp-etcd-$v34.XXXX")"
    ln -s /usr/bin/etcd "$tmp/etcd"
    ln -s /usr/bin/etcdctl "$tmp/etcdctl"
    echo "debian" >"$tmp/.stamp"
    rm -rf "${cache:?}/etcd-$v34"
    mv "$tmp" "$cache/etcd-$v34"
  fi
fi

for b in "${builds[@]}"; do
  IFS='|' read -r name moddir _line pkgs <<<"$b"
  # shellcheck disable=SC2086
  build_one "$name" "$moddir" $pkgs
done

# The index: every program of every stamped dir.
index="$cache/.index.tmp.$$"
: >"$index"
for d in "$cache"/etcd-3.4.*/; do
  [ -f "$d/.stamp" ] || continue
  for t in etcd etcdctl; do printf '3.4\t%s\t%s\n' "$t" "${d%/}/$t" >>"$index"; done
done
for b in "${builds[@]}"; do
  IFS='|' read -r name moddir line pkgs <<<"$b"
  [ -f "$cache/$name/.stamp" ] && [ "$(cat "$cache/$name/.stamp")" = "$(stamp_of "$name" "$moddir")" ] || continue
  for pb in $pkgs; do printf '%s\t%s\t%s\n' "$line" "${pb#*=}" "$cache/$name/${pb#*=}" >>"$index"; done
done
mv "$index" "$cache/index.tsv"
if ((list_only)); then
  cat "$cache/index.tsv"
else
  echo "$cache"
fi
