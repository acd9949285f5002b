#!/usr/bin/env bash
# Generate the etcd fixtures under testdata/ with real etcd of each line:
#   bash testdata/generate.sh [OUTDIR]
#       etcd 3.4 (Debian's etcd, etcdctl on PATH) -> OUT/etcd34, OUT/truth, OUT/etcd34.snapshot.db
#   bash testdata/generate.sh --etcd BINDIR --line X.Y [OUTDIR]
#       BINDIR holds etcd, etcdctl (and etcdutl for 3.5+), e.g. an oracle dir built by
#       scripts/oracles.sh -> OUT/etcdXY, OUT/truthXY (same workload as 3.4)
#   bash testdata/generate.sh --etcd BINDIR --line X.Y --learner [OUTDIR]
#       a 2-member cluster whose second member was added as a learner; keeps the voter's
#       dir -> OUT/etcdXYlearner, OUT/truthXYlearner (small workload)
#   bash testdata/generate.sh --upgrade BINDIR34:BINDIR35:BINDIR36 [OUTDIR]
#       one member upgraded in place the way operators do it (stop, start the next binary
#       on the same data dir, let it write, stop) -> OUT/etcd34to36, OUT/truth34to36
# Installs nothing. Runs etcd on loopback in a temp dir, applies a known workload,
# captures ground truth with that line's own etcdctl (and etcdutl) while etcd runs and
# after it stopped, stops etcd cleanly and copies the data dir. WAL segments are
# preallocated to 64 000 000 bytes: their trailing zeros are trimmed (the spare .tmp
# segment becomes empty) so the fixtures stay small.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

bindir="" line="3.4" mode=full upgrade=""
while [ $# -gt 0 ]; do
  case "$1" in
    --etcd) bindir="$2"; shift 2 ;;
    --line) line="$2"; shift 2 ;;
    --learner) mode=learner; shift ;;
    --upgrade) mode=upgrade; upgrade="$2"; shift 2 ;;
    -*) echo "generate.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
out="${1:-$here}"
command -v python3 >/dev/null || { echo "generate.sh: python3 not found" >&2; exit 2; }

# Binaries of one line: bin_of LINE-DIR TOOL (Debian's 3.4 when no dir is given).
bin_of() {
  if [ -n "$1" ]; then echo "$1/$2"; else command -v "$2" || { echo "generate.sh: $2 not found (apt-get install etcd-server etcd-client)" >&2; exit 2; }; fi
}
line_of() { "$1" --version | sed -n 's/^etcd Version: \([0-9]*\.[0-9]*\)\..*/\1/p'; }
version_of() { "$1" --version | sed -n 's/^etcd Version: //p'; }

work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export ETCDCTL_API=3
auth=()
ETCD="" ETCDCTL="" ETCDUTL=""
use_line() { # BINDIR-or-empty
  ETCD="$(bin_of "$1" etcd)"; ETCDCTL="$(bin_of "$1" etcdctl)"; ETCDUTL=""
  [ -n "$1" ] && [ -x "$1/etcdutl" ] && ETCDUTL="$1/etcdutl"
  return 0
}
ep=""
ctl() { "$ETCDCTL" --endpoints "$ep" "${auth[@]}" "$@"; }

# start NAME DATA CPORT PPORT INITIAL-CLUSTER STATE [extra flags]: starts etcd, waits
# until it answers; its pid is appended to pids.
start() {
  local name=$1 data=$2 c=$3 p=$4 ic=$5 state=$6
  shift 6
  "$ETCD" --name "$name" --data-dir "$data" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$ic" --initial-cluster-state "$state" --initial-cluster-token fixture \
    "$@" >>"$work/$name.log" 2>&1 &
  pids+=($!)
}
wait_healthy() { # ENDPOINT
  local e=$1 _
  for _ in $(seq 150); do "$ETCDCTL" --endpoints "$e" "${auth[@]}" endpoint health >/dev/null 2>&1 && return; sleep 0.1; done
  "$ETCDCTL" --endpoints "$e" "${auth[@]}" endpoint health
}
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
# wait_cluster_version X.Y: the cluster version etcd decided (its /version endpoint).
wait_cluster_version() {
  local _
  for _ in $(seq 200); do
    python3 - "$ep/version" "$1" <<'PY' && return
import json, sys, urllib.request
v = json.load(urllib.request.urlopen(sys.argv[1], timeout=2))
sys.exit(0 if v.get("etcdcluster", "").startswith(sys.argv[2] + ".") else 1)
PY
    sleep 0.1
  done
  echo "generate.sh: cluster version did not become $1" >&2
  exit 1
}

rev() { ctl get "" --prefix --limit 1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
val() { python3 -c "import sys; n=int(sys.argv[1]); s=sys.argv[2]; print((s*(n//len(s)+1))[:n], end='')" "$@"; }
lease_of() { ctl lease grant "$1" | sed -n 's/^lease \([0-9a-f]*\) granted.*/\1/p'; }

# The full workload (the 3.4 fixture's; every line gets the same one). Sets the
# rev_* variables, compact_rev, older_rev, latest_rev, lease1..3.
full_workload() {
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
}

# A small workload for the learner and upgrade fixtures: PREFIX N puts, updates,
# a delete, a lease; a compaction when asked (compact_rev, older_rev are set).
small_workload() { # PREFIX N [compact]
  local i
  for i in $(seq -w 1 "$2"); do ctl put "$1/items/$i" "$(val $((20 + 10#$i % 120)) "$1-$i;")" >/dev/null; done
  for i in 1 2 3; do ctl put "$1/config" "version-$i" >/dev/null; done
  ctl del "$1/items/$(printf '%0*d' ${#2} 1)" >/dev/null
  lease1="$(lease_of 3600)"
  ctl put --lease="$lease1" "$1/leased" a >/dev/null
  if [ "${3:-}" = compact ]; then
    compact_rev="$(rev)"
    ctl put "$1/config" version-4 >/dev/null
    ctl compaction "$compact_rev" >/dev/null
    ctl put "$1/config" version-5 >/dev/null
  fi
  older_rev="$(rev)"
  ctl put "$1/config" version-last >/dev/null
  latest_rev="$(rev)"
}

# Ground truth of the running member (etcdctl of the line that runs).
truth_online() { # T
  local T=$1 l
  mkdir -p "$T"
  ctl get "" --prefix -w json >"$T/get-latest.json"
  ctl get "" --prefix -w json --rev "$older_rev" >"$T/get-rev-$older_rev.json"
  if [ -n "${compact_rev:-}" ] && [ "$line" = 3.4 ] && [ "$mode" = full ]; then
    ctl get "" --prefix -w json --rev "$compact_rev" >"$T/get-rev-$compact_rev.json"
  fi
  ctl endpoint hashkv -w json >"$T/hashkv-latest.json"
  ctl endpoint hashkv -w json --rev "$older_rev" >"$T/hashkv-rev-$older_rev.json"
  ctl endpoint status -w json >"$T/endpoint-status.json"
  ctl member list -w json >"$T/member-list.json"
  ctl lease list -w json >"$T/lease-list.json"
  for l in $leases; do ctl lease timetolive --keys -w json "$l" >"$T/lease-$l.json"; done
  ctl alarm list >"$T/alarm-list.txt"
  if [ ${#auth[@]} -gt 0 ]; then
    ctl user list >"$T/user-list.txt"
    ctl role list >"$T/role-list.txt"
    ctl role get reader >"$T/role-reader.txt"
    ctl user get alice >"$T/user-alice.txt"
  fi
  python3 - "$ep/version" >"$T/version.json" <<'PY'
import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=2))))
PY
}

# Ground truth of the stopped member's db: snapshot status (etcdctl 3.4, etcdutl 3.5+)
# and, 3.6+, `etcdutl hashkv` (it opens the db read-write: run on a copy).
truth_offline() { # T DATA
  local T=$1 db="$2/member/snap/db"
  if [ -n "$ETCDUTL" ]; then
    "$ETCDUTL" snapshot status -w json "$db" >"$T/db-status.json"
    "$ETCDUTL" snapshot status -w table "$db" >"$T/db-status.txt"
    if "$ETCDUTL" hashkv --help >/dev/null 2>&1; then
      # etcdutl 3.6.16 panics on a db with leased keys ("no lessor to attach
      # lease"): keep what it said instead of an answer.
      local r f
      for r in 0 "$older_rev"; do
        f="$T/utl-hashkv-latest"
        [ "$r" = 0 ] || f="$T/utl-hashkv-rev-$r"
        cp "$db" "$work/hashkv.db"
        if ! "$ETCDUTL" hashkv -w json --rev "$r" "$work/hashkv.db" >"$f.json" 2>"$work/utl.err"; then
          rm -f "$f.json"
          grep -m1 '^panic:\|Error' "$work/utl.err" >"$f.error" || echo "exit $?" >"$f.error"
        fi
      done
    fi
  else
    "$ETCDCTL" snapshot status -w json "$db" >"$T/db-status.json"
    "$ETCDCTL" snapshot status "$db" >"$T/db-status.txt"
  fi
}

# Trim preallocated zeros of WAL segments (keep whole 8-byte records).
trim_wal() { # DATA
  python3 - "$1/member/wal" <<'PY'
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
}

# facts.json: T DATA VERSIONS-JSON EXTRA-JSON
write_facts() {
  python3 - "$@" <<'PY'
import json, os, sys
T, data, versions, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
status = json.load(open(os.path.join(T, "endpoint-status.json")))[0]["Status"]
members = json.load(open(os.path.join(T, "member-list.json")))
facts = {
  "etcd_version": versions[-1],
  "member_id": "%x" % status["header"]["member_id"],
  "cluster_id": "%x" % status["header"]["cluster_id"],
  "raft_index": status["raftIndex"],
  "raft_term": status["raftTerm"],
  "member_name": status and [m for m in members["members"] if m["ID"] == status["header"]["member_id"]][0]["name"],
  "snap_files": sorted(os.listdir(os.path.join(data, "member/snap"))),
  "wal_files": sorted(os.listdir(os.path.join(data, "member/wal"))),
}
if len(versions) > 1:
    facts["written_by"] = versions
facts.update(extra)
json.dump(facts, open(os.path.join(T, "facts.json"), "w"), indent=2)
print(json.dumps(facts, indent=2))
PY
}

check_snap() { ls "$1/member/snap/"*.snap >/dev/null || { echo "generate.sh: no .snap file was written in $1" >&2; exit 1; }; }
suffix() { echo "${1/./}"; }

case "$mode" in
full)
  use_line "$bindir"
  got="$(line_of "$ETCD")"
  [ "$got" = "$line" ] || { echo "generate.sh: etcd $line required, found: $(version_of "$ETCD")" >&2; exit 2; }
  if [ "$line" = 3.4 ]; then name=etcd34 T="$out/truth"; else name="etcd$(suffix "$line")" T="$out/truth$(suffix "$line")"; fi
  cport="$(free_port)"; pport="$(free_port)"; ep="http://127.0.0.1:$cport"
  start n1 "$work/data" "$cport" "$pport" "n1=http://127.0.0.1:$pport" new --snapshot-count 300
  wait_healthy "$ep"
  full_workload
  leases="$lease1 $lease2"
  rm -rf "$T" "${out:?}/$name"
  [ "$line" = 3.4 ] && rm -f "$out/etcd34.snapshot.db"
  truth_online "$T"
  if [ "$line" = 3.4 ]; then
    # The snapshot file (3.4 only; the other lines' truth is of the member's db).
    ctl snapshot save "$out/etcd34.snapshot.db" >/dev/null
    "$ETCDCTL" snapshot status -w json "$out/etcd34.snapshot.db" >"$T/snapshot-status.json"
    "$ETCDCTL" snapshot status "$out/etcd34.snapshot.db" >"$T/snapshot-status.txt"
  fi
  stop_all
  cp -a "$work/data" "$out/$name"
  truth_offline "$T" "$out/$name"
  trim_wal "$out/$name"
  write_facts "$T" "$out/$name" "[\"$(version_of "$ETCD")\"]" "$(cat <<EOF
{"revisions": {"after_puts": $rev_phase1, "after_updates_txn": $rev_phase2, "after_leases": $rev_phase3,
               "after_compaction_phase": $rev_phase4, "latest": $latest_rev},
 "compact_revision": $compact_rev, "older_revision": $older_rev,
 "leases": {"lease1": {"hex": "$lease1", "decimal": $((16#$lease1))},
            "lease2": {"hex": "$lease2", "decimal": $((16#$lease2))},
            "lease3_revoked": {"hex": "$lease3", "decimal": $((16#$lease3))}}}
EOF
)"
  check_snap "$out/$name"
  dirs=("$out/$name")
  ;;
learner)
  use_line "$bindir"
  [ "$(line_of "$ETCD")" = "$line" ] || { echo "generate.sh: etcd $line required" >&2; exit 2; }
  name="etcd$(suffix "$line")learner" T="$out/truth$(suffix "$line")learner"
  c1="$(free_port)"; p1="$(free_port)"; c2="$(free_port)"; p2="$(free_port)"
  ep="http://127.0.0.1:$c1"
  ic1="n1=http://127.0.0.1:$p1"
  start n1 "$work/n1" "$c1" "$p1" "$ic1" new --snapshot-count 40
  wait_healthy "$ep"
  small_workload /before 60
  ctl member add n2 --learner --peer-urls "http://127.0.0.1:$p2" >"$work/member-add.txt"
  start n2 "$work/n2" "$c2" "$p2" "$ic1,n2=http://127.0.0.1:$p2" existing --snapshot-count 40
  small_workload /after 60 compact
  # Wait until the learner has applied everything the voter has.
  for _ in $(seq 100); do
    a="$(ctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["raftAppliedIndex"])' 2>/dev/null || echo 0)"
    b="$("$ETCDCTL" --endpoints "http://127.0.0.1:$c2" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["raftAppliedIndex"])' 2>/dev/null || echo 1)"
    [ "$a" = "$b" ] && break
    sleep 0.2
  done
  leases="$lease1"
  rm -rf "$T" "${out:?}/$name"
  truth_online "$T"
  "$ETCDCTL" --endpoints "http://127.0.0.1:$c2" endpoint status -w json >"$T/learner-endpoint-status.json"
  stop_all
  cp -a "$work/n1" "$out/$name"
  truth_offline "$T" "$out/$name"
  trim_wal "$out/$name"
  write_facts "$T" "$out/$name" "[\"$(version_of "$ETCD")\"]" \
    "{\"compact_revision\": $compact_rev, \"older_revision\": $older_rev, \"revisions\": {\"latest\": $latest_rev}, \"learner_peer_url\": \"http://127.0.0.1:$p2\", \"kept_member\": \"n1 (the voter; n2 was the learner)\"}"
  check_snap "$out/$name"
  dirs=("$out/$name")
  ;;
upgrade)
  IFS=: read -r -a steps <<<"$upgrade"
  name="etcd34to36" T="$out/truth34to36"
  cport="$(free_port)"; pport="$(free_port)"; ep="http://127.0.0.1:$cport"
  versions=()
  compact_rev=""
  for s in "${steps[@]}"; do
    use_line "$s"
    l="$(line_of "$ETCD")"
    versions+=("$(version_of "$ETCD")")
    start n1 "$work/data" "$cport" "$pport" "n1=http://127.0.0.1:$pport" new --snapshot-count 40
    wait_healthy "$ep"
    wait_cluster_version "$l"
    if [ -z "$compact_rev" ]; then
      small_workload "/v$(suffix "$l")" 60 compact
      first_compact="$compact_rev"
    else
      small_workload "/v$(suffix "$l")" 60
    fi
    leases="$lease1"
    [ "$s" = "${steps[-1]}" ] || stop_all
  done
  line="$l"
  rm -rf "$T" "${out:?}/$name"
  truth_online "$T"
  stop_all
  cp -a "$work/data" "$out/$name"
  truth_offline "$T" "$out/$name"
  trim_wal "$out/$name"
  vj="$(printf '"%s",' "${versions[@]}")"
  write_facts "$T" "$out/$name" "[${vj%,}]" \
    "{\"compact_revision\": $first_compact, \"older_revision\": $older_rev, \"revisions\": {\"latest\": $latest_rev}}"
  check_snap "$out/$name"
  dirs=("$out/$name")
  ;;
esac
du -sh "${dirs[@]}" "$T"
