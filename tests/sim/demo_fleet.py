#!/usr/bin/env python3
"""The README's demo: a simulated fleet reporting to a real collector.

Every simulated node (observer master, failover, ten headsets) runs a real
chronyd on its own virtual clock and a real `fleetclock-agent --daemon` on
the same clock, pushing its status to `fleetclock-collector`, which runs on
this machine's own clock (the true time of the simulation). Every few
seconds this prints the simulator's table of TRUE errors, the collector's
fleet table (scripts/fleet-offsets) read at the same moment, and one line
with both verdicts against the same budget (default 40 ms, one frame of a
25 fps show); the dashboard is at the printed URL, with the simulator's
true errors beside its history (`?truth=`: tests/sim/truth_feed.py, served
by this script, never by the collector). Ctrl-C or --duration stops
everything."""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402
from simnode import BUILD, SOURCE  # noqa: E402
from truth_feed import TruthFeed  # noqa: E402

# Written on the node's clock by the node's own shell, then the agent takes over.
AGENT_SH = ("mkdir -p {dir}/spool && printf '[chrony]\\nsocket = {sock}\\ntransport = unix\\n"
            "[agent]\\nhost = {name}\\nrole = {role}\\nbudget_ms = %g\\n[rtc]\\ndevice = none\\n"
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


def start_collector(out, addr, port, budget_ms):
    conf = os.path.join(out, "collector.conf")
    with open(conf, "w") as f:
        f.write("[collector]\nlisten_address = %s\nport = %d\ndb_path = %s\nbudget_ms = %g\n"
                "stale_after_s = 10\n" % (addr, port, os.path.join(out, "collector.db"), budget_ms))
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


# What the two tables' numbers mean, printed before them and at the end.
LEGEND = ("the numbers: true ms = a clock's real error, known only in a simulator; chrony ms +- bound ms\n"
          "= chronyd's estimate and its margin; the collector's ABS = |OFFSET| + that margin, the most\n"
          "the error can be; its BOUND = what it judges: relative to the node's master where it applies\n"
          "(BOUND KIND), else ABS: larger than the truth, all a real fleet knows")

AGENT_ROLES = ("master", "failover", "headset")


def sim_verdict(rows, budget_ms):
    """The simulator's verdict on the nodes that run an agent, by their true
    errors: (ok, worst |true| ms, true spread ms). OK when every one is up,
    within +-budget, and no two are more than budget apart (the collector's
    spread test, on the truth instead of the bounds)."""
    rs = [r for r in rows if r["role"] in AGENT_ROLES]
    errs = [r["true_error"] * 1e3 for r in rs if r["alive"]]
    if not errs:
        return False, None, None
    worst, spread = max(abs(e) for e in errs), max(errs) - min(errs)
    ok = len(errs) == len(rs) and worst <= budget_ms and spread <= budget_ms
    return ok, worst, spread


def collector_verdict(text, rc):
    """The collector's verdict from scripts/fleet-offsets' output and exit
    status: (verdict word, spread bound ms or None)."""
    if rc == 2:
        return "UNREACHABLE", None
    last = text.strip().splitlines()[-1] if text.strip() else ""
    word = last.split(":", 1)[0] or "?"
    m = re.search(r"spread bound ([0-9.]+) ms", last)
    return word, float(m.group(1)) if m else None


def collector_floor(text):
    """The own-hop floor of the collector's spread bound (ms) from
    scripts/fleet-offsets' last line, or None."""
    m = re.search(r"own-hop floor ([0-9.]+) ms", text)
    return float(m.group(1)) if m else None


def story(t, budget_ms, sim, coll, floor_ms=None):
    """One line: both verdicts against the same budget, and what it means
    when they differ (floor_ms: the spread bound's own-hop floor, which no
    honest bound can beat)."""
    ok, worst, spread = sim
    word, bound = coll
    sim_txt = ("OK" if ok else "NOT OK") + (
        " (worst |true| %.3f ms, true spread %.3f ms)" % (worst, spread) if worst is not None else "")
    coll_txt = word + (" (spread bound %.3f ms)" % bound if bound is not None else "")
    if ok == (word == "OK"):
        why = "agree" if ok else "agree (not within budget yet)"
    elif ok and floor_ms is not None and floor_ms > budget_ms:
        why = ("the collector is cautious: no honest bound can prove %g ms here, the own-hop "
               "floor (half the round trips of the headsets' own links) is %.3f ms" % (budget_ms, floor_ms))
    elif ok:
        why = "the collector is cautious (chronyd cannot prove it, or reports are seconds old)"
    else:
        why = "DISAGREE: the collector says OK while a true error is over budget (a bound failed)"
    return "=== t = %.0f s, budget %g ms: simulator %s, collector %s: %s" % (
        t, budget_ms, sim_txt, coll_txt, why)


def show_collector(url, budget_ms, last):
    """A replacement for fleetsim.print_table: the simulator's table, then
    the collector's at the same moment, then the story line (remembered in
    last[0] for the end)."""
    def table(rows, t, table_budget_ms):
        fleetsim_print_table(rows, t, table_budget_ms)
        r = subprocess.run([os.path.join(SOURCE, "scripts", "fleet-offsets"), url],
                           capture_output=True, text=True)
        text = r.stdout or r.stderr
        print("--- the collector's view (scripts/fleet-offsets %s; dashboard %s/)\n%s"
              % (url, url, text), flush=True)
        last[0] = story(t, budget_ms, sim_verdict(rows, budget_ms), collector_verdict(text, r.returncode),
                        collector_floor(text))
        print(last[0], flush=True)
    return table


fleetsim_print_table = fleetsim.print_table


def feed_truth(feed):
    """Every sample of the simulator's loop into the truth feed (the
    dashboard's ?truth= overlay), on this machine's clock: true time."""
    sample = fleetsim.Fleet.sample

    def sample_and_feed(self, t):
        rows = sample(self, t)
        feed.add_rows(rows)
        return rows
    fleetsim.Fleet.sample = sample_and_feed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="wifi", choices=["lan", "wifi", "bad-wifi"])
    ap.add_argument("--duration", type=float, default=86400)
    ap.add_argument("--every", type=float, default=5)
    ap.add_argument("--budget", type=float, default=40.0,
                    help="error budget in ms for the simulator, the agents and the collector "
                    "(default 40: one frame of a 25 fps show)")
    ap.add_argument("--out", default="/tmp/fleetclock-demo")
    ap.add_argument("--port", type=int, default=8470)
    ap.add_argument("--net", type=int, help="the simulator's address block (fleetsim --net; "
                    "default: a free one)")
    a = ap.parse_args()
    sc = fleetsim.load_scenario(os.path.join(HERE, "scenarios", "baseline-%s.toml" % a.profile),
                                a.duration)
    sc["budget_ms"] = a.budget
    os.makedirs(a.out, exist_ok=True)
    coll_dir = a.out + "-collector"
    shutil.rmtree(coll_dir, ignore_errors=True)
    os.makedirs(coll_dir)
    addr = "127.0.0.1"
    port = free_port(addr, a.port)
    url = "http://%s:%d" % (addr, port)
    for n in sc["nodes"]:
        if n.get("role") in AGENT_ROLES:
            n["command"] = ["sh", "-c", AGENT_SH % (a.budget, url + "/api/v1/status")]
    collector = start_collector(coll_dir, addr, port, a.budget)
    truth = TruthFeed(addr, free_port(addr, port + 1)).start()
    feed_truth(truth)
    last = [None]
    # Both tables and the line come from the simulator's sampling loop, one
    # after the other, so they describe the same moment.
    fleetsim.print_table = show_collector(url, a.budget, last)

    print("fleetclock demo: collector at %s (dashboard %s/, API %s/api/v1/fleet)" % (url, url, url))
    print("dashboard with the simulator's true errors beside the history: %s/?truth=%s"
          % (url, truth.url))
    print(LEGEND, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rc = 0
    try:
        fleetsim.run_scenario(sc, a.out, net=a.net, table=a.every)
        print(LEGEND)
        print("at the end: %s" % (last[0] or "no table printed"), flush=True)
    except KeyboardInterrupt:
        print("demo: interrupted, everything stopped", file=sys.stderr)
        rc = 130
    finally:
        truth.stop()
        collector.send_signal(signal.SIGTERM)
        try:
            collector.wait(10)
        except subprocess.TimeoutExpired:
            collector.kill()
    return rc


if __name__ == "__main__":
    sys.exit(main())
