#!/usr/bin/env python3
"""Run a command; print one JSON line with its wall time, exit code, peak
anonymous memory (RssAnon sampled from /proc every 10 ms: heap and stacks,
not the file mapping), peak RSS (VmHWM, which includes the mapped file's
pages), and the last lines of its output (stdout and stderr)."""
import collections, json, subprocess, sys, threading, time

def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out

cmd = sys.argv[1:]
tail = collections.deque(maxlen=20)
start = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
reader = threading.Thread(target=lambda: [tail.append(l) for l in p.stdout], daemon=True)
reader.start()
peak_anon = peak_hwm = 0
while p.poll() is None:
    s = status(p.pid)
    peak_anon = max(peak_anon, s.get("RssAnon", 0))
    peak_hwm = max(peak_hwm, s.get("VmHWM", 0))
    time.sleep(0.01)
wall = time.perf_counter() - start
reader.join(5)
print(json.dumps({"cmd": cmd, "seconds": wall, "exit": p.returncode,
                  "peak_anon_mb": peak_anon / 1024, "peak_rss_mb": peak_hwm / 1024,
                  "output_tail": b"".join(tail).decode("utf-8", "replace").rstrip()}))
