#!/usr/bin/env bash
# Benchmark `etcd-rescue check` against bbolt's own tx.Check on the same file,
# in the same run:
#   bash bench/run.sh            # ~4 GB db (BENCH_GB=4), 3 runs each
#   BENCH_GB=1 BENCH_RUNS=5 bash bench/run.sh
#   bash bench/run.sh --only-reference
# Needs golang-go and golang-github-coreos-bbolt-dev (Debian), like the tests.
# The generated db is kept in $BENCH_DIR (default /tmp/etcd-rescue-bench) and
# reused while its parameters are unchanged.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-/tmp/etcd-rescue-bench}"
gb="${BENCH_GB:-4}"
runs="${BENCH_RUNS:-3}"
only_ref=0
[ "${1:-}" = "--only-reference" ] && only_ref=1
mkdir -p "$dir/src"

echo "== building"
(cd "$repo" && cargo build --release -q)
for p in refcheck gendb; do
  rm -rf "$dir/src/$p"; mkdir -p "$dir/src/$p"
  cp "$repo/bench/$p/main.go" "$dir/src/$p/main.go"
  (cd "$dir/src/$p" && GO111MODULE=off GOPATH="/usr/share/gocode:$dir" GOCACHE="$dir/gocache" go build -o "$dir/$p" .)
done

# ~1.5 GB per million revisions of ~1000-byte values (leaves at fill 0.9).
revs=$(python3 -c "print(int(float('$gb') * 650000))")
keys=$(( revs / 4 ))
db="$dir/etcd-${gb}g.db"
params="keys=$keys revisions=$revs value-size=1000 seed=1"
if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
  echo "== generating $db ($params)"
  "$dir/gendb" -out "$db" -keys "$keys" -revisions "$revs" -value-size 1000 -seed 1
  echo "$params" > "$db.params"
fi
echo "== $(du -h "$db" | cut -f1) $db"
cat "$db" > /dev/null  # warm the page cache: both checkers read from memory

measure() { python3 "$repo/bench/measure.py" "$@"; }
results="$dir/results.jsonl"
: > "$results"
for i in $(seq "$runs"); do
  measure "$dir/refcheck" "$db" | tee -a "$results"
  [ "$only_ref" = 1 ] && continue
  measure "$repo/target/release/etcd-rescue" check "$db" | tee -a "$results"
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ref = [r for r in rows if r["cmd"][0].endswith("refcheck")]
ours = [r for r in rows if r["cmd"][0].endswith("etcd-rescue")]
bad = [r for r in rows if r["exit"] != 0]
if bad:
    print("a checker reported errors on the clean generated db:", bad)
    sys.exit(1)
rt = statistics.median(r["seconds"] for r in ref)
print(f"bbolt tx.Check (1.3.6):  median {rt:.2f} s over {len(ref)} runs")
if ours:
    ot = statistics.median(r["seconds"] for r in ours)
    anon = max(r["peak_anon_mb"] for r in ours)
    print(f"etcd-rescue check:       median {ot:.2f} s over {len(ours)} runs, peak heap (RssAnon) {anon:.0f} MB")
    print(f"ratio: etcd-rescue check is {rt / ot:.2f}x faster than bbolt tx.Check on the same file")
PY
