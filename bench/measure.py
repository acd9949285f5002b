#!/usr/bin/env python3
"""Run a command; print JSON with its wall time, exit code, and peak
anonymous memory (RssAnon sampled from /proc every 10 ms: heap and stacks,
not the file mapping) and peak RSS (VmHWM)."""
import json, subprocess, sys, time

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
start = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak_anon = peak_hwm = 0
while p.poll() is None:
    s = status(p.pid)
    peak_anon = max(peak_anon, s.get("RssAnon", 0))
    peak_hwm = max(peak_hwm, s.get("VmHWM", 0))
    time.sleep(0.01)
wall = time.perf_counter() - start
print(json.dumps({"cmd": cmd, "seconds": wall, "exit": p.returncode,
                  "peak_anon_mb": peak_anon / 1024, "peak_rss_mb": peak_hwm / 1024}))
