#!/usr/bin/env bash
# Generate the etcd 3.4 fixtures under testdata/ with real etcd:
#   bash testdata/generate.sh [OUTDIR]
# Uses Debian's etcd and etcdctl 3.4 (packages etcd-server, etcd-client; this
# script installs nothing). Runs etcd on loopback in a temp dir, applies a
# known workload, captures ground truth with etcdctl while etcd runs, stops
# etcd cleanly and copies the data dir. WAL segments are preallocated to
# 64 000 000 bytes: their trailing zeros are trimmed (the spare .tmp segment
# becomes empty) so the fixtures stay small.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
for t in etcd etcdctl python3; do
  command -v "$t" >/dev/null || { echo "generate.sh: $t not found (apt-get install etcd-server etcd-client)" >&2; exit 2; }
done
etcd --version | grep -q 'etcd Version: 3\.4\.' || { echo "generate.sh: etcd 3.4 required, found: $(etcd --version | head -1)" >&2; exit 2; }

work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport="$(free_port)"; pport="$(free_port)"
export ETCDCTL_API=3
ep="http://127.0.0.1:$cport"
etcd --name n1 --data-dir "$work/data" \
  --listen-client-urls "$ep" --advertise-client-urls "$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "n1=http://127.0.0.1:$pport" --initial-cluster-token fixture \
  --snapshot-count 300 >"$work/etcd.log" 2>&1 &
pid=$!
auth=()
ctl() { etcdctl --endpoints "$ep" "${auth[@]}" "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ctl endpoint health >/dev/null

rev() { ctl get "" --prefix --limit 1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
val() { python3 -c "import sys; n=int(sys.argv[1]); s=sys.argv[2]; print((s*(n//len(s)+1))[:n], end='')" "$@"; }

# Phase 1: small keys, enough for several leaf pages and a branch page.
for i in $(seq -w 1 400); do ctl put "/app/items/$i" "$(val $((10 + 10#$i % 190)) "item-$i;")" >/dev/null; done
# Values of several sizes; the larger ones become overflow pages.
for n in 1000 3000 5000 20000 150000; do val $n "blob$n" | ctl put "/blobs/size-$n" >/dev/null; done
ctl put "/names/with space" "spaced" >/dev/null
ctl put "/names/ünïcødé-ключ" "unicode" >/dev/null
rev_phase1="$(rev)"

# Phase 2: updates, deletes, a prefix delete, a txn.
for i in 1 2 3; do ctl put /app/config "version-$i" >/dev/null; done
for i in $(seq -w 1 20); do ctl put "/app/items/0$i" "$(val 50 "update-$i;")" >/dev/null; done
ctl del /app/items/100 >/dev/null
ctl put /tmp/a 1 >/dev/null; ctl put /tmp/b 2 >/dev/null; ctl put /tmp/c 3 >/dev/null
ctl del --prefix /tmp/ >/dev/null
ctl txn <<'TXN' >/dev/null
value("/app/config") = "version-3"

put /app/config version-4
put /app/txn-marker done
del /app/items/101

put /app/config failed

TXN
rev_phase2="$(rev)"

# Phase 3: leases.
lease_of() { ctl lease grant "$1" | sed -n 's/^lease \([0-9a-f]*\) granted.*/\1/p'; }
lease1="$(lease_of 3600)"; lease2="$(lease_of 3600)"; lease3="$(lease_of 3600)"
ctl put --lease="$lease1" /leases/one/a a >/dev/null
ctl put --lease="$lease1" /leases/one/b b >/dev/null
ctl put --lease="$lease2" /leases/two/a a >/dev/null
ctl put --lease="$lease3" /leases/three/a a >/dev/null
ctl put --lease="$lease3" /leases/three/b b >/dev/null
ctl lease revoke "$lease3" >/dev/null
rev_phase3="$(rev)"

# Phase 4: compaction in the middle of the history, then more history.
ctl put /app/config version-5 >/dev/null
compact_rev="$(rev)"
ctl put /app/config version-6 >/dev/null
ctl put /app/items/0002 "after-compaction" >/dev/null
ctl compaction "$compact_rev" >/dev/null
ctl put /app/config version-7 >/dev/null
ctl del /app/items/003 >/dev/null
older_rev="$(rev)"
for i in $(seq -w 1 30); do ctl put "/app/late/$i" "$(val 120 "late-$i;")" >/dev/null; done
ctl put /app/config version-8 >/dev/null
rev_phase4="$(rev)"

# Phase 5: auth.
ctl user add root:rootpw >/dev/null
ctl user grant-role root root >/dev/null
ctl role add reader >/dev/null
ctl role grant-permission reader --prefix=true read /app/ >/dev/null
ctl user add alice:alicepw >/dev/null
ctl user grant-role alice reader >/dev/null
ctl auth enable >/dev/null
auth=(--user root:rootpw)
ctl put /app/after-auth yes >/dev/null
ctl put /app/config version-9 >/dev/null
latest_rev="$(rev)"

# Ground truth while etcd runs.
rm -rf "$out/truth" "$out/etcd34" "$out/etcd34.snapshot.db"
mkdir -p "$out/truth"
T="$out/truth"
ctl get "" --prefix -w json >"$T/get-latest.json"
ctl get "" --prefix -w json --rev "$older_rev" >"$T/get-rev-$older_rev.json"
ctl get "" --prefix -w json --rev "$compact_rev" >"$T/get-rev-$compact_rev.json"
ctl endpoint hashkv -w json >"$T/hashkv-latest.json"
ctl endpoint hashkv -w json --rev "$older_rev" >"$T/hashkv-rev-$older_rev.json"
ctl endpoint status -w json >"$T/endpoint-status.json"
ctl member list -w json >"$T/member-list.json"
ctl lease list -w json >"$T/lease-list.json"
for l in "$lease1" "$lease2"; do ctl lease timetolive --keys -w json "$l" >"$T/lease-$l.json"; done
ctl alarm list >"$T/alarm-list.txt"
ctl user list >"$T/user-list.txt"
ctl role list >"$T/role-list.txt"
ctl role get reader >"$T/role-reader.txt"
ctl user get alice >"$T/user-alice.txt"
ctl snapshot save "$out/etcd34.snapshot.db" >/dev/null
etcdctl snapshot status -w json "$out/etcd34.snapshot.db" >"$T/snapshot-status.json"
etcdctl snapshot status "$out/etcd34.snapshot.db" >"$T/snapshot-status.txt"

# Clean stop.
kill -TERM "$pid"; wait "$pid" || true; pid=""

cp -a "$work/data" "$out/etcd34"
etcdctl snapshot status -w json "$out/etcd34/member/snap/db" >"$T/db-status.json"
etcdctl snapshot status "$out/etcd34/member/snap/db" >"$T/db-status.txt"

# Trim preallocated zeros of WAL segments (keep whole 8-byte records).
python3 - "$out/etcd34/member/wal" <<'PY'
import os, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    data = open(p, 'rb').read()
    end = len(data.rstrip(b'\0'))
    end = (end + 7) // 8 * 8
    with open(p, 'r+b') as f:
        f.truncate(end)
    print(f"trimmed {name}: {len(data)} -> {end} bytes")
PY

python3 - "$T" "$out/etcd34" <<PY
import json, os, sys
T, data = sys.argv[1], sys.argv[2]
status = json.load(open(os.path.join(T, "endpoint-status.json")))[0]["Status"]
members = json.load(open(os.path.join(T, "member-list.json")))
facts = {
  "etcd_version": "$(etcd --version | sed -n 's/^etcd Version: //p')",
  "revisions": {"after_puts": $rev_phase1, "after_updates_txn": $rev_phase2, "after_leases": $rev_phase3,
                "after_compaction_phase": $rev_phase4, "latest": $latest_rev},
  "compact_revision": $compact_rev,
  "older_revision": $older_rev,
  "leases": {name: {"hex": h, "decimal": int(h, 16)} for name, h in
             [("lease1", "$lease1"), ("lease2", "$lease2"), ("lease3_revoked", "$lease3")]},
  "member_id": "%x" % status["header"]["member_id"],
  "cluster_id": "%x" % status["header"]["cluster_id"],
  "raft_index": status["raftIndex"],
  "raft_term": status["raftTerm"],
  "member_name": members["members"][0]["name"],
  "snap_files": sorted(os.listdir(os.path.join(data, "member/snap"))),
  "wal_files": sorted(os.listdir(os.path.join(data, "member/wal"))),
}
json.dump(facts, open(os.path.join(T, "facts.json"), "w"), indent=2)
print(json.dumps(facts, indent=2))
PY
ls "$out/etcd34/member/snap/"*.snap >/dev/null || { echo "generate.sh: no .snap file was written" >&2; exit 1; }
du -sh "$out/etcd34" "$out/etcd34.snapshot.db" "$out/truth"
