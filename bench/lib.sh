# Shared set-up of the bench scripts (sourced): the project's release build
# and the db generator, built from bench/gendb into $dir with Debian's bbolt
# (GOPATH mode, no network). Needs $repo; sets $dir and $runs from BENCH_DIR,
# BENCH_RUNS unless set.
dir="${dir:-${BENCH_DIR:-/tmp/etcd-rescue-bench}}"
runs="${runs:-${BENCH_RUNS:-3}}"
build_release_and_gendb() {
  mkdir -p "$dir/src/gendb"
  (cd "$repo" && cargo build --release -q)
  cp "$repo/bench/gendb/main.go" "$dir/src/gendb/main.go"
  (cd "$dir/src/gendb" && GO111MODULE=off GOPATH="/usr/share/gocode:$dir" GOCACHE="$dir/gocache" go build -o "$dir/gendb" .)
}

# The bench db run.sh generates for $1 GB, or exit 2 naming how to make it:
# sets $db.
require_bench_db() {
  db="$dir/etcd-${1}g.db"
  if [ ! -f "$db" ]; then
    echo "error: $db is missing: make it with BENCH_GB=$1 bash bench/run.sh" >&2
    exit 2
  fi
}

# The keyspace bench db (1 M keys, 5 M revisions), made once: sets $db.
keyspace_db() {
  db="$dir/keyspace-1m-5m.db"
  local params="keys=1000000 revisions=5000000 value-size=100 seed=1"
  if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
    "$dir/gendb" -out "$db" -keys 1000000 -revisions 5000000 -value-size 100 -seed 1
    echo "$params" > "$db.params"
  fi
}

# The WAL bench data (made once): real etcd 3.4 writes ~5 full 64 MB segments
# of 1 MB puts into $dir/wal-bench/d. Sets $wal_data.
wal_bench_data() {
  wal_data="$dir/wal-bench"
  if [ ! -f "$wal_data/done" ]; then
    rm -rf "$wal_data"; mkdir -p "$wal_data"
    local port c p ep pid
    port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    c=$(port); p=$(port); ep="http://127.0.0.1:$c"
    etcd --name b --data-dir "$wal_data/d" --listen-client-urls "$ep" --advertise-client-urls "$ep" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "b=http://127.0.0.1:$p" --quota-backend-bytes 8000000000 >"$wal_data/etcd.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do ETCDCTL_API=3 etcdctl --endpoints "$ep" endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
    python3 -c "import os,base64; print(base64.b64encode(os.urandom(750000)).decode()[:1000000], end='')" > "$wal_data/value"
    for i in $(seq 330); do ETCDCTL_API=3 etcdctl --endpoints "$ep" put "/bench/$((i % 40))" < "$wal_data/value" >/dev/null; done
    kill -TERM $pid; wait $pid || true
    touch "$wal_data/done"
  fi
}

# Time one command (measure.py) into $results, one JSON line tagged "case".
m() { # CASE COMMAND...
  local c=$1
  shift
  python3 "$repo/bench/measure.py" "$@" | sed "s/^{/{\"case\": \"$c\",/" >> "$results"
}
