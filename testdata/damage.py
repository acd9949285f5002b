#!/usr/bin/env python3
"""Make damaged copies of a real etcd member data dir, recording each damage.

    python3 testdata/damage.py SRC_DATA_DIR OUT_DIR

SRC_DATA_DIR holds member/{snap,wal} (testdata/etcd34 is such a dir). For each
case below, OUT_DIR/<case>/ is a full copy of it with one damage applied, and
OUT_DIR/damage.json records every case: the files touched, the byte offsets
and lengths, what was done, and what a reader must conclude (finding codes
that must appear, and whether etcd 3.4 starts). Tests run this script and
hold etcd-rescue (and real etcd, in the boot oracle) to those records.

Only the standard library is used; CRC-32C is computed here for the cases
that rewrite WAL records and re-chain their checksums, so that the damage is
exactly the one described (a missing entry, a rewritten index) and not a
checksum error as well.
"""

import json
import os
import shutil
import struct
import sys

# --- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 -----------------
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(crc, data):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- protobuf wire helpers ---------------------------------------------------
def varint(x):
    out = bytearray()
    x &= (1 << 64) - 1
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def read_varint(b, p):
    x, shift = 0, 0
    while True:
        c = b[p]
        p += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, p
        shift += 7


def fields(b):
    """(number, wire, value) of a message; value is int or bytes."""
    p, out = 0, []
    while p < len(b):
        key, p = read_varint(b, p)
        n, wire = key >> 3, key & 7
        if wire == 0:
            v, p = read_varint(b, p)
        elif wire == 2:
            ln, p = read_varint(b, p)
            v, p = b[p:p + ln], p + ln
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.append((n, wire, v))
    return out


# --- WAL records (walpb.Record: type=1, crc=2, data=3) ----------------------
METADATA, ENTRY, STATE, CRC, SNAPSHOT = 1, 2, 3, 4, 5


def read_records(b):
    """[(offset, type, data)] of a segment, stopping at a zero length."""
    p, out = 0, []
    while p + 8 <= len(b):
        (field,) = struct.unpack_from("<Q", b, p)
        if field == 0:
            break
        size = field & 0x00FFFFFFFFFFFFFF
        pad = (field >> 56) & 0x7 if field >> 63 else 0
        body = b[p + 8:p + 8 + size]
        rtype, data = 0, b""
        for n, _, v in fields(body):
            if n == 1:
                rtype = v
            elif n == 3:
                data = v
        out.append((p, rtype, data))
        p += 8 + size + pad
    return out


def frame(rtype, crc, data):
    body = b"\x08" + varint(rtype) + b"\x10" + varint(crc)
    if rtype != CRC:
        body += b"\x1a" + varint(len(data)) + data
    pad = (8 - len(body) % 8) % 8
    field = len(body) | ((0x80 | pad) << 56 if pad else 0)
    return struct.pack("<Q", field) + body + b"\0" * pad


def write_segment(records, start_crc=0):
    """Encode (type, data) records with a fresh CRC chain, as etcd's encoder
    does: each record's crc is the running CRC-32C after its data."""
    out, crc = bytearray(), start_crc
    for rtype, data in records:
        if rtype != CRC:
            crc = crc32c(crc, data)
        out += frame(rtype, crc, data)
    return bytes(out)


def entry_index(data):
    for n, _, v in fields(data):
        if n == 3:
            return v
    return None


# --- the cases ---------------------------------------------------------------
def wal_path(d):
    w = os.path.join(d, "member", "wal")
    segs = sorted(f for f in os.listdir(w) if f.endswith(".wal"))
    return os.path.join(w, segs[-1]), os.path.join("member", "wal", segs[-1])


def snap_paths(d):
    s = os.path.join(d, "member", "snap")
    return sorted(os.path.join(s, f) for f in os.listdir(s) if f.endswith(".snap"))


def sector_pieces_nonzero(b, off, ln):
    p, end = off + 8, off + ln
    while p < end:
        e = min((p // 512 + 1) * 512, end)
        if not any(b[p:e]):
            return False
        p = e
    return True


def case_torn_tail(d, rec):
    path, rel = wal_path(d)
    b = open(path, "rb").read()
    recs = read_records(b)
    ends = [r[0] for r in recs[1:]]
    # A torn write loses whole sectors: zero from a 512-byte sector boundary
    # that falls inside a record's body (near the end) to the end of file.
    for (off, _, _), end in reversed(list(zip(recs, ends))):
        start = ((off + 8) // 512 + 1) * 512
        if start < end:
            break
    else:
        raise SystemExit("no record spans a sector boundary")
    new = b[:start] + b"\0" * (len(b) - start)
    open(path, "wb").write(new)
    rec(rel, start, len(b) - start, "zeroed from a sector boundary inside the record at %d to the end of the file (a torn write)" % off)
    return {"codes": ["wal.record.torn-tail"], "starts": True, "record_offset": off}


def case_cut_mid_record(d, rec):
    path, rel = wal_path(d)
    b = open(path, "rb").read()
    recs = read_records(b)
    off = recs[-2][0]
    nxt = recs[-1][0]
    cut = off + (nxt - off) // 2
    open(path, "wb").write(b[:cut])
    rec(rel, cut, len(b) - cut, "file cut short in the middle of the second-to-last record (a full disk)")
    return {"codes": ["wal.record.torn-tail"], "starts": True}


def case_flip_mid_log(d, rec):
    path, rel = wal_path(d)
    b = bytearray(open(path, "rb").read())
    recs = read_records(b)
    ends = [r[0] for r in recs[1:]] + [None]
    for (off, _, data), end in list(zip(recs, ends))[len(recs) // 2:]:
        if end and end - off > 64 and sector_pieces_nonzero(b, off, end - off):
            at = off + (end - off) // 2
            b[at] ^= 0x01
            open(path, "wb").write(b)
            rec(rel, at, 1, "one bit flipped in the middle of a mid-log record (record at %d)" % off)
            return {"codes": ["wal.record.crc-mismatch"], "starts": False, "record_offset": off}
    raise SystemExit("no record fit for flip-mid-log")


def drop_entry(d, rec, index):
    path, rel = wal_path(d)
    b = open(path, "rb").read()
    recs = read_records(b)
    kept, dropped_at = [], None
    for off, rtype, data in recs:
        if rtype == ENTRY and entry_index(data) == index:
            dropped_at = off
            continue
        kept.append((rtype, data))
    assert dropped_at is not None, "no entry %d" % index
    new = write_segment(kept)
    open(path, "wb").write(new + b"\0" * max(0, len(b) - len(new)))
    rec(rel, dropped_at, None, "entry at raft index %d removed and the CRC chain rewritten" % index)
    return dropped_at


def case_gap_below_snapshot(d, rec):
    drop_entry(d, rec, 300)
    # The newest snap is at index 301: ReadAll starts past the gap.
    return {"codes": ["wal.entry.index-gap"], "starts": True}


def case_gap_above_snapshot(d, rec):
    drop_entry(d, rec, 400)
    return {"codes": ["wal.entry.index-gap"], "starts": False}


def case_overwrite_committed(d, rec):
    path, rel = wal_path(d)
    b = open(path, "rb").read()
    recs = read_records(b)
    records = [(t, data) for _, t, data in recs]
    last_entries = [(t, data) for t, data in records if t == ENTRY][-3:]
    new = write_segment(records + last_entries)
    at = len(write_segment(records))
    open(path, "wb").write(new + b"\0" * max(0, len(b) - len(new)))
    rec(rel, at, len(new) - at, "the last three entries appended again after the last hard state (committed indices rewritten)")
    return {"codes": ["wal.entry.committed-overwritten"], "starts": True}


def case_foreign_node_id(d, rec):
    path, rel = wal_path(d)
    b = open(path, "rb").read()
    recs = read_records(b)
    records, at = [], None
    for off, t, data in recs:
        if t == METADATA:
            f = {n: v for n, _, v in fields(data)}
            data = b"\x08" + varint(f[1] ^ 0x1) + b"\x10" + varint(f[2])
            at = off
        records.append((t, data))
    new = write_segment(records)
    open(path, "wb").write(new + b"\0" * max(0, len(b) - len(new)))
    rec(rel, at, None, "WAL metadata node id changed (lowest bit flipped) and the CRC chain rewritten: the log claims to be another member's")
    return {"codes": ["etcd.identity.not-member", "etcd.identity.not-in-db"], "starts": False}


def case_snap_corrupt(d, rec):
    for p in snap_paths(d):
        b = bytearray(open(p, "rb").read())
        at = len(b) // 2
        b[at] ^= 0xFF
        open(p, "wb").write(b)
        rec(os.path.relpath(p, d), at, 1, "byte inverted in the middle of the snap file")
    return {"codes": ["snap.file.damaged"], "starts": True}


def case_db_deleted(d, rec):
    os.remove(os.path.join(d, "member", "snap", "db"))
    rec("member/snap/db", 0, None, "db file deleted")
    return {"codes": ["etcd.db.missing"], "starts": False}


def case_db_truncated(d, rec):
    p = os.path.join(d, "member", "snap", "db")
    size = os.path.getsize(p)
    cut = (size // 2) // 4096 * 4096
    os.truncate(p, cut)
    rec("member/snap/db", cut, size - cut, "db cut to half its size at a page boundary (a full disk during a write-back)")
    return {"codes": ["bolt.file.short"], "starts": False}


PAGE = 4096


def page_header(b, pid):
    _, flags, count, overflow = struct.unpack_from("<QHHI", b, pid * PAGE)
    return flags, count, overflow


def current_root(b):
    """Root page of the valid meta with the higher txid (no checksum check:
    the fixture's metas are sound before damage)."""
    best = None
    for m in (0, 1):
        off = m * PAGE + 16
        root, _seq, _free, _pgid, txid = struct.unpack_from("<QQQQQ", b, off + 16)
        if best is None or txid > best[1]:
            best = (root, txid)
    return best[0]


def reachable_pages(b):
    """(page id, flags, count, bucket name) of every page reachable from the
    current meta, through nested buckets, without recursion."""
    out, seen = [], set()
    stack = [(current_root(b), "(root)")]
    while stack:
        pid, bucket = stack.pop()
        if pid in seen or (pid + 1) * PAGE > len(b):
            continue
        seen.add(pid)
        flags, count, _ = page_header(b, pid)
        out.append((pid, flags, count, bucket))
        base = pid * PAGE + 16
        for i in range(count):
            if flags == 0x01:
                _pos, _ksize, child = struct.unpack_from("<IIQ", b, base + i * 16)
                stack.append((child, bucket))
            elif flags == 0x02:
                eflags, pos, ksize, vsize = struct.unpack_from("<IIII", b, base + i * 16)
                if eflags & 0x01:
                    kstart = base + i * 16 + pos
                    name = bytes(b[kstart:kstart + ksize]).decode("latin-1")
                    root = struct.unpack_from("<Q", b, kstart + ksize)[0]
                    if root:
                        stack.append((root, name))
    return out


def case_branch_zeroed(d, rec):
    p = os.path.join(d, "member", "snap", "db")
    b = bytearray(open(p, "rb").read())
    for pid, flags, count, bucket in reachable_pages(b):
        if flags == 0x01 and bucket == "key":
            off = pid * PAGE
            b[off:off + PAGE] = b"\0" * PAGE
            open(p, "wb").write(b)
            rec("member/snap/db", off, PAGE, "branch page %d of bucket 'key' zeroed" % pid)
            return {"codes": ["bolt.page.zeroed"], "starts": False, "page": pid}
    raise SystemExit("no branch page in the key bucket")


def case_leaf_flipped(d, rec):
    p = os.path.join(d, "member", "snap", "db")
    b = bytearray(open(p, "rb").read())
    for pid, flags, count, bucket in reachable_pages(b):
        if flags == 0x02 and count > 4 and bucket == "key":
            # Middle of the last value on the page: the revision's KeyValue
            # protobuf no longer says what it said.
            base = pid * PAGE + 16 + (count - 1) * 16
            _f, pos, ksize, vsize = struct.unpack_from("<IIII", b, base)
            at = base + pos + ksize + vsize // 2
            b[at] ^= 0x01
            open(p, "wb").write(b)
            rec("member/snap/db", at, 1, "one bit flipped inside the last value of leaf page %d of bucket 'key'" % pid)
            return {"codes": ["etcd.key.value-decode"], "starts": False, "page": pid}
    raise SystemExit("no leaf page in the key bucket")


def case_bad_meta(d, rec, which):
    p = os.path.join(d, "member", "snap", "db")
    b = bytearray(open(p, "rb").read())
    touched = []
    for m in which:
        at = m * 4096 + 16 + 8  # inside the meta: the version field
        b[at] ^= 0xFF
        touched.append(at)
        rec("member/snap/db", at, 1, "meta page %d: version byte inverted (checksum no longer matches)" % m)
    open(p, "wb").write(b)
    if len(which) == 2:
        return {"codes": ["bolt.meta.no-valid"], "starts": False}
    return {"codes": ["bolt.meta.other-invalid"], "starts": True}


CASES = [
    ("wal-torn-tail", case_torn_tail),
    ("wal-cut-mid-record", case_cut_mid_record),
    ("wal-flip-mid-log", case_flip_mid_log),
    ("wal-gap-below-snapshot", case_gap_below_snapshot),
    ("wal-gap-above-snapshot", case_gap_above_snapshot),
    ("wal-overwrite-committed", case_overwrite_committed),
    ("wal-foreign-node-id", case_foreign_node_id),
    ("snap-corrupt", case_snap_corrupt),
    ("db-deleted", case_db_deleted),
    ("db-truncated", case_db_truncated),
    ("db-branch-zeroed", case_branch_zeroed),
    ("db-leaf-flipped", case_leaf_flipped),
    ("db-meta0-bad", lambda d, r: case_bad_meta(d, r, [0])),
    ("db-both-metas-bad", lambda d, r: case_bad_meta(d, r, [0, 1])),
]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    record = []
    for name, fn in CASES:
        d = os.path.join(out, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        shutil.copytree(src, d, symlinks=True)
        changes = []

        def rec(path, offset, length, what):
            changes.append({"file": path, "offset": offset, "length": length, "what": what})

        expect = fn(d, rec)
        record.append({"case": name, "dir": name, "changes": changes, "expect": expect})
    with open(os.path.join(out, "damage.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print("%d damaged copies in %s" % (len(record), out))


if __name__ == "__main__":
    main()
