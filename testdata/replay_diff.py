#!/usr/bin/env python3
"""Differential test of `etcd-rescue repair --replay-wal` against real etcd.

    python3 testdata/replay_diff.py --line 3.5 --etcd BIN --etcdctl BIN \
        [--restore-tool BIN] --rescue BIN --seed N --ops N --kills N \
        --work DIR [--report FILE]

A seeded workload drives one real etcd member of the line (on loopback,
through its JSON gateway; standard library only) with puts (leases,
prev_kv, ignore_value, ignore_lease), deletes and prefix deletes, txns with
compares of every target and nested txns, lease grants (explicit and
duplicate ids), revokes (of missing leases too) and expiry, compactions
(stale and future ones too), auth (root, users, roles, permissions granted
and revoked, passwords changed, auth disabled and enabled again; JWT tokens,
so a token taken before an auth change carries a stale auth revision), a
NOSPACE alarm raised and cleared with writes in between, and requests etcd
rejects when it applies them: no user, permission denied, stale revision,
lease not found, lease exists, compacted or future revision, too large.

At seeded points the member is frozen (SIGSTOP), its data dir copied
(exactly the files a SIGKILL at that instant leaves: the process writes
with write(2), nothing is lost from the page cache), and thawed; the last
point is a real SIGKILL. Some copies then get their WAL tail torn: the last
bytes of the records zeroed, or the segment cut inside its last record.

For each kill point: etcd of the line restarts on one copy and serves; on
another copy `etcd-rescue repair --replay-wal --etcd-version LINE` writes a
snapshot, that line's restore tool restores it and etcd of the line serves
it. The state read from both through the gateway as root must be identical:
every key (value, create/mod revision, version, lease), the revision, hashkv
and compact revision, leases (granted TTL, keys), users (roles, which of the
passwords ever set log in), roles (permissions), auth on or off (and the auth
revision where the line reports it), alarms.

The report (JSON) lists per kill point the outcome and, for a disagreement,
the fields that differ; exit 0 when every kill point agrees.
"""

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

TOKEN = "replay-diff"


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repair_damage import b64, free_port  # noqa: E402  (the gateway helpers beside this file)


class Failed(Exception):
    """An error answer from etcd (the request was refused)."""


class Etcd:
    """One etcd process on a data dir; `peer` is the advertised peer URL
    (kept across restarts and restores so the member id stays the same)."""

    def __init__(self, bin_, data_dir, peer, jwt, log, extra=()):
        self.cport, lport = free_port(), free_port()
        self.ep = "http://127.0.0.1:%d" % self.cport
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [bin_, "--name", "n1", "--data-dir", data_dir,
             "--listen-client-urls", self.ep, "--advertise-client-urls", self.ep,
             "--listen-peer-urls", "http://127.0.0.1:%d" % lport,
             "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "n1=" + peer, "--initial-cluster-token", TOKEN,
             "--auth-token", jwt, "--max-request-bytes", "65536", "--bcrypt-cost", "4", *extra],
            stdout=self.log, stderr=self.log)

    def wait(self, limit=30):
        """Until it answers a linearizable read (or says auth is needed)."""
        end = time.time() + limit
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                self.call("/v3/kv/range", {"key": b64("health")}, timeout=2)
                return True
            except Failed as e:
                if "user name" in str(e) or "permission" in str(e) or "token" in str(e):
                    return True
            except Exception:
                pass
            time.sleep(0.05)
        return False

    def call(self, path, body, token=None, timeout=10):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        req = urllib.request.Request(self.ep + path, data=json.dumps(body).encode(),
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                text = json.loads(text).get("error") or json.loads(text).get("message") or text
            except ValueError:
                pass
            raise Failed(text)

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)
        self.log.close()


# ---------------------------------------------------------------- workload

KEYS = ["/a/%d" % i for i in range(12)] + ["/b/%d" % i for i in range(10)] + \
       ["/c/x", "/c/y", "/c/z", "/d", "/d0", "/e/1"]
PREFIXES = ["/a/", "/b/", "/c/", "/d", "/"]
USERS = ["alice", "bob", "carol"]
ROLES = ["ra", "rb", "rc"]


def prefix_end(p):
    return p[:-1] + chr(ord(p[-1]) + 1)


class Workload:
    def __init__(self, etcd, rng, log):
        self.e, self.r, self.logf = etcd, rng, log
        self.tokens = {}      # user -> current token
        self.stale = []       # tokens taken before some auth change
        self.passwords = {"root": ["rootpw"]}
        self.current_pw = {"root": "rootpw"}
        self.leases = []      # ids granted (some revoked / expired)
        self.auth_on = False
        self.member_id = None
        self.alarm_on = False
        self.rev = 1
        self.compacted = 0
        self.counts = {}

    def note(self, name, ok):
        k = name + (" ok" if ok else " refused")
        self.counts[k] = self.counts.get(k, 0) + 1

    def call(self, name, path, body, token=None):
        try:
            r = self.e.call(path, body, token)
            hdr = r.get("header", {})
            if "revision" in hdr:
                self.rev = max(self.rev, int(hdr["revision"]))
            if self.member_id is None and "member_id" in hdr:
                self.member_id = hdr["member_id"]
            self.note(name, True)
            return r
        except Failed as err:
            self.note(name, False)
            self.logf.write("%s refused: %s\n" % (name, err))
            return None
        except Exception as err:  # a timeout: the request may still apply
            self.note(name, False)
            self.logf.write("%s: %s\n" % (name, err))
            return None

    def login(self, user):
        pw = self.current_pw.get(user)
        if pw is None or not self.auth_on:
            return None
        r = self.call("authenticate", "/v3/auth/authenticate", {"name": user, "password": pw})
        if r and r.get("token"):
            self.tokens[user] = r["token"]
            return r["token"]
        return None

    def root(self):
        if not self.auth_on:
            return None
        return self.tokens.get("root") or self.login("root")

    def auth_changed(self):
        """Every token held so far now carries an old auth revision."""
        self.stale.extend(self.tokens.values())
        self.stale = self.stale[-20:]
        self.tokens = {}

    def identity(self):
        """Who sends the next data request: root, a user, a stale token or
        nobody."""
        if not self.auth_on:
            return None
        x = self.r.random()
        if x < 0.45:
            return self.root()
        if x < 0.75:
            u = self.r.choice(USERS)
            return self.tokens.get(u) or self.login(u)
        if x < 0.9 and self.stale:
            return self.r.choice(self.stale)
        return None

    def key(self):
        return self.r.choice(KEYS)

    def value(self):
        n = self.r.choice([1, 5, 20, 200, 2000])
        return "v%d-" % self.r.randrange(10 ** 6) + "x" * n

    def lease_id(self):
        if self.leases and self.r.random() < 0.8:
            return self.r.choice(self.leases)
        return str(self.r.randrange(1, 1 << 40))

    # ----- requests
    def put_body(self):
        b = {"key": b64(self.key()), "value": b64(self.value())}
        x = self.r.random()
        if x < 0.25:
            b["lease"] = self.lease_id()
        elif x < 0.32:
            b["ignore_value"] = True
            b.pop("value")
        elif x < 0.38:
            b["ignore_lease"] = True
        if self.r.random() < 0.2:
            b["prev_kv"] = True
        return b

    def delete_body(self):
        if self.r.random() < 0.3:
            p = self.r.choice(PREFIXES)
            b = {"key": b64(p), "range_end": b64(prefix_end(p))}
        elif self.r.random() < 0.05:
            b = {"key": b64("/b/5"), "range_end": b64("\0")}
        else:
            b = {"key": b64(self.key())}
        if self.r.random() < 0.2:
            b["prev_kv"] = True
        return b

    def range_body(self):
        if self.r.random() < 0.5:
            p = self.r.choice(PREFIXES)
            return {"key": b64(p), "range_end": b64(prefix_end(p))}
        return {"key": b64(self.key())}

    def compare(self):
        t = self.r.choice(["VALUE", "VERSION", "CREATE", "MOD", "LEASE"])
        c = {"result": self.r.choice(["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]),
             "target": t, "key": b64(self.key())}
        if self.r.random() < 0.15:
            p = self.r.choice(PREFIXES)
            c["key"], c["range_end"] = b64(p), b64(prefix_end(p))
        if t == "VALUE":
            c["value"] = b64(self.r.choice(["", "v", "v5-x", self.value()]))
        elif t == "VERSION":
            c["version"] = str(self.r.randrange(0, 4))
        elif t == "CREATE":
            c["create_revision"] = str(self.r.randrange(0, self.rev + 2))
        elif t == "MOD":
            c["mod_revision"] = str(self.r.randrange(0, self.rev + 2))
        else:
            c["lease"] = self.lease_id() if self.r.random() < 0.7 else "0"
        return c

    def txn_body(self, depth=0):
        def ops():
            out, used = [], set()
            for _ in range(self.r.randrange(0, 4)):
                x = self.r.random()
                if x < 0.4:
                    b = self.put_body()
                    if b["key"] in used:
                        continue
                    used.add(b["key"])
                    out.append({"request_put": b})
                elif x < 0.6:
                    b = {"key": b64(self.key())}
                    if b["key"] in used:
                        continue
                    used.add(b["key"])
                    out.append({"request_delete_range": b})
                elif x < 0.85:
                    out.append({"request_range": self.range_body()})
                elif depth < 2:
                    out.append({"request_txn": self.txn_body(depth + 1)})
            return out
        return {"compare": [self.compare() for _ in range(self.r.randrange(0, 3))],
                "success": ops(), "failure": ops()}

    def step(self):
        x = self.r.random()
        if x < 0.30:
            self.call("put", "/v3/kv/put", self.put_body(), self.identity())
        elif x < 0.38:
            self.call("delete", "/v3/kv/deleterange", self.delete_body(), self.identity())
        elif x < 0.52:
            self.call("txn", "/v3/kv/txn", self.txn_body(), self.identity())
        elif x < 0.55:
            self.call("range", "/v3/kv/range", self.range_body(), self.identity())
        elif x < 0.61:
            body = {"TTL": self.r.choice([4, 6, 3600, 7200])}
            if self.r.random() < 0.3:
                body["ID"] = self.lease_id()
            r = self.call("lease grant", "/v3/lease/grant", body, self.identity())
            if r and r.get("ID"):
                self.leases.append(r["ID"])
        elif x < 0.64:
            self.call("lease revoke", "/v3/lease/revoke", {"ID": self.lease_id()},
                      self.identity())
        elif x < 0.66:
            lo = self.compacted
            at = self.r.choice([self.r.randrange(lo, self.rev + 1), lo, self.rev + 5])
            r = self.call("compact", "/v3/kv/compaction", {"revision": str(at)},
                          self.identity())
            if r is not None:
                self.compacted = max(self.compacted, at)
        elif x < 0.67:
            self.call("put too large", "/v3/kv/put",
                      {"key": b64(self.key()), "value": b64("L" * 70000)}, self.identity())
        elif x < 0.86:
            self.auth_step()
        elif x < 0.88:
            self.alarm_step("ACTIVATE")
        if self.alarm_on and self.r.random() < 0.3:
            self.alarm_step("DEACTIVATE")

    def auth_step(self):
        r = self.r
        tok = self.root() if r.random() < 0.85 else self.identity()
        x = r.random()
        if not self.auth_on and x < 0.15:
            self.enable_auth()
            return
        if self.auth_on and x < 0.03:
            if self.call("auth disable", "/v3/auth/disable", {}, tok) is not None:
                self.auth_on = False
                self.auth_changed()
            return
        changed = None
        if x < 0.25:
            u = r.choice(USERS)
            pw = "pw-%s-%d" % (u, r.randrange(1000))
            changed = self.call("user add", "/v3/auth/user/add", {"name": u, "password": pw}, tok)
            if changed is not None:
                self.passwords.setdefault(u, []).append(pw)
                self.current_pw[u] = pw
        elif x < 0.35:
            u = r.choice(USERS)
            pw = "pw-%s-%d" % (u, r.randrange(1000))
            changed = self.call("user passwd", "/v3/auth/user/changepw",
                                {"name": u, "password": pw}, tok)
            if changed is not None:
                self.passwords.setdefault(u, []).append(pw)
                self.current_pw[u] = pw
        elif x < 0.40:
            u = r.choice(USERS)
            changed = self.call("user delete", "/v3/auth/user/delete", {"name": u}, tok)
            if changed is not None:
                self.current_pw.pop(u, None)
        elif x < 0.50:
            changed = self.call("role add", "/v3/auth/role/add", {"name": r.choice(ROLES)}, tok)
        elif x < 0.53:
            changed = self.call("role delete", "/v3/auth/role/delete",
                                {"role": r.choice(ROLES)}, tok)
        elif x < 0.68:
            changed = self.call("user grant", "/v3/auth/user/grant",
                                {"user": r.choice(USERS), "role": r.choice(ROLES)}, tok)
        elif x < 0.72:
            changed = self.call("user revoke", "/v3/auth/user/revoke",
                                {"name": r.choice(USERS), "role": r.choice(ROLES)}, tok)
        elif x < 0.90:
            p = r.choice(PREFIXES + KEYS)
            perm = {"permType": r.choice(["READ", "WRITE", "READWRITE"]), "key": b64(p)}
            if p in PREFIXES:
                perm["range_end"] = b64(prefix_end(p))
            elif r.random() < 0.1:
                perm["range_end"] = b64("\0")
            changed = self.call("role grant", "/v3/auth/role/grant",
                                {"name": r.choice(ROLES), "perm": perm}, tok)
        else:
            p = r.choice(PREFIXES + KEYS)
            body = {"role": r.choice(ROLES), "key": b64(p)}
            if p in PREFIXES:
                body["range_end"] = b64(prefix_end(p))
            changed = self.call("role revoke", "/v3/auth/role/revoke", body, tok)
        if changed is not None:
            self.auth_changed()

    def enable_auth(self):
        tok = None
        self.call("user add", "/v3/auth/user/add", {"name": "root", "password": "rootpw"}, tok)
        self.call("user grant", "/v3/auth/user/grant", {"user": "root", "role": "root"}, tok)
        if self.call("auth enable", "/v3/auth/enable", {}, tok) is not None:
            self.auth_on = True
            self.auth_changed()

    def alarm_step(self, action):
        """NOSPACE raised by hand: etcd refuses writes at apply until it is
        cleared."""
        if self.member_id is None:
            self.call("range", "/v3/kv/range", {"key": b64("x")}, self.root())
        if self.member_id is None:
            return
        r = self.call("alarm " + action.lower(), "/v3/maintenance/alarm",
                      {"action": action, "memberID": self.member_id, "alarm": "NOSPACE"},
                      self.root())
        if r is not None:
            self.alarm_on = action == "ACTIVATE"


# ---------------------------------------------------------------- state

def hashkv(e, etcdctl, auth):
    """`etcdctl endpoint hashkv` (the gateway does not route HashKV in 3.4)."""
    cmd = [etcdctl, "--endpoints", e.ep, "endpoint", "hashkv", "-w", "json"]
    if auth:
        cmd[3:3] = ["--user", "root:rootpw"]
    o = subprocess.run(cmd, env=dict(os.environ, ETCDCTL_API="3"), capture_output=True,
                       text=True)
    if o.returncode != 0:
        return "hashkv failed: %s" % o.stderr.strip()
    h = json.loads(o.stdout)[0]["HashKV"]
    return [h.get("hash"), h.get("compact_revision", 0)]


def read_state(e, etcdctl, passwords):
    try:
        return read_all(e, etcdctl, passwords)
    except Exception as err:  # an answer missing: said, compared as such
        return {"read failed": str(err)}


def read_all(e, etcdctl, passwords):
    """Everything a client can read back, as root."""
    st = {}
    tok = None
    try:
        tok = e.call("/v3/auth/authenticate", {"name": "root", "password": "rootpw"})["token"]
        st["auth"] = "on"
    except Failed as err:
        st["auth"] = "off" if "not enabled" in str(err) else "root cannot log in: %s" % err
    try:
        s = e.call("/v3/auth/status", {}, tok)
        st["auth_revision"] = s.get("authRevision", "0")
    except Exception:
        pass
    r = e.call("/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0")}, tok)
    st["revision"] = r["header"]["revision"]
    st["kvs"] = [[base64.b64decode(kv["key"]).decode(errors="replace"),
                  kv.get("value", ""), kv.get("create_revision"), kv.get("mod_revision"),
                  kv.get("version"), kv.get("lease", "0")] for kv in r.get("kvs", [])]
    st["hashkv"] = hashkv(e, etcdctl, st["auth"] == "on")
    leases = []
    for l in e.call("/v3/lease/leases", {}, tok).get("leases", []):
        t = e.call("/v3/lease/timetolive", {"ID": l["ID"], "keys": True}, tok)
        keys = sorted(base64.b64decode(k).decode(errors="replace") for k in t.get("keys", []))
        leases.append([l["ID"], t.get("grantedTTL"), keys])
    st["leases"] = sorted(leases)
    users = {}
    roles = {}
    if st["auth"] == "on":
        for u in e.call("/v3/auth/user/list", {}, tok).get("users", []):
            g = e.call("/v3/auth/user/get", {"name": u}, tok)
            ok = []
            for pw in passwords.get(u, []):
                try:
                    e.call("/v3/auth/authenticate", {"name": u, "password": pw})
                    ok.append(pw)
                except Failed:
                    pass
            users[u] = {"roles": g.get("roles", []), "logs_in_with": ok}
        for ro in e.call("/v3/auth/role/list", {}, tok).get("roles", []):
            g = e.call("/v3/auth/role/get", {"role": ro}, tok)
            roles[ro] = g.get("perm", [])
    else:
        # Auth off: the users and roles are still stored; etcd lists them.
        try:
            for u in e.call("/v3/auth/user/list", {}).get("users", []):
                users[u] = {"roles": e.call("/v3/auth/user/get", {"name": u}).get("roles", [])}
            for ro in e.call("/v3/auth/role/list", {}).get("roles", []):
                roles[ro] = e.call("/v3/auth/role/get", {"role": ro}).get("perm", [])
        except Failed:
            pass
    st["users"], st["roles"] = users, roles
    al = e.call("/v3/maintenance/alarm", {"action": "GET"}, tok)
    st["alarms"] = sorted([a.get("memberID"), a.get("alarm")] for a in al.get("alarms", []))
    return st


# ---------------------------------------------------------------- damage

def last_segment(member):
    wal = os.path.join(member, "member", "wal")
    segs = sorted(f for f in os.listdir(wal) if f.endswith(".wal"))
    return os.path.join(wal, segs[-1]) if segs else None


def first_unapplied(rescue, member, seg):
    """Offset in `seg` of the first entry the db has not applied: only
    those bytes can be lost by a crash (etcd writes and syncs an entry to
    the WAL before its db holds it), so a tear starts there or later."""
    st = json.loads(subprocess.run([rescue, "status", member, "-o", "json"],
                                   capture_output=True, text=True).stdout)
    applied = st[0]["Status"]["raftAppliedIndex"]
    rows = subprocess.run([rescue, "wal", "dump", member, "--raw", "-o", "json"],
                          capture_output=True, text=True).stdout.splitlines()
    for line in rows:
        r = json.loads(line)
        if (r.get("record") == "entry" and r.get("index", 0) > applied
                and r.get("file") == os.path.basename(seg)):
            return r["offset"]
    return None


def tear(rescue, member, rng):
    """Tear the last WAL segment's tail past what the db holds: zero its
    last sectors, or cut it inside a record. Returns what was done."""
    seg = last_segment(member)
    if seg is None:
        return None
    lo = first_unapplied(rescue, member, seg)
    if lo is None:
        return None
    with open(seg, "rb") as f:
        data = f.read()
    end = len(data.rstrip(b"\0"))
    if end - lo < 16:
        return None
    n = rng.randrange(1, min(600, end - lo))
    at = end - n
    if rng.random() < 0.5:
        # A torn write: the sectors from one boundary on never reached the
        # disk (etcd tells a torn tail by a zeroed 512-byte sector).
        at = max(at - at % 512, lo + 512 - lo % 512 if lo % 512 else lo)
        if at >= end:
            return None
        with open(seg, "r+b") as f:
            f.seek(at)
            f.write(b"\0" * (end - at))
        return "zeroed from %d to %d of %s" % (at, end, os.path.basename(seg))
    with open(seg, "r+b") as f:
        f.truncate(at)
    return "cut at %d of %s (%d bytes of records lost)" % (at, os.path.basename(seg), n)


def sparse_copy(src, dst):
    subprocess.run(["cp", "-a", "--sparse=always", src, dst], check=True)


# ---------------------------------------------------------------- main

# Reading copies: etcd adds the election timeout to every lease's TTL when
# it becomes leader, so with 3 s even a 4 s lease lives 7 s after that and
# no lease expires (no revoke changes the store) while the state is read.
READER = ["--heartbeat-interval", "100", "--election-timeout", "3000"]


def start_etcd(bin_, data, peer, jwt, log, extra):
    """Start etcd and wait until it serves; a port taken between choosing
    and binding it is retried with new ports. None when it does not serve."""
    for _ in range(3):
        e = Etcd(bin_, data, peer, jwt, log, extra)
        if e.wait():
            return e
        e.kill()
        with open(log, "rb") as f:
            if b"address already in use" not in f.read()[-4000:]:
                return None
    return None


def serve_and_read(args, data, peer, jwt, passwords, log):
    e = start_etcd(args.etcd, data, peer, jwt, log, READER)
    if e is None:
        return None
    try:
        return read_state(e, args.etcdctl, passwords)
    finally:
        e.kill()


def restore(args, snap, out, peer):
    cmd = [args.restore_tool, "snapshot", "restore", snap, "--data-dir", out,
           "--name", "n1", "--initial-cluster", "n1=" + peer,
           "--initial-cluster-token", TOKEN, "--initial-advertise-peer-urls", peer]
    env = dict(os.environ, ETCDCTL_API="3")
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def repaired_state(args, snap, peer, jwt, passwords, res):
    """Repair `snap`, restore and serve it; the state read (None when it
    was not served)."""
    out = snap + ".repaired.db"
    rep = subprocess.run([args.rescue, "repair", snap, "--out", out, "--force",
                          "--replay-wal", "--etcd-version", args.line,
                          "--report", snap + ".report.json"],
                         capture_output=True, text=True)
    res["repair_exit"] = rep.returncode
    res["repair_said"] = rep.stdout.splitlines()[:1]
    if rep.returncode not in (0, 1):
        return None
    shutil.rmtree(snap + ".restored", ignore_errors=True)
    r = restore(args, out, snap + ".restored", peer)
    if r.returncode != 0:
        res["restore_error"] = (r.stderr or r.stdout).strip().splitlines()[-1:]
        return None
    return serve_and_read(args, snap + ".restored", peer, jwt, passwords,
                          snap + ".restored.log")


def recheck(args, work, jwt):
    """The kept disagreements of an earlier run, repaired again (after a
    fix) and compared with what etcd recovered on them then."""
    bad = 0
    for f in sorted(os.listdir(work)):
        if not (f.startswith("kp") and f.endswith(".diff.json")):
            continue
        snap = os.path.join(work, f[:-len(".diff.json")])
        with open(snap + ".diff.json") as fh:
            want = json.load(fh)["etcd"]
        m = json.loads(subprocess.run([args.rescue, "members", snap, "-o", "json"],
                                      capture_output=True, text=True).stdout)
        peer = m["members"][0]["peerURLs"][0]
        passwords = {u: v.get("logs_in_with", []) for u, v in want.get("users", {}).items()}
        passwords.setdefault("root", ["rootpw"])
        res = {"point": os.path.basename(snap)}
        got = repaired_state(args, snap, peer, jwt, passwords, res)
        res["outcome"] = "agree" if got == want else "disagree"
        if got != want:
            bad += 1
            res["differs"] = diff(want, got or {})
        print(json.dumps(res), flush=True)
    return 1 if bad else 0


def diff(a, b):
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--line", required=True)
    ap.add_argument("--etcd", required=True)
    ap.add_argument("--etcdctl", required=True)
    ap.add_argument("--restore-tool")
    ap.add_argument("--rescue", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--work", required=True)
    ap.add_argument("--report")
    ap.add_argument("--keep", action="store_true", help="keep every copy, not just disagreements")
    ap.add_argument("--recheck", action="store_true",
                    help="repair again the kill points of --work that disagreed (kpNNN with its "
                         "diff.json) and compare with what etcd recovered then")
    args = ap.parse_args()
    args.restore_tool = args.restore_tool or args.etcdctl
    rng = random.Random("%s-%d" % (args.line, args.seed))
    os.makedirs(args.work, exist_ok=True)
    work = os.path.abspath(args.work)
    key = os.path.join(work, "jwt.key")
    if not os.path.exists(key):
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-out", key + ".pub"],
                       check=True, capture_output=True)
    jwt = "jwt,pub-key=%s.pub,priv-key=%s,sign-method=RS256" % (key, key)
    if args.recheck:
        sys.exit(recheck(args, work, jwt))
    data = os.path.join(work, "member")
    for f in os.listdir(work):
        if f.startswith("kp") or f == "member":
            p = os.path.join(work, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    peer = "http://127.0.0.1:%d" % free_port()
    log = open(os.path.join(work, "workload.log"), "w")
    def start():
        """The workload's member, with seeded commit and snapshot settings
        (a long batch interval leaves more for the replay)."""
        extra = ["--backend-batch-interval", rng.choice(["100ms", "5s", "60s", "60s"]),
                 "--snapshot-count", rng.choice(["100000", "100000", "25"])]
        log.write("start etcd %s\n" % " ".join(extra))
        e = start_etcd(args.etcd, data, peer, jwt, os.path.join(work, "etcd.log"), extra)
        if e is None:
            raise SystemExit("etcd %s did not start (see %s/etcd.log)" % (args.line, work))
        return e

    e = start()
    w = Workload(e, rng, log)
    # Phases: the member is SIGKILLed and restarted (it recovers by itself)
    # with new settings a few times during the workload.
    restarts = set(rng.sample(range(1, args.ops), min(3, args.ops - 1)))
    # Kill points: seeded op indices, the last one the real SIGKILL at the end.
    points = sorted(rng.sample(range(1, args.ops), max(0, min(args.kills - 1, args.ops - 1))))
    snaps = []
    t0 = time.time()
    for i in range(args.ops):
        if points and i == points[0]:
            points.pop(0)
            dst = os.path.join(work, "kp%03d" % len(snaps))
            shutil.rmtree(dst, ignore_errors=True)
            e.freeze()
            try:
                sparse_copy(data, dst)
            finally:
                e.thaw()
            snaps.append((dst, i))
        if i in restarts:
            e.kill()
            e = start()
            w.e = e
        w.step()
        if rng.random() < 0.02:
            time.sleep(rng.choice([0.2, 1.0, 4.5]))  # let commits and expiries happen
    e.kill()
    dst = os.path.join(work, "kp%03d" % len(snaps))
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(data, dst)
    snaps.append((dst, args.ops))
    workload_s = time.time() - t0

    results = []
    for n, (snap, at_op) in enumerate(snaps):
        res = {"point": n, "after_ops": at_op}
        if rng.random() < 0.3:
            res["tear"] = tear(args.rescue, snap, rng)
        a = snap + ".etcd"
        shutil.rmtree(a, ignore_errors=True)
        sparse_copy(snap, a)
        want = serve_and_read(args, a, peer, jwt, w.passwords, a + ".log")
        got = repaired_state(args, snap, peer, jwt, w.passwords, res)
        out = snap + ".repaired.db"
        try:
            with open(snap + ".report.json") as f:
                rp = json.load(f).get("replay") or {}
            res["replayed"] = [rp.get("entries", 0), rp.get("rejected", 0),
                               sum((rp.get("not_replayed") or {}).values())]
        except (OSError, ValueError):
            pass
        if want is None or "read failed" in want:
            res["outcome"] = "etcd-refused"
            if want:
                res["etcd_said"] = want["read failed"]
        elif got is None:
            res["outcome"] = "disagree"
            res["differs"] = ["repaired copy not served"]
        elif want == got:
            res["outcome"] = "agree"
        else:
            res["outcome"] = "disagree"
            res["differs"] = diff(want, got)
            with open(snap + ".diff.json", "w") as f:
                json.dump({"etcd": want, "repaired": got}, f, indent=1, sort_keys=True)
        if want is not None and "revision" in want:
            res["revision"] = want["revision"]
            res["keys"] = len(want["kvs"])
        if res["outcome"] == "agree" and not args.keep:
            for p in (snap, a, snap + ".restored"):
                shutil.rmtree(p, ignore_errors=True)
            for p in (out, snap + ".report.json", a + ".log", snap + ".restored.log"):
                if os.path.exists(p):
                    os.remove(p)
        results.append(res)
        print(json.dumps(res), flush=True)
    summary = {
        "line": args.line, "seed": args.seed, "ops": args.ops,
        "workload_seconds": round(workload_s, 1),
        "requests": w.counts,
        "kill_points": len(results),
        "agree": sum(r["outcome"] == "agree" for r in results),
        "disagree": sum(r["outcome"] == "disagree" for r in results),
        "etcd_refused": sum(r["outcome"] == "etcd-refused" for r in results),
        "torn": sum(bool(r.get("tear")) for r in results),
        # Entries the repairs replayed, of them refused as etcd refuses them,
        # and entries whose effect was not reproduced (summed over points).
        "replayed_entries": sum(r.get("replayed", [0])[0] for r in results),
        "replayed_rejected": sum(r.get("replayed", [0, 0])[1] for r in results),
        "not_replayed": sum(r.get("replayed", [0, 0, 0])[2] for r in results),
        "points": results,
    }
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "points"}))
    sys.exit(0 if summary["disagree"] == 0 else 1)


if __name__ == "__main__":
    main()
