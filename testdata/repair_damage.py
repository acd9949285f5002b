#!/usr/bin/env python3
"""Make real etcd 3.4 members, record what clients were told, and damage
copies of them in recorded ways: the inputs of the repair tests.

    python3 testdata/repair_damage.py OUT_DIR

Two members are written by real etcd on loopback (etcd and its JSON gateway;
standard library only):

* `base`: a workload of puts, updates, deletes, a prefix delete, txns that
  succeed and fail, keys on leases, a lease revoke and a compaction, then a
  clean stop. `truth-base.json` is every key with the value and revision the
  client was last told.
* `killed`: `base` restarted with the backend's batch commit pushed out of
  reach, more acknowledged writes (puts, deletes, a txn, a lease grant and
  revoke), then SIGKILL: those writes are in the WAL only, as after a crash
  right after the acknowledgements. `truth-killed.json`.

Then OUT_DIR/<case>/ copies with one damage each and OUT_DIR/cases.json
recording, per case, the damage (file, offset, length, what) and which truth
applies: full-disk truncation of the db (at a page boundary and inside a
page), a zeroed branch page and a zeroed leaf page of the `key` bucket, a
flipped bit in a branch's child page id and in a leaf value, one and both metas bad, a torn and a zeroed WAL
tail and a flipped bit in the middle of its unsynced writes on the killed member (the last write's record is lost: that client was
never acknowledged, so its truth leaves the write out).
"""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import damage  # noqa: E402  (the recorded-damage helpers beside this file)


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Etcd:
    def __init__(self, data_dir, extra=()):
        self.cport, self.pport = free_port(), free_port()
        self.ep = "http://127.0.0.1:%d" % self.cport
        peer = "http://127.0.0.1:%d" % self.pport
        self.log = open(data_dir + ".log", "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "n1", "--data-dir", data_dir,
             "--listen-client-urls", self.ep, "--advertise-client-urls", self.ep,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "n1=" + peer, "--initial-cluster-token", "repair-fixture",
             *extra],
            stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                self.call("/v3/kv/range", {"key": b64("health")})
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("etcd did not start (see %s.log)" % data_dir)

    def call(self, path, body):
        req = urllib.request.Request(self.ep + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)


class Client:
    """Writes through the gateway and keeps what each answer told."""

    def __init__(self, etcd, truth):
        self.e = etcd
        self.truth = truth  # key -> [value, mod_revision, lease]

    def put(self, key, value, lease=None):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = lease
        r = self.e.call("/v3/kv/put", body)
        self.truth[key] = [value, int(r["header"]["revision"]), lease or "0"]

    def delete(self, key, prefix=False):
        body = {"key": b64(key)}
        if prefix:
            end = key[:-1] + chr(ord(key[-1]) + 1)
            body["range_end"] = b64(end)
        r = self.e.call("/v3/kv/deleterange", body)
        gone = [k for k in self.truth if (k.startswith(key) if prefix else k == key)]
        if int(r.get("deleted", "0")) != len(gone):
            raise SystemExit("delete %s: etcd deleted %s, expected %d" % (key, r.get("deleted"), len(gone)))
        for k in gone:
            del self.truth[k]

    def cas(self, key, expect, new, also):
        """Put `new` at `key` and `also` (a key) if `key` holds `expect`."""
        r = self.e.call("/v3/kv/txn", {
            "compare": [{"result": "EQUAL", "target": "VALUE", "key": b64(key), "value": b64(expect)}],
            "success": [{"request_put": {"key": b64(key), "value": b64(new)}},
                        {"request_put": {"key": b64(also), "value": b64("txn")}}],
            "failure": [{"request_range": {"key": b64(key)}}],
        })
        ok = bool(r.get("succeeded"))
        if ok:
            rev = int(r["header"]["revision"])
            self.truth[key] = [new, rev, "0"]
            self.truth[also] = ["txn", rev, "0"]
        return ok

    def grant(self, ttl):
        return self.e.call("/v3/lease/grant", {"TTL": ttl})["ID"]

    def revoke(self, lease):
        self.e.call("/v3/lease/revoke", {"ID": lease})
        for k in [k for k, v in self.truth.items() if v[2] == lease]:
            del self.truth[k]

    def compact(self, rev):
        self.e.call("/v3/kv/compaction", {"revision": rev, "physical": True})

    def revision(self):
        return int(self.e.call("/v3/kv/range", {"key": b64("\0"), "limit": 1})["header"]["revision"])

    def check(self):
        """What etcd serves must be what the answers told."""
        r = self.e.call("/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0")})
        served = {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                  for kv in r.get("kvs", [])}
        want = {k: v[0] for k, v in self.truth.items()}
        if served != want:
            diff = sorted(set(served.items()) ^ set(want.items()))[:5]
            raise SystemExit("served keyspace differs from the recorded answers: %s" % diff)


def value(i, n, tag):
    s = "%s-%d;" % (tag, i)
    return (s * (n // len(s) + 1))[:n]


def workload_base(c):
    for i in range(1500):
        c.put("/reg/items/%04d" % i, value(i, 60 + (i * 37) % 180, "v1"))
    for rnd in (2, 3):
        for i in range(0, 1500, 3):
            c.put("/reg/items/%04d" % i, value(i, 80 + (i * 13) % 150, "v%d" % rnd))
    for i in range(100, 200):
        c.delete("/reg/items/%04d" % i)
    for i in range(20):
        c.put("/tmp/scratch/%02d" % i, "t")
    c.delete("/tmp/scratch/", prefix=True)
    c.put("/app/config", "version-1")
    assert c.cas("/app/config", "version-1", "version-2", "/app/txn-ok")
    assert not c.cas("/app/config", "version-1", "version-x", "/app/txn-bad")
    lease = c.grant(3600)
    for i in range(30):
        c.put("/leased/keep/%02d" % i, "on-lease", lease)
    doomed = c.grant(3600)
    for i in range(10):
        c.put("/leased/gone/%02d" % i, "revoked-soon", doomed)
    c.revoke(doomed)
    c.compact(c.revision() - 800)
    for i in range(0, 1500, 7):
        c.put("/reg/items/%04d" % i, value(i, 100, "after-compact"))
    for i in range(200):
        c.put("/reg/late/%03d" % i, value(i, 120, "late"))


def workload_killed(c):
    for i in range(0, 600, 5):
        c.put("/reg/items/%04d" % i, value(i, 90, "unsynced"))
    for i in range(40):
        c.put("/reg/new/%02d" % i, "new-%d" % i)
    for i in range(200, 220):
        c.delete("/reg/items/%04d" % i)
    assert c.cas("/app/config", "version-2", "version-3", "/app/txn-killed")
    assert not c.cas("/app/config", "version-2", "version-x", "/app/txn-killed-bad")
    for i in range(10):
        c.put("/tmp/killed/%d" % i, "t")
    c.delete("/tmp/killed/", prefix=True)
    kept = c.grant(3600)
    for i in range(5):
        c.put("/leased/killed-kept/%d" % i, "y", kept)
    lease = c.grant(3600)
    for i in range(5):
        c.put("/leased/killed/%d" % i, "x", lease)
    c.revoke(lease)
    c.put("/reg/killed/last", "the last write")


def trim_wal(member_copy):
    """Drop the preallocated zeros after the last record of each WAL segment
    (whole 8-byte units kept) so the copies stay small."""
    w = os.path.join(member_copy, "member", "wal")
    for name in sorted(os.listdir(w)):
        p = os.path.join(w, name)
        data = open(p, "rb").read()
        end = (len(data.rstrip(b"\0")) + 7) // 8 * 8
        with open(p, "r+b") as f:
            f.truncate(end)


def write_truth(path, truth):
    with open(path, "w") as f:
        json.dump({k: {"value": v[0], "revision": v[1]} for k, v in sorted(truth.items())}, f, indent=0)
        f.write("\n")


# --- damage ------------------------------------------------------------------
DB = os.path.join("member", "snap", "db")


def last_entry_record(d):
    path, rel = damage.wal_path(d)
    b = open(path, "rb").read()
    recs = damage.read_records(b)
    ends = [r[0] for r in recs[1:]] + [None]
    last = [(off, end) for (off, t, _), end in zip(recs, ends) if t == damage.ENTRY]
    if not last:
        raise SystemExit("no entry record")
    return path, rel, b, last[-1]


def case_wal_cut_last_entry(d, rec):
    path, rel, b, (off, end) = last_entry_record(d)
    cut = off + 8 + (end - off - 8) // 2 if end else off + 16
    open(path, "wb").write(b[:cut])
    rec(rel, cut, len(b) - cut, "WAL cut in the middle of its last entry record (at %d): a full disk mid-append" % off)


def case_wal_zero_last_entry(d, rec):
    path, rel, b, (off, end) = last_entry_record(d)
    start = off + 8
    open(path, "wb").write(b[:start] + b"\0" * (len(b) - start))
    rec(rel, start, len(b) - start, "WAL zeroed from inside its last entry record (at %d) to the end: a torn write" % off)


def case_wal_flip_mid(d, rec):
    path, rel, b, (off, end) = last_entry_record(d)
    recs = damage.read_records(b)
    # A record in the middle of the writes only the WAL holds.
    entries = [r for r in recs if r[1] == damage.ENTRY]
    mid = entries[-60][0]
    b = bytearray(b)
    b[mid + 12] ^= 0x01
    open(path, "wb").write(b)
    rec(rel, mid + 12, 1, "one bit flipped in the WAL record at %d, among the writes the db does not have" % mid)


def case_db_cut(d, rec, frac, in_page):
    p = os.path.join(d, DB)
    size = os.path.getsize(p)
    cut = int(size * frac) // 4096 * 4096 + (1234 if in_page else 0)
    os.truncate(p, cut)
    rec(DB, cut, size - cut, "db cut to %d of %d bytes (a full disk)" % (cut, size))


def key_pages(d, flags):
    b = bytearray(open(os.path.join(d, DB), "rb").read())
    return b, [pid for pid, f, count, bucket in damage.reachable_pages(b) if f == flags and bucket == "key" and count > 2]


def case_zero_page(d, rec, flags, what):
    b, pages = key_pages(d, flags)
    if not pages:
        raise SystemExit("no %s page in the key bucket" % what)
    pid = pages[len(pages) // 2]
    b[pid * 4096:(pid + 1) * 4096] = b"\0" * 4096
    open(os.path.join(d, DB), "wb").write(b)
    rec(DB, pid * 4096, 4096, "%s page %d of bucket 'key' zeroed" % (what, pid))


def case_db_branch_flipped(d, rec):
    b, pages = key_pages(d, 0x01)
    if not pages:
        raise SystemExit("no branch page in the key bucket")
    pid = pages[len(pages) // 2]
    count = struct.unpack_from("<H", b, pid * 4096 + 10)[0]
    # The low byte of the middle element's child page id: the branch now
    # sends readers to some other page.
    at = pid * 4096 + 16 + (count // 2) * 16 + 8
    b[at] ^= 0x01
    open(os.path.join(d, DB), "wb").write(b)
    rec(DB, at, 1, "one bit flipped in a child page id of branch page %d of bucket 'key'" % pid)


def case_db_leaf_flipped(d, rec):
    b, pages = key_pages(d, 0x02)
    pid = pages[len(pages) // 3]
    base = pid * 4096 + 16
    _f, pos, ksize, vsize = struct.unpack_from("<IIII", b, base)
    at = base + pos + ksize + vsize // 2
    b[at] ^= 0x01
    open(os.path.join(d, DB), "wb").write(b)
    rec(DB, at, 1, "one bit flipped in the first value of leaf page %d of bucket 'key'" % pid)


CASES = [
    # name, source member, truth, damage (None: a clean copy)
    ("clean", "base", "truth-base.json", None),
    ("db-meta0-bad", "base", "truth-base.json", lambda d, r: damage.case_bad_meta(d, r, [0])),
    ("db-both-metas-bad", "base", "truth-base.json", lambda d, r: damage.case_bad_meta(d, r, [0, 1])),
    ("db-cut-at-page", "base", "truth-base.json", lambda d, r: case_db_cut(d, r, 0.6, False)),
    ("db-cut-in-page", "base", "truth-base.json", lambda d, r: case_db_cut(d, r, 0.8, True)),
    ("db-branch-zeroed", "base", "truth-base.json", lambda d, r: case_zero_page(d, r, 0x01, "branch")),
    ("db-branch-flipped", "base", "truth-base.json", case_db_branch_flipped),
    ("db-leaf-zeroed", "base", "truth-base.json", lambda d, r: case_zero_page(d, r, 0x02, "leaf")),
    ("db-leaf-flipped", "base", "truth-base.json", case_db_leaf_flipped),
    ("killed", "killed", "truth-killed.json", None),
    ("killed-wal-cut", "killed", "truth-killed-torn.json", case_wal_cut_last_entry),
    ("killed-wal-zeroed", "killed", "truth-killed-torn.json", case_wal_zero_last_entry),
    ("killed-wal-flipped", "killed", "truth-killed.json", case_wal_flip_mid),
]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="repair-fixture-")
    data = os.path.join(work, "data")
    truth = {}
    try:
        e = Etcd(data)
        c = Client(e, truth)
        workload_base(c)
        c.check()
        e.stop()
        shutil.copytree(data, os.path.join(out, "base"))
        trim_wal(os.path.join(out, "base"))
        write_truth(os.path.join(out, "truth-base.json"), truth)

        e = Etcd(data, ["--backend-batch-interval", "1h", "--backend-batch-limit", "1000000"])
        c = Client(e, truth)
        workload_killed(c)
        c.check()
        e.kill()
        shutil.copytree(data, os.path.join(out, "killed"))
        trim_wal(os.path.join(out, "killed"))
        write_truth(os.path.join(out, "truth-killed.json"), truth)
        del truth["/reg/killed/last"]
        write_truth(os.path.join(out, "truth-killed-torn.json"), truth)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    record = []
    for name, src, truth_file, fn in CASES:
        d = os.path.join(out, name)
        if name != src:
            if os.path.exists(d):
                shutil.rmtree(d)
            shutil.copytree(os.path.join(out, src), d)
        changes = []

        def rec(path, offset, length, what):
            changes.append({"file": path, "offset": offset, "length": length, "what": what})

        if fn:
            fn(d, rec)
        record.append({"case": name, "dir": name, "truth": truth_file, "changes": changes})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print("%d cases in %s" % (len(record), out))


if __name__ == "__main__":
    main()
