#!/usr/bin/env bash
# Kubernetes decoding benchmark: a db of 100 000 objects (Kubernetes test
# objects from ../shared/k8s-testdata, read at run time, under pod, event,
# configmap, secret, endpoints, replicaset, lease and serviceaccount keys;
# the test objects have every field set, so they are larger than typical).
#   bash bench/k8s.sh          (BENCH_DIR, BENCH_RUNS as for run.sh)
# Times, in the same run: the raw dump `get /registry --prefix -w json`
# (the reference: reading and base64-printing the same values), `k8s get
# KIND -A -o yaml` of each kind on one core, and `k8s extract` on one and
# on all cores.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-/tmp/etcd-rescue-bench}"
runs="${BENCH_RUNS:-3}"
testdata="${K8S_TESTDATA:-$repo/../shared/k8s-testdata/HEAD}"
n="${BENCH_OBJECTS:-100000}"
. "$repo/bench/lib.sh"
build_release_and_gendb
db="$dir/k8s-$n.db"
params="keys=$n revisions=$n k8s-values=$testdata gendb=$(sha256sum "$repo/bench/gendb/main.go" | cut -c1-16)"
if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
  "$dir/gendb" -out "$db" -keys "$n" -revisions "$n" -k8s-values "$testdata" -seed 1
  echo "$params" > "$db.params"
fi
cat "$db" > /dev/null
bin="$repo/target/release/etcd-rescue"
results="$dir/k8s.jsonl"
: > "$results"
out="$dir/k8s-extract"
kinds="pods,events,configmaps,secrets,endpoints,replicasets,leases,serviceaccounts"
for i in $(seq "$runs"); do
  python3 "$repo/bench/measure.py" sh -c "exec $bin get $db /registry/ --prefix -w json > /dev/null" | sed 's/^{/{"case": "raw",/' >> "$results"
  for k in ${kinds//,/ }; do
    python3 "$repo/bench/measure.py" sh -c "exec taskset -c 0 $bin k8s get $db $k -A -o yaml --show-secrets > /dev/null" | sed "s/^{/{\"case\": \"yaml-$k\",/" >> "$results"
  done
  rm -rf "$out"
  python3 "$repo/bench/measure.py" sh -c "exec $bin k8s extract $db --to $out > /dev/null" | sed 's/^{/{"case": "extract",/' >> "$results"
  rm -rf "$out"
  python3 "$repo/bench/measure.py" sh -c "exec taskset -c 0 $bin k8s extract $db --to $out > /dev/null" | sed 's/^{/{"case": "extract1",/' >> "$results"
done
rm -rf "$out"
counts=""
for k in ${kinds//,/ }; do counts="$counts $k=$("$bin" k8s get "$db" "$k" -A -o name | wc -l)"; done
python3 - "$results" "$n" $counts <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
counts = dict(a.split("=") for a in sys.argv[3:])
def med(case): return statistics.median(r["seconds"] for r in rows if r["case"] == case)
bad = [r for r in rows if r["exit"] != 0]
assert not bad, bad
print(f"{n} objects")
print(f"raw dump (get /registry/ --prefix -w json): median {med('raw'):.2f} s")
for k, c in counts.items():
    t = med("yaml-" + k)
    print(f"k8s get {k} -A -o yaml, one core: {int(c)} objects, median {t:.2f} s (index build included) = {int(c)/t:,.0f} objects/s")
yaml_total = sum(med("yaml-" + k) for k in counts)
print(f"k8s extract, 2 cores (one file per object):  median {med('extract'):.2f} s = {n/med('extract'):,.0f} objects/s")
print(f"k8s extract, 1 core:                         median {med('extract1'):.2f} s = {n/med('extract1'):,.0f} objects/s")
print(f"ratios: decoding and rendering every kind as YAML takes {yaml_total/med('raw'):.2f}x the raw dump; extract on 2 cores is {med('extract1')/med('extract'):.2f}x faster than on 1")
PY
