#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An experiment: a TCP server on one host, load generators on the others
started at one instant, machine samples from all of them, one CSV.

    server_and_load.py --key-file KEY --out run.csv \\
        tcp://server:7340 tcp://load1:7340 tcp://load2:7340

1. Connect to every daemon (tacet.Group) and subscribe to samples
   (sample.subscribe, if the daemons serve it) on each.
2. Start the server on the first host: a small Python TCP sink that binds
   an ephemeral port, prints it, counts the bytes of each connection, and
   exits when every load generator has disconnected.
3. Start one load generator per other host with a synchronized start
   (stage, clock offsets by PING, release at one instant): each connects
   to the server and sends as fast as it can for --seconds.
4. Wait for all of them, read their outputs, stop the samples and write
   the CSV: columns host, role, kind, name, real_ns, value.

   kind "result": bytes_sent per load generator, bytes_received by the
                  server (total and per connection);
   kind "exit":   exit_code of each; lateness_ns of each load generator's
                  exec instant from the common target (controller clock);
   kind "sample": per sample, cpu_busy_ns and cpu_total_ns (all CPUs),
                  mem_avail_bytes, load1, daemon_cpu_ns (the daemon's own
                  CPU time), real_ns on the daemon's clock.

The server's address for the load generators is the host of the first
URL unless --server-addr says otherwise. Needs python3 on every host.
"""

import argparse
import csv
import sys
import threading

import tacet
from tacet.aio import parse_url

SERVER = r"""
import socket, sys, threading
n = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[2], 0))
ls.listen(n)
ls.settimeout(float(sys.argv[3]))
print("listening", ls.getsockname()[1], flush=True)
counts = {}
def serve(c, peer):
    total = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        total += len(b)
    counts[peer] = total
    c.close()
ts = []
for _ in range(n):
    c, peer = ls.accept()
    t = threading.Thread(target=serve, args=(c, "%s:%d" % peer))
    t.start()
    ts.append(t)
for t in ts:
    t.join()
for peer, total in sorted(counts.items()):
    print("conn", peer, total)
print("total", sum(counts.values()), flush=True)
"""

CLIENT = r"""
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port))
buf = b"x" * (1 << 16)
sent, deadline = 0, time.monotonic() + seconds
while time.monotonic() < deadline:
    sent += s.send(buf)
s.shutdown(socket.SHUT_WR)
while s.recv(1 << 16):
    pass
print("sent", sent, flush=True)
"""


def sample_rows(host, role, samples, rows):
    """Drain a sample subscription into CSV rows until it is closed."""
    for s in samples:
        cpu = s.cpu[0] if s.cpu else None
        vals = {"daemon_cpu_ns": s.cost.utime + s.cost.stime}
        if cpu is not None:
            busy = cpu.user + cpu.nice + cpu.system + cpu.irq + cpu.softirq + cpu.steal
            vals["cpu_busy_ns"] = busy
            vals["cpu_total_ns"] = busy + cpu.idle + cpu.iowait
        if s.mem:
            vals["mem_avail_bytes"] = s.mem[0].avail
        if s.load:
            vals["load1"] = s.load[0].avg1
        for name, v in vals.items():
            rows.append((host, role, "sample", name, s.real, v))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("server", help="URL of the daemon on the server host")
    ap.add_argument("loads", nargs="+", help="URLs of the daemons on the load hosts")
    ap.add_argument("--key-file", help="key file (default: $TACET_KEY_FILE or the default path)")
    ap.add_argument("--out", default="server_and_load.csv", help="CSV to write")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long each load generator sends")
    ap.add_argument("--period", type=float, default=0.1, help="sample period, seconds")
    ap.add_argument("--server-addr", help="address the load generators connect to")
    ap.add_argument("--python", default="python3", help="python on the hosts")
    a = ap.parse_args(argv)

    urls = [a.server] + a.loads
    if len(set(urls)) != len(urls):
        ap.error("each host once")
    addr = a.server_addr or parse_url(a.server)[1]
    rows = []
    with tacet.Group(urls, key_file=a.key_file) as g:
        if g.errors:
            raise tacet.GroupError(g.errors, "connect")
        role = {u: ("server" if u == a.server else "load") for u in urls}

        # Samples on every host, each drained by a thread of its own.
        subs, drains = [], []
        for u in urls:
            c = g[u]
            if "sample.subscribe" not in c.methods():
                print("%s: no sample.subscribe, no samples" % u, file=sys.stderr)
                continue
            s = c.sample_subscribe(a.period, src=["cpu", "mem", "load"])
            t = threading.Thread(target=sample_rows, args=(u, role[u], s, rows), daemon=True)
            t.start()
            subs.append(s)
            drains.append(t)

        # The server, and its port from its first line of output.
        server = g[a.server].start([a.python, "-c", SERVER, str(len(a.loads)), addr,
                                    str(a.seconds + 60)], timeout=a.seconds + 120)
        out = server.output(1).reader()
        line = out.readline().split()
        if line[:1] != [b"listening"]:
            raise RuntimeError("server did not start: %r, stderr %r"
                               % (line, server.read_output(2)))
        port = int(line[1])

        # The load generators, released together.
        ss = g.sync_start([a.python, "-c", CLIENT, addr, str(port), str(a.seconds)],
                          lead=0.5, hosts=a.loads, timeout=a.seconds + 60)
        exits = ss.wait(a.seconds + 60).raise_on_error()
        sexit = server.wait(60)
        rest = out.read().decode()
        for s in subs:
            s.close()
        for t in drains:
            t.join(5)

        late = ss.lateness()
        for u in a.loads:
            p = ss.processes()[u]
            text = p.read_output(1).decode().split()
            sent = int(text[1]) if text[:1] == ["sent"] else -1
            rows.append((u, "load", "result", "bytes_sent", exits[u].times.ereal, sent))
            rows.append((u, "load", "exit", "exit_code", exits[u].times.ereal, exits[u].returncode))
            rows.append((u, "load", "exit", "lateness_ns", exits[u].times.xreal, late.get(u, "")))
        for ln in rest.splitlines():
            f = ln.split()
            if f[:1] == ["conn"]:
                rows.append((a.server, "server", "result", "bytes_received:" + f[1], sexit.times.ereal, int(f[2])))
            elif f[:1] == ["total"]:
                rows.append((a.server, "server", "result", "bytes_received", sexit.times.ereal, int(f[1])))
        rows.append((a.server, "server", "exit", "exit_code", sexit.times.ereal, sexit.returncode))

    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "role", "kind", "name", "real_ns", "value"])
        w.writerows(sorted(rows, key=lambda r: (r[0], r[2], r[3], r[4])))
    sent = sum(r[5] for r in rows if r[3] == "bytes_sent")
    got = [r[5] for r in rows if r[3] == "bytes_received"]
    print("%d load generators sent %d bytes, the server received %s; spread %.1f us; %d rows in %s"
          % (len(a.loads), sent, got[0] if got else "?", ss.spread() / 1000, len(rows), a.out))
    return 0 if got and got[0] == sent and all(e.ok for e in exits.values()) and sexit.ok else 1


if __name__ == "__main__":
    sys.exit(main())
