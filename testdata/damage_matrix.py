#!/usr/bin/env python3
"""Seeded generator of damaged copies of an etcd member data dir, for the boot matrix.

    python3 testdata/damage_matrix.py --src DATA_DIR --line 3.6 --seed S --count N OUT

Makes N damaged copies OUT/<line>-<i>-<class>/ of DATA_DIR (a stopped member, e.g.
testdata/etcd36) and OUT/matrix.json listing every copy: id, line, class, seed, the
files touched, offsets and what was done. The damage class of copy i is taken from a
seeded shuffle of CLASSES, cycled (so every class appears once N >= len(CLASSES));
offsets and values come from random.Random(f"{seed}:{line}:{i}"), so a copy is
reproduced from (seed, line, i) alone. A class that does not apply to a fixture
(e.g. no second WAL segment) falls back to the next class in the cycle.

tests/boot_matrix.rs runs this, starts that line's real etcd on every copy, asks
`etcd-rescue check` what it predicts, and compares. Only the standard library is
used; WAL rewrites re-chain CRC-32C (damage.py's helpers) so that the damage is only
the one described.
"""

import argparse
import json
import os
import random
import shutil
import struct

import damage as dm

PAGE = 4096


# --- bbolt helpers (page size 4096: etcd's files on Linux amd64) -------------------
def meta_fields(b, m):
    off = m * PAGE + 16
    magic, version, psize, flags = struct.unpack_from("<IIII", b, off)
    root, seq, freelist, pgid, txid, csum = struct.unpack_from("<QQQQQQ", b, off + 16)
    return {"root": root, "freelist": freelist, "pgid": pgid, "txid": txid, "magic": magic, "off": off}


def current_meta(b):
    ms = [meta_fields(b, 0), meta_fields(b, 1)]
    return max(ms, key=lambda m: m["txid"])


def fnv64a(data):
    h = 0xCBF29CE484222325
    for c in data:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def rewrite_meta_checksum(b, m):
    off = m * PAGE + 16
    struct.pack_into("<Q", b, off + 56, fnv64a(bytes(b[off:off + 56])))


def leaf_elements(b, base, count):
    """(flags, key, value, value file offset) of a leaf page/inline page at base."""
    out = []
    for i in range(count):
        e = base + 16 + i * 16
        if e + 16 > len(b):
            break
        flags, pos, ksize, vsize = struct.unpack_from("<IIII", b, e)
        k = e + pos
        out.append((flags, bytes(b[k:k + ksize]), k + ksize, vsize))
    return out


def bucket_leaves(b, root_pgid):
    """Leaf (base offset, count) of the tree rooted at a page."""
    out, stack, seen = [], [root_pgid], set()
    while stack:
        pid = stack.pop()
        if pid in seen or (pid + 1) * PAGE > len(b):
            continue
        seen.add(pid)
        flags, count, _ = dm.page_header(b, pid)
        if flags == 0x01:
            for i in range(count):
                stack.append(struct.unpack_from("<IIQ", b, pid * PAGE + 16 + i * 16)[2])
        elif flags == 0x02:
            out.append((pid * PAGE, count))
    return out


def find_bucket_leaves(b, name):
    """Leaves of top-level bucket `name`: [(base, count)] (an inline bucket is one
    'page' inside its parent's value)."""
    root = current_meta(b)["root"]
    for base, count in bucket_leaves(b, root):
        for flags, k, voff, vsize in leaf_elements(b, base, count):
            if flags & 1 and k == name:
                broot = struct.unpack_from("<Q", b, voff)[0]
                if broot == 0:
                    ibase = voff + 16
                    _, iflags, icount, _ = struct.unpack_from("<QHHI", b, ibase)
                    return [(ibase, icount)]
                return bucket_leaves(b, broot)
    return []


def find_value(b, bucket, key):
    """(file offset, size) of the value of key in a top-level bucket, or None."""
    for base, count in find_bucket_leaves(b, bucket):
        for flags, k, voff, vsize in leaf_elements(b, base, count):
            if k == key and not flags & 1:
                return voff, vsize
    return None


def db_path(d):
    return os.path.join(d, "member", "snap", "db")


def wal_dir(d):
    return os.path.join(d, "member", "wal")


def segments(d):
    return sorted(f for f in os.listdir(wal_dir(d)) if f.endswith(".wal"))


def snaps(d):
    s = os.path.join(d, "member", "snap")
    return sorted(f for f in os.listdir(s) if f.endswith(".snap"))


class NotApplicable(Exception):
    pass


def rel(d, p):
    return os.path.relpath(p, d)


# --- WAL classes ---------------------------------------------------------------
def pick_segment(d, rng, last=False):
    segs = segments(d)
    if not segs:
        raise NotApplicable("no WAL segment")
    name = segs[-1] if last else rng.choice(segs)
    return os.path.join(wal_dir(d), name)


def wal_torn_tail(d, rng, rec):
    p = pick_segment(d, rng, last=True)
    b = open(p, "rb").read()
    recs = dm.read_records(b)
    ends = [r[0] for r in recs[1:]] + [len(b)]
    tail = [(o, e) for (o, _, _), e in zip(recs, ends) if ((o + 8) // 512 + 1) * 512 < e]
    if not tail:
        raise NotApplicable("no record spans a sector boundary")
    off, _ = rng.choice(tail[-8:])
    start = ((off + 8) // 512 + 1) * 512
    open(p, "wb").write(b[:start] + b"\0" * (len(b) - start))
    rec(rel(d, p), start, len(b) - start, "zeroed from a sector boundary inside the record at %d to the end (torn write)" % off)


def wal_zero_range(d, rng, rec):
    p = pick_segment(d, rng)
    b = bytearray(open(p, "rb").read())
    if len(b) < 64:
        raise NotApplicable("segment too small")
    n = rng.choice([8, 64, 512, 4096])
    at = rng.randrange(0, max(1, len(b) - n))
    b[at:at + n] = b"\0" * min(n, len(b) - at)
    open(p, "wb").write(b)
    rec(rel(d, p), at, n, "%d bytes zeroed" % n)


def wal_cut(d, rng, rec):
    p = pick_segment(d, rng, last=rng.random() < 0.7)
    size = os.path.getsize(p)
    cut = rng.randrange(0, size)
    os.truncate(p, cut)
    rec(rel(d, p), cut, size - cut, "segment cut at %d" % cut)


def wal_flip(d, rng, rec):
    p = pick_segment(d, rng)
    b = bytearray(open(p, "rb").read())
    if not b:
        raise NotApplicable("empty segment")
    at = rng.randrange(len(b))
    bit = rng.randrange(8)
    b[at] ^= 1 << bit
    open(p, "wb").write(b)
    rec(rel(d, p), at, 1, "bit %d flipped" % bit)


def wal_segment_missing(d, rng, rec):
    segs = segments(d)
    p = os.path.join(wal_dir(d), rng.choice(segs))
    os.remove(p)
    rec(rel(d, p), 0, None, "segment deleted (%d segments before)" % len(segs))


def wal_segment_renamed(d, rng, rec):
    segs = segments(d)
    name = rng.choice(segs)
    seq, idx = name[:-4].split("-")
    how = rng.choice(["seq+1", "seq+5", "index+1", "index-1", "suffix"])
    if how == "suffix":
        new = name + ".old"
    elif how.startswith("seq"):
        new = "%016x-%s.wal" % (int(seq, 16) + int(how[4:]), idx)
    else:
        i = int(idx, 16) + (1 if how == "index+1" else -1)
        if i < 0:
            raise NotApplicable("index 0")
        new = "%s-%016x.wal" % (seq, i)
    if new in segs:
        raise NotApplicable("name taken")
    os.rename(os.path.join(wal_dir(d), name), os.path.join(wal_dir(d), new))
    rec("member/wal/" + name, 0, None, "segment renamed to %s (%s)" % (new, how))


def wal_entries(p):
    b = open(p, "rb").read()
    return b, dm.read_records(b)


def wal_drop_entry(d, rng, rec):
    p = pick_segment(d, rng, last=True)
    b, recs = wal_entries(p)
    ents = [(o, dm.entry_index(data)) for o, t, data in recs if t == dm.ENTRY]
    if not ents:
        raise NotApplicable("no entries")
    at, index = rng.choice(ents)
    start_crc = first_crc(recs, b)
    kept = [(t, data) for o, t, data in recs if o != at]
    new = dm.write_segment(kept, start_crc)
    open(p, "wb").write(new)
    rec(rel(d, p), at, None, "entry at raft index %s removed, CRC chain rewritten" % index)


def first_crc(recs, b):
    """The CRC chain's start of a segment: its first record is a crc record holding
    the previous segment's last crc (0 for the first segment)."""
    for o, t, data in recs:
        if t == dm.CRC:
            body = b[o + 8:o + 8 + (struct.unpack_from("<Q", b, o)[0] & 0x00FFFFFFFFFFFFFF)]
            for n, _, v in dm.fields(body):
                if n == 2:
                    return v
        break
    return 0


def wal_drop_tail_entries(d, rng, rec):
    """Drop the last K entries (and hard states after them): the WAL ends before the
    db's consistent index (db newer than the WAL)."""
    p = pick_segment(d, rng, last=True)
    b, recs = wal_entries(p)
    ent_pos = [i for i, (o, t, data) in enumerate(recs) if t == dm.ENTRY]
    if len(ent_pos) < 2:
        raise NotApplicable("too few entries")
    k = rng.randrange(1, min(40, len(ent_pos)))
    cut_i = ent_pos[-k]
    kept = [(t, data) for o, t, data in recs[:cut_i]]
    new = dm.write_segment(kept, first_crc(recs, b))
    open(p, "wb").write(new)
    rec(rel(d, p), recs[cut_i][0], len(b) - recs[cut_i][0], "last %d entries (and what followed) removed cleanly: the db is ahead of the WAL" % k)


def wal_append_garbage(d, rng, rec):
    p = pick_segment(d, rng, last=True)
    b = open(p, "rb").read()
    n = rng.choice([8, 100, 1000])
    g = bytes(rng.randrange(256) for _ in range(n))
    open(p, "wb").write(b + g)
    rec(rel(d, p), len(b), n, "%d random bytes appended" % n)


# --- snap classes ----------------------------------------------------------------
def snap_flip(d, rng, rec):
    ss = snaps(d)
    if not ss:
        raise NotApplicable("no .snap")
    p = os.path.join(d, "member", "snap", rng.choice(ss))
    b = bytearray(open(p, "rb").read())
    at = rng.randrange(len(b))
    b[at] ^= 1 << rng.randrange(8)
    open(p, "wb").write(b)
    rec(rel(d, p), at, 1, "bit flipped")


def snap_missing(d, rng, rec):
    ss = snaps(d)
    if not ss:
        raise NotApplicable("no .snap")
    which = ss if rng.random() < 0.5 else [ss[-1]]
    for s in which:
        os.remove(os.path.join(d, "member", "snap", s))
        rec("member/snap/" + s, 0, None, "snap file deleted")


def snap_truncated(d, rng, rec):
    ss = snaps(d)
    if not ss:
        raise NotApplicable("no .snap")
    p = os.path.join(d, "member", "snap", ss[-1])
    size = os.path.getsize(p)
    cut = rng.randrange(0, size)
    os.truncate(p, cut)
    rec(rel(d, p), cut, size - cut, "newest snap file cut")


def snapdb_stray(d, rng, rec):
    """A `<index>.snap.db` beside the db (a snapshot received from a leader): the
    current db or garbage, named by the newest snap's index or a later one."""
    ss = snaps(d)
    idx = int(ss[-1][:-5].split("-")[1], 16) if ss else 1
    idx += rng.choice([0, 0, 1000])
    p = os.path.join(d, "member", "snap", "%016x.snap.db" % idx)
    if rng.random() < 0.5:
        shutil.copyfile(db_path(d), p)
        what = "copy of the db"
    else:
        open(p, "wb").write(bytes(rng.randrange(256) for _ in range(8192)))
        what = "8 KiB of random bytes"
    rec(rel(d, p), 0, None, "stray .snap.db added: %s" % what)


# --- db classes ------------------------------------------------------------------
def load_db(d):
    return bytearray(open(db_path(d), "rb").read())


def save_db(d, b):
    open(db_path(d), "wb").write(b)


def db_missing(d, rng, rec):
    os.remove(db_path(d))
    rec("member/snap/db", 0, None, "db deleted")


def db_truncated(d, rng, rec):
    size = os.path.getsize(db_path(d))
    cut = rng.choice([rng.randrange(size // PAGE) * PAGE, rng.randrange(size)])
    os.truncate(db_path(d), cut)
    rec("member/snap/db", cut, size - cut, "db cut at %d" % cut)


def reachable(b):
    return dm.reachable_pages(b)


def db_page_zeroed(d, rng, rec):
    b = load_db(d)
    pages = [p for p in reachable(b) if p[0] >= 2]
    pid, flags, _, bucket = rng.choice(pages)
    b[pid * PAGE:(pid + 1) * PAGE] = b"\0" * PAGE
    save_db(d, b)
    rec("member/snap/db", pid * PAGE, PAGE, "page %d (flags %#x, bucket %s) zeroed" % (pid, flags, bucket))


def db_header_flip(d, rng, rec):
    b = load_db(d)
    pages = [p for p in reachable(b) if p[0] >= 2]
    pid, flags, _, bucket = rng.choice(pages)
    at = pid * PAGE + rng.randrange(16)
    b[at] ^= 1 << rng.randrange(8)
    save_db(d, b)
    rec("member/snap/db", at, 1, "bit flipped in the header of page %d (bucket %s)" % (pid, bucket))


def db_element_flip(d, rng, rec):
    b = load_db(d)
    pages = [p for p in reachable(b) if p[0] >= 2 and p[2] > 0]
    pid, flags, count, bucket = rng.choice(pages)
    at = pid * PAGE + 16 + rng.randrange(count * 16)
    b[at] ^= 1 << rng.randrange(8)
    save_db(d, b)
    rec("member/snap/db", at, 1, "bit flipped in the element headers of page %d (flags %#x, bucket %s)" % (pid, flags, bucket))


def db_data_flip(d, rng, rec):
    b = load_db(d)
    pages = [p for p in reachable(b) if p[0] >= 2 and p[2] > 0]
    pid, flags, count, bucket = rng.choice(pages)
    lo = pid * PAGE + 16 + count * 16
    at = rng.randrange(lo, (pid + 1) * PAGE)
    b[at] ^= 1 << rng.randrange(8)
    save_db(d, b)
    rec("member/snap/db", at, 1, "bit flipped in the key/value bytes of page %d (bucket %s)" % (pid, bucket))


def db_meta_flip(d, rng, rec):
    b = load_db(d)
    which = rng.choice([[0], [1], [0, 1]])
    for m in which:
        at = m * PAGE + 16 + rng.randrange(64)
        b[at] ^= 1 << rng.randrange(8)
        rec("member/snap/db", at, 1, "bit flipped in meta page %d" % m)
    save_db(d, b)


def current_meta_index(b):
    return 0 if meta_fields(b, 0)["txid"] >= meta_fields(b, 1)["txid"] else 1


def db_freelist_to_leaf(d, rng, rec):
    """The current meta's freelist pgid pointed at a leaf page (checksum rewritten):
    bbolt then panics 'invalid freelist page'."""
    b = load_db(d)
    m = current_meta_index(b)
    leaves = [p[0] for p in reachable(b) if p[1] == 0x02 and p[0] >= 2]
    pid = rng.choice(leaves)
    off = m * PAGE + 16 + 16 + 16
    struct.pack_into("<Q", b, off, pid)
    rewrite_meta_checksum(b, m)
    save_db(d, b)
    rec("member/snap/db", off, 8, "meta %d freelist pgid set to leaf page %d, checksum rewritten" % (m, pid))


def db_branch_child(d, rng, rec):
    b = load_db(d)
    branches = [p for p in reachable(b) if p[1] == 0x01]
    if not branches:
        raise NotApplicable("no branch page")
    pid, _, count, bucket = rng.choice(branches)
    i = rng.randrange(count)
    off = pid * PAGE + 16 + i * 16 + 8
    hwm = current_meta(b)["pgid"]
    new = rng.choice([0, 1, hwm + 5, rng.randrange(2, hwm), 1 << 40])
    struct.pack_into("<Q", b, off, new)
    save_db(d, b)
    rec("member/snap/db", off, 8, "branch page %d (bucket %s) element %d child set to %d" % (pid, bucket, i, new))


def db_members_damaged(d, rng, rec):
    b = load_db(d)
    leaves = find_bucket_leaves(b, b"members")
    els = [(k, voff, vsize) for base, count in leaves for f, k, voff, vsize in leaf_elements(b, base, count) if not f & 1]
    if not els:
        raise NotApplicable("no members")
    k, voff, vsize = rng.choice(els)
    how = rng.choice(["json-garbage", "flip", "key-renamed"])
    if how == "json-garbage":
        b[voff] = ord("x")
        at, n = voff, 1
    elif how == "flip":
        at, n = voff + rng.randrange(vsize), 1
        b[at] ^= 1 << rng.randrange(8)
    else:
        kstart = voff - len(k)
        at, n = kstart, 1
        b[kstart] = ord("f") if b[kstart] != ord("f") else ord("e")
    save_db(d, b)
    rec("member/snap/db", at, n, "members bucket, member %s: %s" % (k.decode("latin-1"), how))


def set_version(b, bucket, key, new):
    v = find_value(b, bucket, key)
    if not v or v[1] != len(new):
        return None
    b[v[0]:v[0] + v[1]] = new
    return v[0]


def db_version_newer(d, rng, rec):
    """storageVersion (3.6+) or cluster version set newer than the binary."""
    b = load_db(d)
    choices = [(b"meta", b"storageVersion"), (b"cluster", b"clusterVersion")]
    rng.shuffle(choices)
    for bucket, key in choices:
        new = rng.choice([b"3.9.0", b"4.0.0"])
        at = set_version(b, bucket, key, new)
        if at is not None:
            save_db(d, b)
            rec("member/snap/db", at, len(new), "%s/%s set to %s" % (bucket.decode(), key.decode(), new.decode()))
            return
    raise NotApplicable("no version value")


def db_consistent_index(d, rng, rec):
    """meta/consistent_index moved: back (db older than the WAL) or forward past the
    end of the WAL (db newer than the WAL, or a torn WAL)."""
    b = load_db(d)
    v = find_value(b, b"meta", b"consistent_index")
    if not v or v[1] != 8:
        raise NotApplicable("no consistent index")
    ci = struct.unpack_from(">Q", b, v[0])[0]
    new = rng.choice([max(0, ci - rng.randrange(1, 50)), ci + rng.randrange(1, 50), 0, ci + 100000])
    struct.pack_into(">Q", b, v[0], new)
    save_db(d, b)
    rec("member/snap/db", v[0], 8, "meta/consistent_index %d -> %d" % (ci, new))


def db_wal_torn_behind_ci(d, rng, rec):
    """WAL torn (zeroed to the end from a sector boundary) among entries the db has
    already applied: the db's consistent index is past the end of the readable WAL."""
    p = pick_segment(d, rng, last=True)
    b = open(p, "rb").read()
    recs = dm.read_records(b)
    ents = [o for o, t, _ in recs if t == dm.ENTRY]
    if len(ents) < 4:
        raise NotApplicable("too few entries")
    off = rng.choice(ents[-min(30, len(ents)):-1])
    open(p, "wb").write(b[:off + 9] + b"\0" * (len(b) - off - 9))
    rec(rel(d, p), off + 9, len(b) - off - 9, "zeroed from inside the entry record at %d to the end" % off)


CLASSES = [
    ("wal-torn-tail", wal_torn_tail),
    ("wal-zero-range", wal_zero_range),
    ("wal-cut", wal_cut),
    ("wal-flip", wal_flip),
    ("wal-segment-missing", wal_segment_missing),
    ("wal-segment-renamed", wal_segment_renamed),
    ("wal-drop-entry", wal_drop_entry),
    ("wal-drop-tail-entries", wal_drop_tail_entries),
    ("wal-append-garbage", wal_append_garbage),
    ("wal-torn-behind-ci", db_wal_torn_behind_ci),
    ("snap-flip", snap_flip),
    ("snap-missing", snap_missing),
    ("snap-truncated", snap_truncated),
    ("snapdb-stray", snapdb_stray),
    ("db-missing", db_missing),
    ("db-truncated", db_truncated),
    ("db-page-zeroed", db_page_zeroed),
    ("db-header-flip", db_header_flip),
    ("db-element-flip", db_element_flip),
    ("db-data-flip", db_data_flip),
    ("db-meta-flip", db_meta_flip),
    ("db-freelist-to-leaf", db_freelist_to_leaf),
    ("db-branch-child", db_branch_child),
    ("db-members-damaged", db_members_damaged),
    ("db-version-newer", db_version_newer),
    ("db-consistent-index", db_consistent_index),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--line", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--classes", help="comma-separated subset of class names")
    ap.add_argument("out")
    a = ap.parse_args()
    classes = CLASSES
    if a.classes:
        want = set(a.classes.split(","))
        classes = [c for c in CLASSES if c[0] in want]
    order = list(classes)
    random.Random("%s:%s:order" % (a.seed, a.line)).shuffle(order)
    os.makedirs(a.out, exist_ok=True)
    records = []
    for i in range(a.count):
        for attempt in range(len(order)):
            name, fn = order[(i + attempt) % len(order)]
            rng = random.Random("%s:%s:%d:%d" % (a.seed, a.line, i, attempt))
            cid = "%s-%03d-%s" % (a.line, i, name)
            d = os.path.join(a.out, cid)
            if os.path.exists(d):
                shutil.rmtree(d)
            shutil.copytree(a.src, d, symlinks=True)
            changes = []

            def rec(path, offset, length, what):
                changes.append({"file": path, "offset": offset, "length": length, "what": what})

            try:
                fn(d, rng, rec)
            except (NotApplicable, IndexError, ValueError) as e:
                shutil.rmtree(d)
                continue
            records.append({"id": cid, "line": a.line, "class": name, "seed": a.seed, "index": i,
                            "attempt": attempt, "dir": cid, "changes": changes})
            break
    with open(os.path.join(a.out, "matrix-%s.json" % a.line), "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print("%d damaged copies of %s in %s" % (len(records), a.src, a.out))


if __name__ == "__main__":
    main()
