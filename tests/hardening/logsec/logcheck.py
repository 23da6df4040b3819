#!/usr/bin/env python3
"""logcheck.py FILE: read a bindguard event log byte for byte and summarise it.

Prints, one per line (shell-friendly KEY=VALUE words):
  file bytes=N lines=N bad=N nul=N unterminated=0|1 maxlen=N switches=N
    (switches: neighbouring lines from different processes or threads)
  bad LINENO LENGTH FIRST-80-CHARS            (each line that is not one JSON object)
  pid PID start=N stop=N bind=N other=N tids=N written=W dropped=D binds=B
  port PORT N                                  (bind events per source.port)
A line is good only if it is exactly one JSON object with event.action and
process.pid: a torn or interleaved line fails to parse or misses them.
"""
import collections
import json
import sys

data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
unterminated = 1 if lines and lines[-1] != b"" else 0
if not unterminated:
    lines = lines[:-1]
bad = []
pids = collections.OrderedDict()
ports = collections.Counter()
maxlen = 0
switches = 0
last = None
for i, raw in enumerate(lines, 1):
    maxlen = max(maxlen, len(raw) + 1)
    try:
        ev = json.loads(raw.decode("utf-8"))
        action = ev["event"]["action"]
        pid = ev["process"]["pid"]
        tid = ev["process"]["thread"]["id"]
    except Exception:
        bad.append((i, len(raw), raw[:80]))
        continue
    if last is not None and last != (pid, tid):
        switches += 1
    last = (pid, tid)
    p = pids.setdefault(pid, {"start": 0, "stop": 0, "bind": 0, "other": 0, "tids": set(),
                              "written": -1, "dropped": -1, "binds": -1})
    if action in ("start", "stop", "bind"):
        p[action] += 1
    else:
        p["other"] += 1
    if action == "bind":
        p["tids"].add(tid)
        ports[ev["source"]["port"]] += 1
    if action == "stop":
        c = ev["bindguard"]["counters"]
        p["written"], p["dropped"], p["binds"] = c["events_written"], c["events_dropped"], c["binds"]

print("file bytes=%d lines=%d bad=%d nul=%d unterminated=%d maxlen=%d switches=%d"
      % (len(data), len(lines), len(bad), data.count(b"\0"), unterminated, maxlen, switches))
for i, n, head in bad:
    print("bad %d %d %r" % (i, n, head))
for pid, p in pids.items():
    print("pid %d start=%d stop=%d bind=%d other=%d tids=%d written=%d dropped=%d binds=%d"
          % (pid, p["start"], p["stop"], p["bind"], p["other"], len(p["tids"]), p["written"],
             p["dropped"], p["binds"]))
for port, n in sorted(ports.items()):
    print("port %d %d" % (port, n))
