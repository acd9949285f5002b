#!/usr/bin/env bash
# `k8s stats` against `check` on the same bench db, in the same run:
#   bash bench/stats.sh          (BENCH_GB, BENCH_DIR, BENCH_RUNS as for run.sh;
#                                 the db is the one run.sh generates)
# Both read the whole key bucket; stats tallies objects, bytes and revisions
# per kind and namespace from the envelope and the stored value lengths.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
gb="${BENCH_GB:-4}"
. "$repo/bench/lib.sh"
require_bench_db "$gb"
(cd "$repo" && cargo build --release -q)
bin="$repo/target/release/etcd-rescue"
results="$dir/stats.jsonl"
: > "$results"
cat "$db" > /dev/null
for i in $(seq "$runs"); do
  python3 "$repo/bench/measure.py" "$bin" check "$db" | sed 's/^{/{"case": "check",/' >> "$results"
  python3 "$repo/bench/measure.py" "$bin" k8s stats "$db" | sed 's/^{/{"case": "stats",/' >> "$results"
done
python3 - "$results" "$db" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
size = os.path.getsize(sys.argv[2])
bad = [r for r in rows if r["exit"] != 0]
assert not bad, bad
med = {c: statistics.median(r["seconds"] for r in rows if r["case"] == c) for c in ("check", "stats")}
for c, t in med.items():
    print(f"{c:5}: median {t:.2f} s = {size / t / 1e9:.2f} GB/s of db ({size / 1e9:.2f} GB)")
print(f"ratio: k8s stats takes {med['stats'] / med['check']:.2f}x the time of check on the same file")
PY
