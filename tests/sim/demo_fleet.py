#!/usr/bin/env python3
"""The README's demo: a simulated fleet reporting to a real collector.

Every simulated node (observer master, failover, ten headsets) runs a real
chronyd on its own virtual clock and a real `fleetclock-agent --daemon` on
the same clock, pushing its status to `fleetclock-collector`, which runs on
this machine's own clock (the true time of the simulation). Every few
seconds this prints the simulator's table of TRUE errors and the collector's
fleet table (scripts/fleet-offsets), side by side in time; the dashboard is
at the printed URL. Ctrl-C or --duration stops everything."""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402
from simnode import BUILD, SOURCE  # noqa: E402

# Written on the node's clock by the node's own shell, then the agent takes over.
AGENT_SH = ("mkdir -p {dir}/spool && printf '[chrony]\\nsocket = {sock}\\ntransport = unix\\n"
            "[agent]\\nhost = {name}\\nrole = {role}\\n[rtc]\\ndevice = none\\n"
            "[collector]\\nurl = %s\\ninterval_s = 2\\nspool_dir = {dir}/spool\\n' > {dir}/agent.conf"
            " && exec {build}/agent/fleetclock-agent -c {dir}/agent.conf --daemon")


def free_port(addr, want):
    for port in [want] + list(range(want + 1, want + 50)):
        s = socket.socket()
        try:
            s.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free TCP port near %d on %s" % (want, addr))


def start_collector(out, addr, port):
    conf = os.path.join(out, "collector.conf")
    with open(conf, "w") as f:
        f.write("[collector]\nlisten_address = %s\nport = %d\ndb_path = %s\nbudget_ms = 5\n"
                "stale_after_s = 10\n" % (addr, port, os.path.join(out, "collector.db")))
    log = open(os.path.join(out, "collector.log"), "ab")
    p = subprocess.Popen([os.path.join(BUILD, "collector", "fleetclock-collector"), "-c", conf],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection((addr, port), 0.2).close()
            return p
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("fleetclock-collector exited: see %s" % log.name)
            time.sleep(0.05)
    raise RuntimeError("fleetclock-collector did not listen on %s:%d" % (addr, port))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="wifi", choices=["lan", "wifi", "bad-wifi"])
    ap.add_argument("--duration", type=float, default=86400)
    ap.add_argument("--every", type=float, default=5)
    ap.add_argument("--out", default="/tmp/fleetclock-demo")
    ap.add_argument("--port", type=int, default=8470)
    a = ap.parse_args()
    sc = fleetsim.load_scenario(os.path.join(HERE, "scenarios", "baseline-%s.toml" % a.profile),
                                a.duration)
    os.makedirs(a.out, exist_ok=True)
    coll_dir = a.out + "-collector"
    shutil.rmtree(coll_dir, ignore_errors=True)
    os.makedirs(coll_dir)
    addr = "127.0.0.1"
    port = free_port(addr, a.port)
    url = "http://%s:%d" % (addr, port)
    for n in sc["nodes"]:
        if n.get("role") in ("master", "failover", "headset"):
            n["command"] = ["sh", "-c", AGENT_SH % (url + "/api/v1/status")]
    collector = start_collector(coll_dir, addr, port)
    stop = threading.Event()

    def fleet_table():
        while not stop.wait(a.every):
            r = subprocess.run([os.path.join(SOURCE, "scripts", "fleet-offsets"), url],
                               capture_output=True, text=True)
            print("--- the collector's view (scripts/fleet-offsets %s; dashboard %s/)\n%s"
                  % (url, url, r.stdout or r.stderr), flush=True)

    print("fleetclock demo: collector at %s (dashboard %s/, API %s/api/v1/fleet)" % (url, url, url))
    threading.Thread(target=fleet_table, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rc = 0
    try:
        fleetsim.run_scenario(sc, a.out, table=a.every)
    except KeyboardInterrupt:
        print("demo: interrupted, everything stopped", file=sys.stderr)
        rc = 130
    finally:
        stop.set()
        collector.send_signal(signal.SIGTERM)
        try:
            collector.wait(10)
        except subprocess.TimeoutExpired:
            collector.kill()
    return rc


if __name__ == "__main__":
    sys.exit(main())
