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

# The keyspace bench db (1 M keys, 5 M revisions), made once: sets $db.
keyspace_db() {
  db="$dir/keyspace-1m-5m.db"
  local params="keys=1000000 revisions=5000000 value-size=100 seed=1"
  if [ ! -f "$db" ] || [ "$(cat "$db.params" 2>/dev/null)" != "$params" ]; then
    "$dir/gendb" -out "$db" -keys 1000000 -revisions 5000000 -value-size 100 -seed 1
    echo "$params" > "$db.params"
  fi
}
