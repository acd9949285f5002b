#!/usr/bin/env bash
# etcd-rescue side by side with the tools operators run, one run, ratios
# printed (theirs / ours: above 1 means we are faster):
#   check            vs  bbolt check (bbolt 1.4.3 CLI) and bbolt 1.3.6 tx.Check
#                        (bench/refcheck), on the 4 GB bench db
#   snapshot status  vs  etcdutl snapshot status (3.6.16), same db
#   wal dump         vs  etcd-dump-logs (3.6.8), on ~384 MB of WAL written by
#                        real etcd 3.4 (bench/wal.sh's data)
#   get "" --prefix --keys-only  vs  etcd-dump-db iterate-bucket key (3.6.8),
#                        same db
#   bash bench/lines.sh          (BENCH_DIR, BENCH_RUNS as for run.sh)
# BENCH_BEFORE=path/to/older/etcd-rescue also times that binary's `check` in
# the same run and prints the ratio (a change's speed-up, measured beside
# the anchors).
# The 4 GB db is made by bench/run.sh (and reused); this script never
# regenerates it. etcd-dump-db opens its db read-write (bbolt writes a
# freelist into a file that has none), so it runs on one copy, opened once
# before the timed runs. Oracles come from scripts/oracles.sh.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/bench/lib.sh"
require_bench_db 4
(cd "$repo" && cargo build --release -q)
if [ ! -x "$dir/refcheck" ]; then
  mkdir -p "$dir/src/refcheck"
  cp "$repo/bench/refcheck/main.go" "$dir/src/refcheck/main.go"
  (cd "$dir/src/refcheck" && GO111MODULE=off GOPATH="/usr/share/gocode:$dir" GOCACHE="$dir/gocache" go build -o "$dir/refcheck" .)
fi
O="$(bash "$repo/scripts/oracles.sh")"
tool() { awk -F'\t' -v l="$1" -v t="$2" '$1 == l && $2 == t {print $3}' "$O/index.tsv"; }
bbolt="$(tool bbolt bbolt)" etcdutl="$(tool 3.6 etcdutl)" dumpdb="$(tool dump etcd-dump-db)" dumplogs="$(tool dump etcd-dump-logs)"
for t in "$bbolt" "$etcdutl" "$dumpdb" "$dumplogs"; do
  [ -x "$t" ] || { echo "error: an oracle is missing (bash scripts/oracles.sh)" >&2; exit 2; }
done
wal_bench_data
wal="$wal_data/d"
echo "== db $(stat -c %s "$db") bytes; WAL $(cat "$wal"/member/wal/*.wal | wc -c) bytes in $(ls "$wal"/member/wal/*.wal | wc -l) segments"
bin="$repo/target/release/etcd-rescue"
copy="$dir/dumpdb-copy.db"
if [ ! -f "$copy" ] || [ "$(stat -c %s "$copy")" -lt "$(stat -c %s "$db")" ]; then
  cp "$db" "$copy"
fi
"$dumpdb" iterate-bucket "$copy" key --limit 1 > /dev/null
walcopy="$dir/walcopy"
rm -rf "$walcopy" && cp -a "$wal" "$walcopy"
results="$dir/lines.jsonl"
: > "$results"
for _ in $(seq "$runs"); do
  cat "$db" > /dev/null
  m ours-check "$bin" check "$db"
  if [ -n "${BENCH_BEFORE:-}" ]; then m before-check "$BENCH_BEFORE" check "$db"; fi
  m bbolt-check "$bbolt" check "$db"
  m refcheck "$dir/refcheck" "$db"
  m ours-status "$bin" snapshot status "$db"
  m etcdutl-status "$etcdutl" snapshot status "$db"
  m ours-keys sh -c "exec $bin get $db '' --prefix --keys-only > /dev/null"
  cat "$copy" > /dev/null
  m dump-db-keys sh -c "exec $dumpdb iterate-bucket $copy key > /dev/null"
  cat "$wal"/member/wal/*.wal > /dev/null
  m ours-wal sh -c "exec $bin wal dump $wal > /dev/null"
  m dump-logs sh -c "exec $dumplogs $walcopy > /dev/null"
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(c, k="seconds"): return statistics.median(r[k] for r in rows if r["case"] == c)
before = [("ours-check", "before-check", "check vs the BENCH_BEFORE binary's check")] if any(r["case"] == "before-check" for r in rows) else []
for ours, theirs, what in before + [("ours-check", "bbolt-check", "check vs bbolt check (1.4.3)"),
                           ("ours-check", "refcheck", "check vs bbolt 1.3.6 tx.Check"),
                           ("ours-status", "etcdutl-status", "snapshot status vs etcdutl 3.6"),
                           ("ours-wal", "dump-logs", "wal dump vs etcd-dump-logs 3.6"),
                           ("ours-keys", "dump-db-keys", "get --keys-only vs etcd-dump-db iterate-bucket key")]:
    bad = [r for r in rows if r["case"] in (ours, theirs) and r["exit"] != 0]
    note = " (non-zero exit: %s)" % sorted({r["case"] for r in bad}) if bad else ""
    print(f"{what}: ours {med(ours):.2f} s ({med(ours, 'peak_anon_mb'):.0f} MB), "
          f"theirs {med(theirs):.2f} s ({med(theirs, 'peak_anon_mb'):.0f} MB), "
          f"ratio {med(theirs)/max(med(ours),1e-9):.1f}x{note}")
PY
