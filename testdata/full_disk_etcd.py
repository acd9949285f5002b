#!/usr/bin/env python3
"""Real etcd on a file system that fills up, and what it serves afterwards:
the inputs and the judge of the full-disk scenario in tests/full_disk.rs.

    full_disk_etcd.py fill    --etcd ETCD --data DIR --truth OUT.json
    full_disk_etcd.py serve   --etcd ETCD --data DIR --truth T.json --log LOG
    full_disk_etcd.py restore --etcd ETCD --tool TOOL --snapshot DB --data DIR --truth T.json --log LOG

`fill` starts etcd on DIR (on the small file system) and puts 60 kB values
through its JSON gateway until requests fail, recording every put the
client was told succeeded (key, value digest, revision); then it waits for
etcd to exit on its own (a full disk makes the backend commit or a WAL cut
fatal) and SIGKILLs it if it has not. OUT.json: the acknowledged puts and
how etcd ended (exit code, its last fatal log line).

`serve` starts etcd on DIR and reads every key (with --write-until-exit it
then puts 60 kB values until etcd exits, as it must on a disk with no room
left; SIGKILLed if it has not after 300); `restore` first restores
the snapshot DB into DIR with TOOL (`etcdctl snapshot restore` for 3.4,
`etcdutl snapshot restore` for 3.5+). Both print one JSON object: whether
etcd served, the fatal line if it exited, and per acknowledged put whether
it is served with the acknowledged value and mod revision.
Standard library only.
"""

import argparse
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repair_damage import b64, free_port  # noqa: E402  (helpers beside this file)

PEER = "http://127.0.0.1:%d"


def last_fatal(log):
    try:
        lines = open(log, errors="replace").read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if (" C | " in line or '"level":"fatal"' in line or '"level":"panic"' in line
                or line.startswith("panic:")):
            return line
    return None


class Etcd:
    def __init__(self, bin_, data, log, peer_port):
        self.cport = free_port()
        self.ep = "http://127.0.0.1:%d" % self.cport
        peer = PEER % peer_port
        self.log = log
        self.proc = subprocess.Popen(
            [bin_, "--name", "n1", "--data-dir", data,
             "--listen-client-urls", self.ep, "--advertise-client-urls", self.ep,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "n1=" + peer],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))

    def call(self, path, body, timeout=5):
        req = urllib.request.Request(self.ep + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def wait_ready(self, limit=20):
        end = time.time() + limit
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                self.call("/v3/kv/range", {"key": b64("health")}, timeout=2)
                return True
            except Exception:
                time.sleep(0.1)
        return False

    def end(self, grace):
        """Wait `grace` seconds for an exit of its own; else SIGKILL."""
        try:
            return self.proc.wait(timeout=grace), False
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            return self.proc.wait(timeout=20), True


def digest(v):
    return hashlib.sha256(v).hexdigest()


def fill(a):
    peer_port = free_port()
    log = a.truth + ".etcd.log"
    e = Etcd(a.etcd, a.data, log, peer_port)
    if not e.wait_ready():
        sys.exit("etcd did not start on %s (see %s)" % (a.data, log))
    acked, failures, n = [], [], 0
    chunk = os.urandom(30000)
    deadline = time.time() + 300
    while time.time() < deadline and len(failures) < 4:
        key = "/fill/%06d" % n
        value = (str(n) + ":").encode() + chunk.hex().encode()
        n += 1
        try:
            r = e.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
            acked.append({"key": key, "sha256": digest(value),
                          "revision": int(r["header"]["revision"])})
        except Exception as ex:  # noqa: BLE001 (any failure ends an acknowledgement)
            failures.append(str(ex)[:200])
            time.sleep(0.5)
    code, killed = e.end(5)
    out = {"peer_port": peer_port, "acked": acked, "failures": failures,
           "exit": code, "killed": killed, "fatal": last_fatal(log)}
    json.dump(out, open(a.truth, "w"), indent=1)
    print(json.dumps({"acked": len(acked), "killed": killed, "fatal": out["fatal"]}))


def serve_and_judge(a, truth):
    e = Etcd(a.etcd, a.data, a.log, truth["peer_port"])
    result = {"served": False, "exit": None, "fatal": None}
    # Started means: it answers, and it is still up a few seconds later
    # (on a full disk etcd answers a read, then its first backend commit
    # fails and it exits).
    up = e.wait_ready()
    if up:
        time.sleep(3)
        up = e.proc.poll() is None
    if up:
        try:
            r = e.call("/v3/kv/range", {"key": b64("/fill/"), "range_end": b64("/fill0")},
                       timeout=30)
        except Exception:  # noqa: BLE001
            if e.proc.poll() is None:
                raise
            up = False
    if up:
        got = {}
        for kv in r.get("kvs", []):
            got[base64.b64decode(kv["key"]).decode()] = (
                digest(base64.b64decode(kv.get("value", ""))), int(kv["mod_revision"]))
        result["served"] = True
        result["keys"] = len(got)
        want = {p["key"]: (p["sha256"], p["revision"]) for p in truth["acked"]}
        result["acked"] = len(want)
        result["missing"] = sorted(k for k in want if k not in got)
        result["wrong"] = sorted(k for k in want if k in got and got[k] != want[k])
        # Served but never acknowledged (a put whose answer was lost is
        # allowed: the client saw a failure, not a success).
        result["unacknowledged"] = sorted(k for k in got if k not in want)
        if a.write_until_exit:
            # On a disk with no room left: it must exit at the first
            # commit that needs a new page (and not acknowledge past it).
            chunk = os.urandom(30000).hex().encode()
            written = 0
            for i in range(300):
                if e.proc.poll() is not None:
                    break
                try:
                    e.call("/v3/kv/put", {"key": b64("/after/%d" % i), "value": b64(chunk)})
                    written += 1
                except Exception:  # noqa: BLE001
                    time.sleep(0.5)
            code, _ = e.end(10)
            result["written_before_exit"] = written
            result["exit_after_writes"] = code
            result["fatal"] = last_fatal(a.log)
        else:
            e.proc.send_signal(signal.SIGTERM)
            e.end(20)
    else:
        code, _ = e.end(3)
        result["exit"] = code
        result["fatal"] = last_fatal(a.log)
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["fill", "serve", "restore"])
    p.add_argument("--etcd", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--log")
    p.add_argument("--tool")
    p.add_argument("--snapshot")
    p.add_argument("--write-until-exit", action="store_true")
    a = p.parse_args()
    if a.mode == "fill":
        fill(a)
        return
    truth = json.load(open(a.truth))
    if a.mode == "restore":
        peer = PEER % truth["peer_port"]
        env = dict(os.environ, ETCDCTL_API="3")
        r = subprocess.run([a.tool, "snapshot", "restore", a.snapshot, "--data-dir", a.data,
                            "--name", "n1", "--initial-cluster", "n1=" + peer,
                            "--initial-advertise-peer-urls", peer],
                           capture_output=True, env=env)
        if r.returncode != 0:
            print(json.dumps({"served": False, "restore_refused": r.stderr.decode(errors="replace")[-2000:]}))
            return
    serve_and_judge(a, truth)


if __name__ == "__main__":
    main()
