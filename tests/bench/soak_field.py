#!/usr/bin/env python3
"""soak_field - the long field-fault soak of issue 14 (benchmark-style: run
by `meson test -C build --benchmark soak_field` or directly, never in CI).

A small fleet of real processes on loopback 127.0.48.0/24 (collector port
8920, announces 37450): an upstream chronyd -x (local stratum 8), two master
candidates (chronyd -x following the upstream and each other, agent --daemon
with the election on, rejoin_step = none), two headsets (chronyd -x
following the candidates, agent --daemon; h1's spool on a 1 MiB tmpfs) and
a fleetclock-collector. On a random but seeded schedule, one at a time, it
injects: chronyd restarted (a non-serving candidate's, the serving
master's, a headset's), chronyd SIGSTOP'ed for a few seconds, h1's spool
read-only while the collector is down and for a few seconds after it is
back (the spooled reports it takes cannot be removed), the collector
restarted, an agent SIGKILLed and started again. Throughout and at the end it checks:

- every host reports again (with chronyd's data, for the faulted host)
  within its bound after each fault ends;
- no report the agents built is lost: each host's stored sent_at sequence
  has no gap of a missing report, except while its agent was dead, and
  every spool is empty at the end;
- at most one serving master at any time after the first election (each
  candidate's view file, fresh); a serving master again within one announce
  interval + one report interval (+ slack) after each master fault;
- no process hung: --status of each agent and the collector's HTTP answer
  within their bounds while faults happen; the daemons stay alive;
- POSTs not stormed: the collector's received-report counters (summed over
  its restarts) against the reports stored.

Prints a table per fault kind (count, max recovery) and PASS/FAIL lines;
exit 1 on any breach. Usage: soak_field.py [--minutes N] [--seed S]
"""
import argparse
import collections
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from chronyd_harness import ChronyInstance
from collector_harness import Collector
from daemon_agent import DaemonAgent, election_conf

NET = "127.0.48."
COLL_ADDR, COLL_PORT, ANNOUNCE_PORT = NET + "2", 8920, 37450
INTERVAL = 1.0          # report interval, s
ANNOUNCE = 0.5          # election (announce) interval, s
CHRONY_CMD_S = 1.4      # timeout_ms 200 x 3 attempts: a command against a stopped chronyd
SLACK = 3.0             # loose: a shared, noisy machine
FRESH_S = 3.0           # a view file older than this is not current (as --election says)
STATUS_BOUND_S = 10.0   # --status against a stopped chronyd: a few commands x 1.4 s
HTTP_BOUND_S = 5.0
KEY = "50a6" * 16

# After a fault ends, every host reports again within these (s); the faulted
# host with chronyd's data.
BOUND = {
    "chronyd_restart_candidate": CHRONY_CMD_S + INTERVAL + SLACK,
    "chronyd_restart_master": CHRONY_CMD_S + INTERVAL + SLACK,
    "chronyd_restart_headset": CHRONY_CMD_S + INTERVAL + SLACK,
    "chronyd_sigstop": CHRONY_CMD_S + INTERVAL + SLACK,
    "spool_ro_collector_down": INTERVAL + SLACK,       # the collector is back before
    "collector_restart": 0.5 + INTERVAL + SLACK,
    "agent_sigkill": INTERVAL + SLACK,
}
MASTER_BOUND = ANNOUNCE + INTERVAL + SLACK
KINDS = list(BOUND)


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Node:
    """A chronyd and its agent daemon."""

    def __init__(self, fleet, name, addr, servers, candidate=None, spool=None, **chrony):
        self.name, self.addr, self.fleet = name, addr, fleet
        self.chronyd = ChronyInstance("soak-" + name, addr, servers=servers, **chrony).start()
        self.state = os.path.join(fleet.tmp, name + ".view.json") if candidate else None
        extra = ""
        if candidate:
            extra = election_conf(addr, ANNOUNCE_PORT, candidate["peers"], candidate["priority1"],
                                  fleet.key, self.state, ANNOUNCE)
        self.agent = DaemonAgent(fleet.tmp, name, self.chronyd.socket,
                                 "http://%s:%d/api/v1/status" % (COLL_ADDR, COLL_PORT),
                                 spool or os.path.join(fleet.tmp, "spool-" + name),
                                 role="failover" if candidate else "headset",
                                 interval=INTERVAL, extra=extra).start()
        self.stopped = False    # chronyd SIGSTOP'ed

    def view(self):
        """The election view if the agent wrote it within FRESH_S, else None."""
        if self.state is None:
            return None
        try:
            if time.time() - os.stat(self.state).st_mtime > FRESH_S:
                return None
            with open(self.state) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def serving(self):
        v = self.view()
        return bool(v and v.get("serving"))

    def chrony_ok(self):
        """chronyd has a reference (local or a source), as chronyc says."""
        try:
            return self.chronyd.tracking_csv()[0] != "00000000"
        except Exception:
            return False

    def restart_chronyd(self, down_s):
        """As systemd does: SIGTERM (it removes its socket), start again."""
        os.killpg(self.chronyd.proc.pid, signal.SIGTERM)
        self.chronyd.proc.wait(10)
        time.sleep(down_s)
        self.chronyd.start()

    def stop(self):
        if self.stopped:
            os.kill(self.chronyd.proc.pid, signal.SIGCONT)
        self.agent.stop()
        self.chronyd.stop()


class Monitor(threading.Thread):
    """Polls the candidates' views (two masters at once?) and, in turn, each
    agent's --status and the collector's HTTP (hung?)."""

    def __init__(self, fleet):
        super().__init__(daemon=True)
        self.fleet, self.done = fleet, False
        self.elected_at = None
        self.overlaps = []          # (start, duration) of two serving views at once
        self.slowest = {"status": 0.0, "http": 0.0}
        self.hung = []              # descriptions
        self.checks = 0
        self.seen = []              # the views when two masters began / ended serving

    def views(self):
        out = []
        for c in self.fleet.candidates:
            try:
                age = time.time() - os.stat(c.state).st_mtime
            except OSError:
                age = None
            v = c.view() or {}
            out.append("%s %s master=%s serving=%s age=%s" % (
                c.name, v.get("state"), v.get("master"), v.get("serving"),
                "%.1f s" % age if age is not None else "-"))
        return "; ".join(out)

    def run(self):
        overlap_from, next_probe, turn = None, 0.0, 0
        while not self.done:
            now = time.monotonic()
            n = sum(c.serving() for c in self.fleet.candidates)
            if n and self.elected_at is None:
                self.elected_at = now
            if n > 1 and overlap_from is None:
                overlap_from = now
                self.seen.append("+%.1f s: %s" % (now - self.fleet.t0, self.views()))
            elif n <= 1 and overlap_from is not None:
                self.overlaps.append((overlap_from - self.fleet.t0, now - overlap_from))
                self.seen.append("+%.1f s: %s" % (now - self.fleet.t0, self.views()))
                overlap_from = None
            if now >= next_probe:
                self.probe(self.fleet.nodes[turn % len(self.fleet.nodes)])
                turn += 1
                next_probe = time.monotonic() + 1.0
            time.sleep(0.1)
        if overlap_from is not None:
            self.overlaps.append((overlap_from - self.fleet.t0, time.monotonic() - overlap_from))

    def probe(self, node):
        t = time.monotonic()
        rc = node.agent.status(STATUS_BOUND_S)
        took = time.monotonic() - t
        self.slowest["status"] = max(self.slowest["status"], took)
        if rc is None:
            self.hung.append("%s --status did not answer within %.0f s" % (node.name, STATUS_BOUND_S))
        if self.fleet.collector_up:
            t = time.monotonic()
            try:
                self.fleet.collector.request("GET", "/api/v1/fleet", timeout=HTTP_BOUND_S)
            except OSError as e:
                if self.fleet.collector_up:
                    self.hung.append("GET /api/v1/fleet: %s" % e)
            self.slowest["http"] = max(self.slowest["http"], time.monotonic() - t)
        self.checks += 1


class Soak:
    def __init__(self, args):
        self.args, self.rng = args, random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="fc-soak-field-")
        self.key = os.path.join(self.tmp, "fleet.key")
        with open(self.key, "w") as f:
            f.write(KEY + "\n")
        os.chmod(self.key, 0o600)
        self.nodes, self.candidates, self.mnt = [], [], None
        self.collector, self.collector_up = None, False
        self.posts_before = 0       # reports the collector received in earlier lives
        self.recoveries = collections.defaultdict(list)   # kind -> [(host recovery, master recovery)]
        self.breaches = []
        # host -> [(from, to)] real time: its agent dead or its chronyd down/stopped
        self.excused = collections.defaultdict(list)
        self.t0 = time.monotonic()

    # ---- set-up ----
    def tmpfs(self):
        mnt = os.path.join(self.tmp, "card")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("cannot mount a tmpfs (%s): no read-only spool fault" % r.stderr.strip())
            os.rmdir(mnt)
            return None
        self.mnt = mnt
        return os.path.join(mnt, "spool")

    def start(self):
        self.collector = Collector(self.tmp, port=COLL_PORT, addr=COLL_ADDR).start()
        self.collector_up = True
        up = NET + "1"
        self.upstream = ChronyInstance("soak-up", up, local_stratum=8).start()
        c1, c2 = NET + "11", NET + "12"
        for name, addr, peer, p1 in (("c1", c1, c2, 1), ("c2", c2, c1, 2)):
            n = Node(self, name, addr, [up, peer], candidate={"peers": [peer], "priority1": p1})
            self.candidates.append(n)
        spool = self.tmpfs()
        self.h1 = Node(self, "h1", NET + "21", [c1, c2], spool=spool, serve=False)
        self.h2 = Node(self, "h2", NET + "22", [c1, c2], serve=False)
        self.nodes = self.candidates + [self.h1, self.h2]
        self.monitor = Monitor(self)
        self.monitor.start()

    def stop(self):
        self.monitor.done = True
        self.monitor.join(STATUS_BOUND_S + 5)
        for n in self.nodes:
            n.stop()
        self.upstream.stop()
        if self.collector_up:
            self.collector.stop()
        if self.mnt:
            subprocess.run(["umount", "-l", self.mnt])
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- observations ----
    def stored(self, host):
        """(received real time, sent_at real time, has chrony data) of the host's reports."""
        rows = self.collector.rows("SELECT received_us, doc FROM reports WHERE host = ? "
                                   "ORDER BY rowid", (host,))
        out = []
        for rec, doc in rows:
            d = json.loads(doc)
            out.append((rec / 1e6, parse_ts(d["sent_at"]), bool(d.get("chrony"))))
        return out

    def received_total(self):
        """Reports the collector received in this life, any result (/metrics)."""
        _, body, _ = self.collector.request("GET", "/metrics", timeout=HTTP_BOUND_S)
        return sum(int(m) for m in re.findall(
            r'^fleetclock_collector_reports_total\{result="[a-z_]+"\} (\d+)$', body.decode(), re.M))

    def servers(self):
        return [c for c in self.candidates if c.serving()]

    def master_served(self):
        s = self.servers()
        return len(s) == 1 and s[0].chrony_ok()

    def hosts_back(self, since_real, faulted):
        """All hosts have a report received after since_real (the faulted one
        with chronyd's data)?"""
        for n in self.nodes:
            need_chrony = n is faulted
            if not any(r[0] > since_real and (r[2] or not need_chrony) for r in self.stored(n.name)):
                return False
        return True

    def await_recovery(self, kind, ended_real, ended_mono, faulted, master_fault):
        """Wait for the hosts (and the master) to be back; record times, breaches."""
        host_t = master_t = None
        limit = ended_mono + max(BOUND[kind], MASTER_BOUND) + 10
        while time.monotonic() < limit and (host_t is None or (master_fault and master_t is None)):
            now = time.monotonic()
            if master_fault and master_t is None and self.master_served():
                master_t = now - ended_mono
            if host_t is None and self.hosts_back(ended_real, faulted):
                host_t = now - ended_mono
            time.sleep(0.1)
        self.recoveries[kind].append((host_t, master_t))
        if host_t is None or host_t > BOUND[kind]:
            self.breaches.append("%s at +%.0f s: hosts silent %s after the fault ended (bound %.1f s)"
                                 % (kind, ended_mono - self.t0,
                                    "%.1f s" % host_t if host_t is not None else "still",
                                    BOUND[kind]))
        if master_fault and (master_t is None or master_t > MASTER_BOUND):
            self.breaches.append("%s at +%.0f s: no serving master %s after the fault ended "
                                 "(bound %.1f s)" % (kind, ended_mono - self.t0,
                                                     "for %.1f s" % master_t if master_t else "still",
                                                     MASTER_BOUND))

    # ---- faults: each returns (faulted node or None, whether a master fault) ----
    def master(self):
        s = self.servers()
        return s[0] if s else self.rng.choice(self.candidates)

    def f_chronyd_restart_candidate(self):
        m = self.master()
        n = [c for c in self.candidates if c is not m][0]
        n.restart_chronyd(self.rng.uniform(0.5, 3))
        return n, False

    def f_chronyd_restart_master(self):
        m = self.master()
        m.restart_chronyd(self.rng.uniform(0.5, 3))
        return m, True

    def f_chronyd_restart_headset(self):
        n = self.rng.choice([self.h1, self.h2])
        n.restart_chronyd(self.rng.uniform(0.5, 3))
        return n, False

    def f_chronyd_sigstop(self):
        n = self.rng.choice(self.nodes)
        is_master = n.serving()
        os.kill(n.chronyd.proc.pid, signal.SIGSTOP)
        n.stopped = True
        time.sleep(self.rng.uniform(2, 6))
        os.kill(n.chronyd.proc.pid, signal.SIGCONT)
        n.stopped = False
        return n, is_master

    def stop_collector(self):
        self.posts_before += self.received_total()
        self.collector_up = False
        self.collector.stop()

    def start_collector(self):
        self.collector.start()
        self.collector_up = True

    def f_spool_ro_collector_down(self):
        self.stop_collector()
        time.sleep(self.rng.uniform(2, 4))      # reports spool on h1's card
        if self.mnt:
            subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)
        time.sleep(self.rng.uniform(3, 5))      # new reports wait in memory
        self.start_collector()
        # the collector takes the spooled files, which cannot be removed
        time.sleep(self.rng.uniform(2, 4))
        if self.mnt:
            subprocess.run(["mount", "-o", "remount,rw", self.mnt], check=True)
        return None, False

    def f_collector_restart(self):
        self.stop_collector()
        time.sleep(self.rng.uniform(0.5, 3))
        self.start_collector()
        return None, False

    def f_agent_sigkill(self):
        n = self.rng.choice(self.nodes)
        is_master = n.serving()
        n.agent.kill(signal.SIGKILL)
        if n.state and os.path.exists(n.state):
            os.unlink(n.state)      # a dead agent's view is not current
        time.sleep(self.rng.uniform(0.5, 2))
        n.agent.start()
        return n, is_master

    # ---- the run ----
    def run(self):
        self.start()
        end = self.t0 + self.args.minutes * 60
        ok = lambda: self.master_served() and self.hosts_back(0, None)
        while time.monotonic() < self.t0 + 60 and not ok():
            time.sleep(0.2)
        if not ok():
            self.breaches.append("no elected master and reporting fleet within 60 s of start")
            return
        print("fleet up in %.1f s (master %s)" % (time.monotonic() - self.t0, self.servers()[0].name))
        order = list(KINDS)
        self.rng.shuffle(order)         # every kind once first, then at random
        i = 0
        while time.monotonic() + 20 < end:
            time.sleep(self.rng.uniform(2, 6))
            kind = order[i] if i < len(order) else self.rng.choice(KINDS)
            i += 1
            started, started_real = time.monotonic(), time.time()
            faulted, master_fault = getattr(self, "f_" + kind)()
            ended_mono, ended_real = time.monotonic(), time.time()
            if faulted:
                self.excused[faulted.name].append((started_real, ended_real))
            print("+%6.1f s  %-26s %-3s (%.1f s)" % (started - self.t0, kind,
                                                     faulted.name if faulted else "", ended_mono - started))
            sys.stdout.flush()
            self.await_recovery(kind, ended_real, ended_mono, faulted, master_fault)
        time.sleep(3 * INTERVAL)

    # ---- the end ----
    def final_checks(self):
        # let the spools drain
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(n.agent.spooled() for n in self.nodes):
            time.sleep(0.2)
        lost, stored_total = [], 0
        for n in self.nodes:
            left = n.agent.spooled()
            if left:
                self.breaches.append("%s: %d reports still in its spool at the end" % (n.name, len(left)))
            sent = sorted(r[1] for r in self.stored(n.name))
            stored_total += len(sent)
            if len(sent) != len(set(sent)):
                self.breaches.append("%s: a report stored twice" % n.name)
            gaps = self.missing(n.name, sent)
            lost += gaps
            print("%s: %d reports stored, largest sent_at gap %.2f s, %d unexplained gaps"
                  % (n.name, len(sent), max((b - a for a, b in zip(sent, sent[1:])), default=0),
                     len(gaps)))
        for g in lost:
            self.breaches.append("report(s) lost: %s" % g)
        for n in self.nodes:
            if not n.agent.alive():
                self.breaches.append("%s's agent died (exit %s)" % (n.name, n.agent.proc.returncode))
        posts = self.posts_before + self.received_total()
        elapsed = time.monotonic() - self.t0
        # at most one POST per report per attempt: received reports close to stored ones
        print("POSTs received %d, reports stored %d (%.2f per stored report); %.1f POSTs/s "
              "for %d hosts at %.1f s" % (posts, stored_total, posts / max(stored_total, 1),
                                          posts / elapsed, len(self.nodes), INTERVAL))
        if posts > 1.5 * stored_total + 50:
            self.breaches.append("POST storm: %d received for %d stored" % (posts, stored_total))
        return stored_total

    def missing(self, host, sent):
        """Gaps in the host's sent_at sequence where a report is missing: the
        agent builds one every INTERVAL, so a gap of 1.7 x INTERVAL or more is
        a lost report, unless the host's own fault explains it (its agent
        dead; its chronyd down or stopped, when a report waits for chronyd's
        timeouts, up to a few commands x CHRONY_CMD_S after the fault)."""
        out = []
        after = 3 * CHRONY_CMD_S + INTERVAL
        for a, b in zip(sent, sent[1:]):
            if b - a < 1.7 * INTERVAL:
                continue
            if any(f - 1 <= b and t + after >= a for f, t in self.excused[host]):
                continue
            out.append("%s: no report between %s and %s (%.1f s)"
                       % (host, time.strftime("%H:%M:%S", time.gmtime(a)),
                          time.strftime("%H:%M:%S", time.gmtime(b)), b - a))
        return out

    def report(self):
        m = self.monitor
        print("\n%-26s %5s %16s %18s %8s" % ("fault", "count", "max hosts back s",
                                           "max master back s", "bound s"))
        for kind in KINDS:
            r = self.recoveries.get(kind, [])
            hosts = [h for h, _ in r if h is not None]
            masters = [x for _, x in r if x is not None]
            print("%-26s %5d %16s %18s %8.1f" % (
                kind, len(r), "%.2f" % max(hosts) if hosts else "-",
                "%.2f" % max(masters) if masters else "-", BOUND[kind]))
        print("master bound (announce + report interval + slack): %.1f s" % MASTER_BOUND)
        print("monitor: %d probes; slowest --status %.2f s (bound %.0f), slowest HTTP %.2f s "
              "(bound %.0f)" % (m.checks, m.slowest["status"], STATUS_BOUND_S, m.slowest["http"],
                               HTTP_BOUND_S))
        for o in m.overlaps:
            self.breaches.append("two serving masters at +%.1f s for %.1f s" % o)
        for line in m.seen:
            print("views " + line)
        self.breaches += m.hung
        checks = [
            ("hosts report again within their bound after every fault", "hosts silent"),
            ("no report lost (sent_at sequences, spools empty)", "lost|spool|twice"),
            ("at most one serving master after the first election", "two serving"),
            ("a serving master again after every master fault", "no serving master|elected"),
            ("no process hung or died", "did not answer|GET |died"),
            ("POSTs not stormed", "storm"),
        ]
        for title, pat in checks:
            bad = [b for b in self.breaches if re.search(pat, b)]
            print("%s: %s" % ("FAIL" if bad else "PASS", title))
            for b in bad:
                print("      " + b)
        return not self.breaches


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, db)")
    args = p.parse_args()
    load = os.getloadavg()
    print("soak_field: %.0f min, seed %d, load %.1f %.1f %.1f, %d CPUs"
          % (args.minutes, args.seed, load[0], load[1], load[2], os.cpu_count()))
    s = Soak(args)
    try:
        s.run()
        s.final_checks()
        ok = s.report()
    finally:
        s.stop()
    load = os.getloadavg()
    print("took %.1f min; load at the end %.1f %.1f %.1f"
          % ((time.monotonic() - s.t0) / 60, load[0], load[1], load[2]))
    print("soak_field: %s" % ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
