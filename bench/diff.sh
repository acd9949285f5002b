#!/usr/bin/env bash
# `diff` of two 4 GB dbs that agree up to a late revision, against two
# `check`s of the same files, one run, ratios printed:
#   bash bench/diff.sh          (BENCH_DIR, BENCH_RUNS as for run.sh)
# The copy is the bench db (made by bench/run.sh, reused) with one bit
# flipped inside one value at ~95% of the key bucket (bench/flip_late.py).
# Timed, alternating, from the page cache: check A, check B, diff A B
# (revision ranges compared in parallel, only differing ranges walked record
# by record: the default) and diff --merge-walk A B (one walk, one core).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/bench/lib.sh"
db="$dir/etcd-4g.db"
[ -f "$db" ] || { echo "error: $db is missing: make it with bash bench/run.sh (BENCH_GB=4)" >&2; exit 2; }
(cd "$repo" && cargo build --release -q)
bin="$repo/target/release/etcd-rescue"
copy="$dir/diff-copy.db"
if [ ! -f "$copy.flipped" ] || [ "$copy" -ot "$db" ]; then
  cp "$db" "$copy.tmp"
  python3 "$repo/bench/flip_late.py" "$copy.tmp" 0.95 | tee "$copy.flipped"
  mv "$copy.tmp" "$copy"
fi
cat "$copy.flipped"
results="$dir/diff.jsonl"
: > "$results"
cat "$db" "$copy" > /dev/null
for _ in $(seq "$runs"); do
  m check-a "$bin" check "$db"
  m check-b "$bin" check "$copy"
  m diff sh -c "exec $bin diff $db $copy -o json > $dir/diff-out.json"
  m diff-walk sh -c "exec $bin diff --merge-walk $db $copy -o json > $dir/diff-walk-out.json"
done
python3 - "$results" "$dir/diff-out.json" "$dir/diff-walk-out.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(c, k="seconds"): return statistics.median(r[k] for r in rows if r["case"] == c)
for c in ("check-a", "check-b", "diff", "diff-walk"):
    ex = sorted({r["exit"] for r in rows if r["case"] == c})
    print(f"{c}: median {med(c):.2f} s, peak anon {med(c, 'peak_anon_mb'):.0f} MB, exits {ex}")
two = med("check-a") + med("check-b")
print(f"diff (revision ranges in parallel, the default): {med('diff')/two:.2f}x the time of two checks ({two:.2f} s)")
print(f"diff --merge-walk (one walk): {med('diff-walk')/two:.2f}x the time of two checks")
for p in sys.argv[2:]:
    v = json.load(open(p))
    print(p.rsplit('/', 1)[-1], "method", v["method"], "first", v["first_divergence"],
          "revisions", [(d["revision"], d["kind"], [f["field"] for f in d["fields"]]) for d in v["revisions"]],
          "records", len(v["records"]))
PY
