# Shared set-up of the bench scripts (sourced): the project's release build
# and the db generator, built from bench/gendb into $dir with Debian's bbolt
# (GOPATH mode, no network). Needs $repo and $dir.
build_release_and_gendb() {
  mkdir -p "$dir/src/gendb"
  (cd "$repo" && cargo build --release -q)
  cp "$repo/bench/gendb/main.go" "$dir/src/gendb/main.go"
  (cd "$dir/src/gendb" && GO111MODULE=off GOPATH="/usr/share/gocode:$dir" GOCACHE="$dir/gocache" go build -o "$dir/gendb" .)
}
