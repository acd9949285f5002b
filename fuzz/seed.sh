#!/usr/bin/env bash
# Seed the fuzz corpora from the committed fixtures:
#   page:    every page of the fixture db (and of the snapshot file)
#   check:   small whole dbs
#   repair:  the fixture db (the scan, merge, replay and rebuild)
#   records: every key-bucket value and revision key of the fixture
#   k8s:     Kubernetes' stored test objects from ../shared (when present)
set -euo pipefail
cd "$(dirname "$0")"
db=../testdata/etcd34/member/snap/db
mkdir -p corpus/page corpus/check corpus/records corpus/wal corpus/k8s corpus/repair
python3 - "$db" <<'PY'
import struct, sys, os
data = open(sys.argv[1], 'rb').read()
ps = struct.unpack_from('<I', data, 24)[0]
for i in range(len(data) // ps):
    open(f'corpus/page/p{i:05d}', 'wb').write(data[i*ps:(i+1)*ps])
    if data[i*ps+8] == 2:  # leaf: elements as record seeds
        count = struct.unpack_from('<H', data, i*ps+10)[0]
        for e in range(count):
            off = i*ps + 16 + 16*e
            _, pos, ks, vs = struct.unpack_from('<IIII', data, off)
            k = data[off+pos:off+pos+ks]; v = data[off+pos+ks:off+pos+ks+vs]
            open(f'corpus/records/r{i:05d}_{e:03d}', 'wb').write(k + v)
PY
cp "$db" corpus/check/fixture.db
cp "$db" corpus/repair/fixture.db
for w in ../testdata/etcd34/member/wal/*.wal; do head -c 65536 "$w" > "corpus/wal/$(basename "$w")"; done
# Kubernetes values: the stored test objects, read in place (never committed).
if [ -d ../../shared/k8s-testdata/HEAD ]; then cp ../../shared/k8s-testdata/HEAD/*.pb corpus/k8s/; fi
echo "seeded: $(ls corpus/page | wc -l) pages, $(ls corpus/records | wc -l) records, $(ls corpus/check | wc -l) dbs"
