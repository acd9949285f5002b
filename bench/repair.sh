#!/usr/bin/env bash
# Repair benchmark on the ~4 GB db of bench/run.sh (generated the same way,
# shared through $BENCH_DIR): `repair` of the healthy file (the streamed
# copy, written and hashed) and `repair --salvage` (every page scanned, all
# records gathered and rebuilt) against `check` on the same file, in the same
# run. Prints medians, peak heap (RssAnon) and the ratios; the scan's rate is
# the file size over the `--salvage` time less the plain repair's. Sizes:
# each repair's output against the input and against `bbolt compact` of the
# same db (bbolt's CLI 1.4 from the oracle cache, scripts/oracles.sh; run
# once, it takes minutes), both its file and the pages below its high-water
# mark (bbolt grows its file ahead of use).
#   bash bench/repair.sh            (BENCH_GB, BENCH_RUNS, BENCH_DIR as for run.sh)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-/tmp/etcd-rescue-bench}"
gb="${BENCH_GB:-4}"
runs="${BENCH_RUNS:-3}"
. "$repo/bench/lib.sh"
build_release_and_gendb
revs=$(python3 -c "print(int(float('$gb') * 650000))")
keys=$(( revs / 4 ))
db="$dir/etcd-${gb}g.db"
gen=$(sha256sum "$repo/bench/gendb/main.go" | cut -c1-12)
params="keys=$keys revisions=$revs value-size=1000 seed=1 batch=100000 gendb=$gen"
if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
  rm -f "$db" "$db.params" "$db.tmp"
  "$dir/gendb" -out "$db.tmp" -keys "$keys" -revisions "$revs" -value-size 1000 -seed 1 -batch 100000 > "$db.summary"
  mv "$db.tmp" "$db"
  echo "$params" > "$db.params"
fi
cat "$db" > /dev/null
bin="$repo/target/release/etcd-rescue"
out="$dir/repaired.db"
results="$dir/repair.jsonl"
: > "$results"
for i in $(seq "$runs"); do
  python3 "$repo/bench/measure.py" "$bin" check "$db" | sed 's/^{/{"case": "check",/' >> "$results"
  rm -f "$out"
  python3 "$repo/bench/measure.py" "$bin" repair "$db" --out "$out" | sed 's/^{/{"case": "repair",/' >> "$results"
  echo "{\"case\": \"size-repair\", \"bytes\": $(stat -c %s "$out")}" >> "$results"
  # Floors of the streamed copy, on its own output: hashing it (Python's
  # hashlib, OpenSSL's SHA-256, reading 4 MiB at a time from the page cache)
  # and the device writing that many bytes (dd with direct I/O).
  python3 - "$out" >> "$results" <<'PY'
import hashlib, json, sys, time
# Time only the hashing (the file was written with direct I/O, so reading
# it back comes from the device, which repair never does).
h, spent = hashlib.sha256(), 0.0
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 22), b""):
        t = time.perf_counter(); h.update(b); spent += time.perf_counter() - t
print(json.dumps({"case": "hash", "seconds": spent, "exit": 0, "peak_anon_mb": 0}))
PY
  python3 "$repo/bench/measure.py" dd if="$out" of="$out.dd" bs=4M oflag=direct status=none | sed 's/^{/{"case": "dd",/' >> "$results"
  rm -f "$out" "$out.dd"
  python3 "$repo/bench/measure.py" "$bin" repair "$db" --out "$out" --salvage --report "$dir/salvage-report.json" --force | sed 's/^{/{"case": "salvage",/' >> "$results"
  echo "{\"case\": \"size-salvage\", \"bytes\": $(stat -c %s "$out")}" >> "$results"
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scan']; print(json.dumps({'case':'scan','seconds':s['seconds'],'gbps':s['gb_per_second'],'exit':0,'peak_anon_mb':0}))" "$dir/salvage-report.json" >> "$results"
done
# The salvaged copy must be a healthy db with the same revisions.
"$bin" check "$out" > /dev/null
rm -f "$out"
# bbolt's own compaction of the same db (the reference for sizes), once.
oracles="${ETCD_RESCUE_ORACLES:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-rescue/oracles}"
bbolt=$(awk -F'\t' '$1 == "bbolt" && $2 == "bbolt" {print $3}' "$oracles/index.tsv" 2>/dev/null || true)
if [ -x "$bbolt" ]; then
  rm -f "$dir/compact.db"
  python3 "$repo/bench/measure.py" "$bbolt" compact -o "$dir/compact.db" "$db" | sed 's/^{/{"case": "bbolt-compact",/' >> "$results"
  # The current meta's page count (pgid) times the page size: the pages
  # below the high-water mark.
  python3 - "$dir/compact.db" >> "$results" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(1 << 17)
    size = f.seek(0, 2)
ps = struct.unpack_from("<I", head, 16 + 8)[0]
metas = [struct.unpack_from("<QQ", head, off + 16 + 40) for off in (0, ps)]
pgid, _ = max(metas, key=lambda m: m[1])
print(json.dumps({"case": "size-compact", "bytes": size, "hwm": pgid * ps}))
PY
  rm -f "$dir/compact.db"
else
  echo "bbolt CLI not in $oracles (bash scripts/oracles.sh): no size reference" >&2
fi
python3 - "$results" "$(stat -L -c %s "$db")" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
size = int(sys.argv[2])
def med(case): return statistics.median(r["seconds"] for r in rows if r["case"] == case)
def peak(case): return max(r["peak_anon_mb"] for r in rows if r["case"] == case)
bad = [r for r in rows if r.get("exit", 0) != 0]
assert not bad, bad
c, r, s = med("check"), med("repair"), med("salvage")
print(f"db: {size / 1e9:.2f} GB")
print(f"check:             median {c:.2f} s, peak heap {peak('check'):.0f} MB")
print(f"repair (streamed): median {r:.2f} s, peak heap {peak('repair'):.0f} MB  -> {r / c:.2f}x check")
print(f"repair --salvage:  median {s:.2f} s, peak heap {peak('salvage'):.0f} MB  -> {s / c:.2f}x check")
h, d = med("hash"), med("dd")
scan = statistics.median(r["gbps"] for r in rows if r["case"] == "scan")
print(f"floors on the same output: SHA-256 of it (OpenSSL, hashing time only) {h:.2f} s ({h / c:.2f}x check), dd oflag=direct of it {d:.2f} s ({d / c:.2f}x check)")
print(f"page scan alone (inside --salvage): {med('scan'):.2f} s, {scan:.2f} GB/s")
def out_size(case): return max(r["bytes"] for r in rows if r["case"] == case)
sr, ss = out_size("size-repair"), out_size("size-salvage")
print(f"output: repair {sr / 1e9:.3f} GB ({sr / size:.3f}x input), --salvage {ss / 1e9:.3f} GB ({ss / size:.3f}x input)")
comp = [r for r in rows if r["case"] == "size-compact"]
if comp:
    cf, ch = comp[0]["bytes"], comp[0]["hwm"]
    ct = next(r["seconds"] for r in rows if r["case"] == "bbolt-compact")
    print(f"bbolt compact: {cf / 1e9:.3f} GB file, {ch / 1e9:.3f} GB below its high-water mark, {ct:.1f} s "
          f"({ct / s:.1f}x repair --salvage)")
    print(f"ratios: repair/compact file {sr / cf:.4f}, repair/compact hwm {sr / ch:.4f}, "
          f"--salvage/compact file {ss / cf:.4f}, --salvage/compact hwm {ss / ch:.4f}")
PY
