#!/usr/bin/env bash
# etcd-rescue against the tools of the newer lines, on the keyspace bench db
# (1 M keys, 5 M revisions) and the 3.6 fixture's WAL:
#   bash bench/lines.sh          (BENCH_DIR, BENCH_RUNS as for run.sh)
#   check               vs  bbolt check (bbolt 1.4.3)
#   snapshot status     vs  etcdutl snapshot status (3.6.16)
#   wal dump            vs  etcd-dump-logs (3.6.8)
#   get "" --prefix --keys-only  vs  etcd-dump-db iterate-bucket key (3.6.8)
# Both dump tools open the db read-write: they run on copies. Oracles come from
# scripts/oracles.sh. Prints median times and ratios (theirs / ours).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/bench/lib.sh"
build_release_and_gendb
O="$(bash "$repo/scripts/oracles.sh")"
tool() { awk -F'\t' -v l="$1" -v t="$2" '$1 == l && $2 == t {print $3}' "$O/index.tsv"; }
bbolt="$(tool bbolt bbolt)" etcdutl="$(tool 3.6 etcdutl)" dumpdb="$(tool dump etcd-dump-db)" dumplogs="$(tool dump etcd-dump-logs)"
keyspace_db
bin="$repo/target/release/etcd-rescue"
fx="$repo/testdata/etcd36"
results="$dir/lines.jsonl"
: > "$results"
m() { # CASE COMMAND...
  local c=$1
  shift
  python3 "$repo/bench/measure.py" "$@" | sed "s/^{/{\"case\": \"$c\",/" >> "$results"
}
for _ in $(seq "$runs"); do
  cat "$db" > /dev/null
  m ours-check "$bin" check "$db"
  m bbolt-check "$bbolt" check "$db"
  m ours-status "$bin" snapshot status "$db"
  m etcdutl-status "$etcdutl" snapshot status "$db"
  m ours-wal sh -c "exec $bin wal dump $fx > /dev/null"
  rm -rf "$dir/walcopy" && cp -a "$fx" "$dir/walcopy"
  m dump-logs sh -c "exec $dumplogs $dir/walcopy > /dev/null"
  m ours-keys sh -c "exec $bin get $db '' --prefix --keys-only > /dev/null"
  cp "$db" "$dir/dumpdb-copy.db"
  m dump-db-keys sh -c "exec $dumpdb iterate-bucket $dir/dumpdb-copy.db key > /dev/null"
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(c): return statistics.median(r["seconds"] for r in rows if r["case"] == c)
for ours, theirs, what in [("ours-check", "bbolt-check", "check vs bbolt check 1.4.3"),
                           ("ours-status", "etcdutl-status", "snapshot status vs etcdutl 3.6"),
                           ("ours-wal", "dump-logs", "wal dump vs etcd-dump-logs (3.6 fixture)"),
                           ("ours-keys", "dump-db-keys", "get --keys-only vs etcd-dump-db iterate-bucket key")]:
    bad = [r for r in rows if r["case"] in (ours, theirs) and r["exit"] != 0]
    note = " (non-zero exit: %s)" % sorted({r["case"] for r in bad}) if bad else ""
    print(f"{what}: ours {med(ours):.2f} s, theirs {med(theirs):.2f} s, ratio {med(theirs)/max(med(ours),1e-9):.1f}x{note}")
PY
