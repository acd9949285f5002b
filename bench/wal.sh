#!/usr/bin/env bash
# WAL benchmark: real etcd 3.4 writes ~5 full 64 MB segments (1 MB puts),
# then `etcd-rescue wal verify` reads them; the same run times a plain read
# of the same files (`cat > /dev/null`) as the reference.
#   bash bench/wal.sh        (BENCH_DIR, BENCH_RUNS as for run.sh)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-/tmp/etcd-rescue-bench}"
runs="${BENCH_RUNS:-3}"
(cd "$repo" && cargo build --release -q)
. "$repo/bench/lib.sh"
wal_bench_data
data="$wal_data"
segs=$(ls "$data"/d/member/wal/*.wal | wc -l)
bytes=$(cat "$data"/d/member/wal/*.wal | wc -c)
echo "== $segs segments, $bytes bytes"
cat "$data"/d/member/wal/*.wal > /dev/null
python3 - "$repo/target/release/etcd-rescue" "$data/d" "$runs" "$bytes" <<'PY'
import statistics, subprocess, sys, time, glob
bin_, d, runs, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def t(cmd):
    s = time.perf_counter(); r = subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL); e = time.perf_counter() - s
    return e, r.returncode
ours, ref = [], []
for _ in range(runs):
    e, rc = t([bin_, "wal", "verify", d]); assert rc == 0, rc; ours.append(e)
    e, _ = t(f"cat {d}/member/wal/*.wal > /dev/null"); ref.append(e)
o, r = statistics.median(ours), statistics.median(ref)
print(f"wal verify: median {o:.3f} s = {size/o/1e9:.2f} GB/s; plain read (cat): median {r:.3f} s = {size/r/1e9:.2f} GB/s")
print(f"ratio: wal verify takes {o/r:.2f}x the time of reading the same bytes")
PY
