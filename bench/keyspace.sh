#!/usr/bin/env bash
# Keyspace benchmark: building the key index on a db with 1 M keys and 5 M
# revisions, and streaming `get "" --prefix -w json` from it.
#   bash bench/keyspace.sh          (BENCH_DIR, BENCH_RUNS as for run.sh)
# Prints the times, and two ratios measured in the same run: the index build
# against `check` on the same file, and the peak heap of the full JSON dump
# against that of `--count-only` (1.0 means the output adds no memory).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/bench/lib.sh"
build_release_and_gendb
keyspace_db
cat "$db" > /dev/null
bin="$repo/target/release/etcd-rescue"
results="$dir/keyspace.jsonl"
: > "$results"
for i in $(seq "$runs"); do
  python3 "$repo/bench/measure.py" sh -c "exec $bin get $db '' --prefix --count-only > /dev/null" | sed 's/^{/{"case": "count",/' >> "$results"
  python3 "$repo/bench/measure.py" sh -c "exec $bin get $db '' --prefix -w json > /dev/null" | sed 's/^{/{"case": "json",/' >> "$results"
  python3 "$repo/bench/measure.py" "$bin" check "$db" | sed 's/^{/{"case": "check",/' >> "$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(case, k): return statistics.median(r[k] for r in rows if r["case"] == case)
def peak(case): return max(r["peak_anon_mb"] for r in rows if r["case"] == case)
assert all(r["exit"] == 0 for r in rows), rows
print(f"index build + count (get --count-only): median {med('count','seconds'):.2f} s, peak heap {peak('count'):.0f} MB")
print(f"full dump (get \"\" --prefix -w json):   median {med('json','seconds'):.2f} s, peak heap {peak('json'):.0f} MB")
print(f"check on the same file:                 median {med('check','seconds'):.2f} s")
print(f"ratio: index build takes {med('count','seconds')/med('check','seconds'):.2f}x the time of check; "
      f"the JSON dump's peak heap is {peak('json')/peak('count'):.2f}x that of --count-only")
PY
