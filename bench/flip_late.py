#!/usr/bin/env python3
"""Flip one bit inside one value of the `key` bucket of a bbolt file, in
place, at about FRACTION of the bucket (by descending each branch at that
fraction): the planted late divergence of bench/diff.sh.

    python3 bench/flip_late.py FILE [FRACTION]

Prints the page, element and file offset flipped. Reads only the pages on
the way down (a 4 GB file is not read whole)."""

import struct
import sys

path = sys.argv[1]
frac = float(sys.argv[2]) if len(sys.argv) > 2 else 0.95
f = open(path, "r+b")


def page(psize, pgid):
    f.seek(pgid * psize)
    b = f.read(psize)
    _, flags, count, overflow = struct.unpack_from("<QHHI", b, 0)
    if overflow:
        b += f.read(overflow * psize)
    return flags, count, b


metas = []
f.seek(0)
m0 = f.read(4096)
psize = struct.unpack_from("<I", m0, 24)[0]
for i in (0, 1):
    f.seek(i * psize)
    m = f.read(80)
    root = struct.unpack_from("<Q", m, 32)[0]
    txid = struct.unpack_from("<Q", m, 64)[0]
    metas.append((txid, root))
_, root = max(metas)


def leaf_elems(b, count):
    for i in range(count):
        e = 16 + i * 16
        fl, pos, ks, vs = struct.unpack_from("<IIII", b, e)
        k = b[e + pos:e + pos + ks]
        yield fl, k, e + pos + ks, vs


def descend(pgid, pick):
    while True:
        flags, count, b = page(psize, pgid)
        if flags & 0x01:  # branch
            i = pick(count)
            e = 16 + i * 16
            _, _, child = struct.unpack_from("<IIQ", b, e)
            pgid = child
        else:
            return pgid, count, b


# The root bucket's leaf holding "key" (etcd's few buckets fit one leaf).
key_root = None
stack = [root]
while stack and key_root is None:
    flags, count, b = page(psize, stack.pop())
    if flags & 0x01:
        for i in range(count):
            stack.append(struct.unpack_from("<IIQ", b, 16 + i * 16)[2])
        continue
    for fl, k, voff, vs in leaf_elems(b, count):
        if fl & 1 and k == b"key":
            key_root = struct.unpack_from("<Q", b, voff)[0]
assert key_root, "no key bucket"
pgid, count, b = descend(key_root, lambda n: min(n - 1, int(n * frac)))
elems = list(leaf_elems(b, count))
fl, k, voff, vs = elems[len(elems) // 2]
rev = struct.unpack_from(">Q", k, 0)[0]
at = pgid * psize + voff + vs // 2
f.seek(at)
c = f.read(1)[0]
f.seek(at)
f.write(bytes([c ^ 0x08]))
f.close()
print(f"flipped bit 3 of byte {vs // 2} of the value of revision {rev} "
      f"(leaf page {pgid}, file offset {at})")
