#!/usr/bin/env bash
# Benchmark `etcd-rescue check` against bbolt's own tx.Check on the same file,
# in the same run:
#   bash bench/run.sh                   # ~4 GB db (BENCH_GB=4), 3 runs each
#   BENCH_GB=1 BENCH_RUNS=5 bash bench/run.sh
#   bash bench/run.sh --only-reference  # bbolt tx.Check alone (no cargo build)
# Needs golang-go and golang-github-coreos-bbolt-dev (Debian), like the tests.
# The generated db is kept in $BENCH_DIR (default /tmp/etcd-rescue-bench) and
# reused while its parameters (and bench/gendb/main.go) are unchanged.
# Exit 1 if either checker reports errors on the clean generated file.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-/tmp/etcd-rescue-bench}"
gb="${BENCH_GB:-4}"
runs="${BENCH_RUNS:-3}"
only_ref=0
case "${1:-}" in
  --only-reference) only_ref=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--only-reference]" >&2; exit 2 ;;
esac
mkdir -p "$dir/src"
bin="$repo/target/release/etcd-rescue"

echo "== building"
if [ "$only_ref" = 0 ]; then
  (cd "$repo" && cargo build --release -q)
  # A build without the `check` subcommand: say so, rather than time a usage error.
  if ! "$bin" check --help >/dev/null 2>&1; then
    echo "error: $bin has no working \`check\` subcommand yet ('$bin check --help' fails);" >&2
    echo "       run 'bash bench/run.sh --only-reference' to time bbolt tx.Check alone" >&2
    exit 1
  fi
fi
for p in refcheck gendb; do
  rm -rf "$dir/src/$p"; mkdir -p "$dir/src/$p"
  cp "$repo/bench/$p/main.go" "$dir/src/$p/main.go"
  (cd "$dir/src/$p" && GO111MODULE=off GOPATH="/usr/share/gocode:$dir" GOCACHE="$dir/gocache" go build -o "$dir/$p" .)
done

# ~1.5 GB per million revisions of ~1000-byte values (leaves at fill 0.9,
# 1% of the values on overflow pages), 4 revisions per key on average.
revs=$(python3 -c "print(int(float('$gb') * 650000))")
keys=$(( revs / 4 ))
db="$dir/etcd-${gb}g.db"
gen=$(sha256sum "$repo/bench/gendb/main.go" | cut -c1-12)
params="keys=$keys revisions=$revs value-size=1000 seed=1 batch=100000 gendb=$gen"
if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
  echo "== generating $db ($params)"
  rm -f "$db" "$db.params" "$db.tmp"
  t0=$(date +%s.%N)
  "$dir/gendb" -out "$db.tmp" -keys "$keys" -revisions "$revs" -value-size 1000 -seed 1 -batch 100000 \
    | sed "s|$db.tmp|$db|" | tee "$db.summary"
  mv "$db.tmp" "$db"
  echo "$params" > "$db.params"
  python3 -c "import sys; print(f'generated in {float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$t0" "$(date +%s.%N)"
else
  echo "== reusing $db ($params)"
  cat "$db.summary" 2>/dev/null || true
fi
python3 - "$db" <<'PY'
import struct, sys
# Both meta pages (magic at +16, page size at +24, high-water mark at +56,
# txid at +64, little-endian); the one with the higher txid is current.
with open(sys.argv[1], "rb") as f:
    m0 = f.read(80)
    psize = struct.unpack_from("<I", m0, 24)[0]
    f.seek(psize)
    m1 = f.read(80)
metas = []
for m in (m0, m1):
    magic = struct.unpack_from("<I", m, 16)[0]
    assert magic == 0xED0CDAED, hex(magic)
    metas.append(struct.unpack_from("<QQ", m, 56))
hwm, txid = max(metas, key=lambda x: x[1])
print(f"== {sys.argv[1]}: page size {psize}, high-water mark {hwm} pages "
      f"({hwm * psize / 1e9:.2f} GB), txid {txid}")
PY
echo "== warming the page cache: $(du -h "$db" | cut -f1)"
cat "$db" > /dev/null  # both checkers then read from memory

results="$dir/results.jsonl"
: > "$results"
measure() { python3 "$repo/bench/measure.py" "$@" | tee -a "$results"; }
for i in $(seq "$runs"); do
  echo "== run $i/$runs"
  measure "$dir/refcheck" "$db"
  [ "$only_ref" = 1 ] && continue
  measure "$bin" check "$db"
done

python3 - "$results" "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ref = [r for r in rows if r["cmd"][0].endswith("refcheck")]
ours = [r for r in rows if r["cmd"][0].endswith("etcd-rescue")]
def line(label, rs):
    t = [r["seconds"] for r in rs]
    print(f"{label:<26} {statistics.median(t):>8.2f} {min(t):>8.2f} {max(t):>8.2f} "
          f"{max(r['peak_anon_mb'] for r in rs):>14.1f} {max(r['peak_rss_mb'] for r in rs):>10.0f} "
          f"{','.join(str(r['exit']) for r in rs):>8}")
print()
print(f"{'checker':<26} {'median s':>8} {'min s':>8} {'max s':>8} {'peak RssAnon MB':>14} {'VmHWM MB':>10} {'exits':>8}")
line("bbolt 1.3.6 tx.Check", ref)
if ours:
    line("etcd-rescue check", ours)
    rt = statistics.median(r["seconds"] for r in ref)
    ot = statistics.median(r["seconds"] for r in ours)
    print(f"\netcd-rescue check is {rt / ot:.2f}x faster than bbolt tx.Check on the same warm file "
          f"(medians over {sys.argv[2]} runs each)")
print("(RssAnon: heap and stacks, sampled every 10 ms; VmHWM: peak RSS including the file's page-cache mapping)")
bad = [r for r in rows if r["exit"] != 0]
if bad:
    print("\nFAIL: a checker exited non-zero on the clean generated db:")
    for r in bad:
        print(f"  {' '.join(r['cmd'])}: exit {r['exit']}\n    " + r.get("output_tail", "").replace("\n", "\n    "))
    sys.exit(1)
PY
