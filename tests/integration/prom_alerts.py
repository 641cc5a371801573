#!/usr/bin/env python3
"""prom_alerts - issue 19: the alert rules fire through Debian's real Prometheus.

A real fleetclock-collector (127.0.53.1:8982, stale_after_s 3) is fed status
documents the way agents POST them, twice a second: a serving master m1, a
following candidate f1 and three headsets. A real `prometheus` (127.0.53.1:8985,
its own storage in a temporary directory) scrapes /metrics every second and
evaluates etc/prometheus/fleetclock.rules.yml every second. Then, one after
the other, as seen through Prometheus's HTTP API (/api/v1/alerts, /api/v1/query):

1. a headset's clock stepped +17 min (its reports' sent_at and offset +1020 s)
   fires FleetclockHostOverBudget for that host and FleetclockFleetOverBudget,
   and they resolve once its reports are right again;
2. the master killed (its reports stop) fires FleetclockHostStale for it and
   FleetclockNoServingMaster; f1 starts serving, the alert resolves, and the
   collector's fleetclock_election_master and failovers_total show f1 and 1;
3. the master flapping between m1 and f1 fires FleetclockMasterFlapping.

Then the same with real processes (RealAgents, as root): an upstream chronyd,
two master candidates and a headset, each a real chronyd -x with a real
`fleetclock-agent --daemon` (the candidates electing over announce port 8986)
reporting to a second collector (127.0.53.1:8987) every 0.5 s, scraped by a
new Prometheus. The election series come from the agents' own status
documents; the master's agent is SIGKILLed: FleetclockHostStale fires for it,
the other candidate becomes the collector's master with one failover, and
FleetclockNoServingMaster never fires (the hand-over is quicker than its
NO_MASTER_TEST_S).

The rules under test are a copy of the shipped file with every `for:` cut to
2 s and the no-master threshold cut from 30 s to NO_MASTER_TEST_S (rules_for_test below):
the expressions, labels and the other thresholds are the shipped ones.
About 60 s in all. Exit 77 (skipped) when prometheus is not installed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from chronyd_harness import ChronyInstance
from collector_harness import Collector, election_view, make_doc
from daemon_agent import DaemonAgent, election_conf
import fctest

ADDR = "127.0.53.1"
COLLECTOR_PORT, PROM_PORT = 8982, 8985
AGENTS_COLLECTOR_PORT, ANNOUNCE_PORT = 8987, 8986    # the real agents' collector, election
NET = "127.0.53."
RULES = os.path.join(fctest.SOURCE, "etc", "prometheus", "fleetclock.rules.yml")
DASHBOARD = os.path.join(fctest.SOURCE, "etc", "grafana", "fleetclock-dashboard.json")
HEADSETS = ("h1", "h2", "h3")


# The no-master threshold under test: a hand-over here (announces every 0.5 s,
# a candidate lost after 3 of them, reports every 0.5 s) leaves ~2-2.5 s
# without a serving report; 3 s was too tight for a shared, loaded machine
# (one CI run saw it fire). 10 s keeps 4x that margin and stays 3x below the
# shipped 30 s, which is the property: a normal hand-over never alerts.
NO_MASTER_TEST_S = 10


def rules_for_test(text):
    """The shipped rules with short waits, so that each alert fires within
    seconds: every `for:` becomes 2s, the no-master threshold
    NO_MASTER_TEST_S."""
    text, n_for = re.subn(r"^(\s+for:) \S+$", r"\1 2s", text, flags=re.M)
    text, n_nm = re.subn(r"(fleetclock_election_no_master_seconds) > 30\b",
                         r"\1 > %d" % NO_MASTER_TEST_S, text)
    assert n_for >= 8 and n_nm == 1, (n_for, n_nm)
    return text


def dashboard_queries():
    """(panel title, expr) of every dashboard target, all collectors and hosts."""
    with open(DASHBOARD) as f:
        d = json.load(f)
    out, panels = [], list(d["panels"])
    while panels:
        p = panels.pop(0)
        panels += p.get("panels", [])
        out += [(p["title"], t["expr"].replace("$instance", ".*").replace("$host", ".*"))
                for t in p.get("targets", [])]
    return out


class Fleet:
    """What each host reports; a feeder thread POSTs it twice a second."""

    def __init__(self, collector):
        self.c = collector
        self.lock = threading.Lock()
        self.step_s = {h: 0.0 for h in HEADSETS}       # clock stepped by
        self.serving = {"m1": True, "f1": False}
        self.alive = {"m1": True, "f1": True}
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                getattr(self, k).update(v)

    def docs(self):
        with self.lock:
            now = time.time()
            out = []
            for h in HEADSETS:
                s = self.step_s[h]
                out.append(make_doc(h, sent_at=now + s, offset=0.0004 + s, pad_sources=2))
            for h, serving in self.serving.items():
                if not self.alive[h]:
                    continue
                d = make_doc(h, role="master" if h == "m1" else "failover", pad_sources=2)
                d["election"] = election_view(
                    h, state="serving" if serving else "following", serving=serving, reason="",
                    self={"priority1": 1 if h == "m1" else 2, "clock_class": 6,
                          "priority2": 128},
                    upstreams=[{"address": "127.0.53.200", "offline": False, "offset_s": 0.0}])
                out.append(d)
            return out

    def run(self):
        while not self.stop.is_set():
            for d in self.docs():
                try:
                    status, body = self.c.post(d, timeout=5)
                    if status != 204:
                        self.errors.append((d["host"], status, body))
                except OSError as e:
                    self.errors.append((d["host"], str(e)))
            self.stop.wait(0.5)


class Prometheus:
    def __init__(self, workdir, rules_text, target_port=COLLECTOR_PORT):
        self.dir = workdir
        rules = os.path.join(workdir, "fleetclock.rules.yml")
        with open(rules, "w") as f:
            f.write(rules_text)
        self.conf = os.path.join(workdir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: fleetclock\n"
                    "    static_configs:\n      - targets: ['%s:%d']\n"
                    % (rules, ADDR, target_port))
        self.log = os.path.join(workdir, "prometheus.log")
        self.proc = None

    def start(self):
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(
                ["prometheus", "--config.file=" + self.conf,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
                 "--web.listen-address=%s:%d" % (ADDR, PROM_PORT), "--log.level=warn"],
                stdout=logf, stderr=logf, start_new_session=True)
        fctest.wait_for(self.ready, 20, step=0.2, what="prometheus ready on %s:%d (log %s)"
                        % (ADDR, PROM_PORT, self.log))
        return self

    def ready(self):
        if self.proc.poll() is not None:
            with open(self.log) as f:
                raise AssertionError("prometheus exited %d: %s" % (self.proc.returncode,
                                                                   f.read()[-2000:]))
        try:
            with urllib.request.urlopen("http://%s:%d/-/ready" % (ADDR, PROM_PORT),
                                        timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, path, **params):
        url = "http://%s:%d/api/v1/%s" % (ADDR, PROM_PORT, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]

    def firing(self):
        """{(alertname, host or None)} of the alerts firing now."""
        return {(a["labels"]["alertname"], a["labels"].get("host"))
                for a in self.api("alerts")["alerts"] if a["state"] == "firing"}

    def query(self, expr):
        return {tuple(sorted(r["metric"].items())): float(r["value"][1])
                for r in self.api("query", query=expr)["result"]}


class PromAlerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # each part stopped even when a later one fails to start
        cls.tmp = tempfile.TemporaryDirectory(prefix="fc-promalerts-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.coll = Collector(cls.tmp.name, port=COLLECTOR_PORT, addr=ADDR,
                             extra="stale_after_s = 3\nbudget_ms = 5\n")
        cls.addClassCleanup(cls.coll.stop)
        cls.coll.start()
        cls.fleet = Fleet(cls.coll)
        cls.fleet.thread.start()
        cls.addClassCleanup(cls.fleet.thread.join, 10)
        cls.addClassCleanup(cls.fleet.stop.set)
        with open(RULES) as f:
            cls.prom = Prometheus(cls.tmp.name, rules_for_test(f.read()))
        cls.addClassCleanup(cls.prom.stop)
        cls.prom.start()

    def wait_firing(self, alert, host=None, timeout=20, present=True):
        want = (alert, host)
        return fctest.wait_for(lambda: (want in self.prom.firing()) == present, timeout,
                               step=0.5, what="%s %s %s" % (alert, host or "",
                                                            "firing" if present else "resolved"))

    def check_dashboard_queries(self):
        """Every dashboard query is valid PromQL with data (the start-record
        series aside: this collector has no starts), and the election
        timeline codes each candidate's state."""
        for title, expr in dashboard_queries():
            try:
                res = self.prom.api("query", query=expr)["result"]
            except urllib.error.HTTPError as e:
                self.fail("panel %r: %s: %s" % (title, expr, e.read().decode()[:300]))
            if "fleetclock_last_start_" not in expr:
                self.assertTrue(res, "panel %r: no data for %s" % (title, expr))
        timeline = [e for t, e in dashboard_queries() if t == "Election state per candidate"]
        self.assertEqual({m[0][1]: v for m, v in self.prom.query(timeline[0]).items()},
                         {"m1": 4.0, "f1": 3.0})

    def test_1_faults_in_order(self):
        p, fleet = self.prom, self.fleet
        # a steady fleet: scraped, evaluated, nothing fires
        fctest.wait_for(lambda: p.query('fleetclock_election_master{host="m1"}'), 20, step=0.5,
                        what="Prometheus to scrape the master m1")
        t = time.monotonic()
        fctest.wait_for(lambda: time.monotonic() - t > 4, 5)   # longer than every `for: 2s`
        self.assertEqual(p.firing(), set())
        self.assertEqual(fleet.errors, [])
        self.check_dashboard_queries()

        # 1. h2 stepped +17 min
        t0 = time.monotonic()
        fleet.set(step_s={"h2": 1020.0})
        self.wait_firing("FleetclockHostOverBudget", "h2")
        self.wait_firing("FleetclockFleetOverBudget")
        print("+17 min step: alerts firing after %.1f s" % (time.monotonic() - t0))
        self.assertNotIn(("FleetclockHostOverBudget", "h1"), p.firing())
        fleet.set(step_s={"h2": 0.0})
        self.wait_firing("FleetclockHostOverBudget", "h2", present=False)
        self.wait_firing("FleetclockFleetOverBudget", present=False)

        # 2. the master killed: its reports stop
        t0 = time.monotonic()
        fleet.set(alive={"m1": False})
        self.wait_firing("FleetclockNoServingMaster", timeout=NO_MASTER_TEST_S + 30)
        self.wait_firing("FleetclockHostStale", "m1")
        print("master killed: FleetclockNoServingMaster after %.1f s" % (time.monotonic() - t0))
        self.assertEqual(p.query("fleetclock_election_master"), {})
        fleet.set(serving={"f1": True})     # the failover takes over
        self.wait_firing("FleetclockNoServingMaster", present=False)
        fctest.wait_for(lambda: p.query('fleetclock_election_master{host="f1"}'), 10, step=0.5,
                        what="f1 as master in Prometheus")
        self.assertEqual(list(p.query("fleetclock_election_failovers_total").values()), [1.0])
        self.assertNotIn(("FleetclockMasterFlapping", None), p.firing())

        # 3. flapping: m1 back, the master moves between m1 and f1 four times more
        fleet.set(alive={"m1": True}, serving={"m1": False})
        for serving in ("m1", "f1", "m1", "f1"):
            other = "f1" if serving == "m1" else "m1"
            fleet.set(serving={other: False})
            time.sleep(1.2)     # the old master's "not serving" is stored first
            fleet.set(serving={serving: True})
            time.sleep(1.2)
        self.wait_firing("FleetclockMasterFlapping")
        self.assertEqual(list(p.query("fleetclock_election_failovers_total").values()), [5.0])
        self.assertEqual(fleet.errors, [])


class RealAgents(unittest.TestCase):
    """Real chronyd and agents: the agents' election section as /metrics and
    Prometheus see it, and a killed master's failover."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("chronyd instances need root")
        cls.tmp = tempfile.TemporaryDirectory(prefix="fc-promagents-")
        cls.addClassCleanup(cls.tmp.cleanup)
        key = os.path.join(cls.tmp.name, "fleet.key")
        with open(key, "w") as f:
            f.write("9a0e" * 16 + "\n")
        os.chmod(key, 0o600)
        cls.coll = Collector(cls.tmp.name, port=AGENTS_COLLECTOR_PORT, addr=ADDR,
                             extra="stale_after_s = 3\nbudget_ms = 5\n")
        cls.addClassCleanup(cls.coll.stop)
        cls.coll.start()
        up = cls.start_chronyd("up", NET + "10", local_stratum=8)
        c1, c2 = NET + "11", NET + "12"
        cls.agents = {}
        for name, addr, peer, p1 in (("c1", c1, c2, 1), ("c2", c2, c1, 2)):
            ch = cls.start_chronyd(name, addr, servers=[up.addr, peer])
            state = os.path.join(cls.tmp.name, name + ".view.json")
            cls.start_agent(name, ch, "failover",
                            election_conf(addr, ANNOUNCE_PORT, [peer], p1, key, state, 0.5))
        ch = cls.start_chronyd("h1", NET + "21", servers=[c1, c2], serve=False)
        cls.start_agent("h1", ch, "headset", "")
        with open(RULES) as f:
            cls.prom = Prometheus(cls.tmp.name, rules_for_test(f.read()),
                                  target_port=AGENTS_COLLECTOR_PORT)
        cls.addClassCleanup(cls.prom.stop)
        cls.prom.start()

    @classmethod
    def start_chronyd(cls, name, addr, **kw):
        ch = ChronyInstance("fp-" + name, addr, **kw)
        cls.addClassCleanup(ch.stop)
        return ch.start()

    @classmethod
    def start_agent(cls, name, chronyd, role, extra):
        a = DaemonAgent(cls.tmp.name, name, chronyd.socket,
                        "http://%s:%d/api/v1/status" % (ADDR, AGENTS_COLLECTOR_PORT),
                        os.path.join(cls.tmp.name, "spool-" + name), role=role, interval=0.5,
                        extra=extra)
        cls.addClassCleanup(a.stop)
        cls.agents[name] = a.start()

    def logs(self):
        return "\n".join("--- %s:\n%s" % (n, a.logtext()[-1500:]) for n, a in self.agents.items())

    def test_killed_master(self):
        p = self.prom
        try:
            fctest.wait_for(lambda: p.query('fleetclock_election_master{host="c1"}'), 30,
                            step=0.5, what="c1 as master in Prometheus")
        except AssertionError:
            raise AssertionError(self.logs())
        # the agents' own election sections, through /metrics and Prometheus
        self.assertEqual(list(p.query('fleetclock_election_priority1{host="c1"}').values()),
                         [1.0])
        self.assertEqual(list(p.query(
            'fleetclock_election_state{host="c1",state="serving"}').values()), [1.0])
        fctest.wait_for(lambda: p.query(
            'fleetclock_election_state{host="c2",state="following"} == 1'), 15, step=0.5,
            what="c2 following, in Prometheus")
        self.assertEqual(len(p.query("fleetclock_election_clock_class")), 2)
        self.assertEqual(len(p.query("fleetclock_host_quarantined_sources")), 2)
        self.assertEqual(list(p.query("fleetclock_election_failovers_total").values()), [0.0])

        # (the fleet's start may have had a few master-less seconds: wait them out)
        fctest.wait_for(lambda: not p.query('ALERTS{alertname="FleetclockNoServingMaster"}'),
                        15, step=0.5, what="FleetclockNoServingMaster inactive before the kill")
        t0 = time.monotonic()
        self.agents["c1"].kill()            # SIGKILL: c1's reports stop
        self.wait_firing_on(p, "FleetclockHostStale", "c1", 20)
        fctest.wait_for(lambda: p.query('fleetclock_election_master{host="c2"}'), 20,
                        step=0.5, what="c2 as master in Prometheus")
        print("master agent killed: c2 master in Prometheus after %.1f s"
              % (time.monotonic() - t0))
        self.assertEqual(list(p.query("fleetclock_election_failovers_total").values()), [1.0])
        # since the kill, the hand-over left no master-less time long enough
        # to alert (NO_MASTER_TEST_S here): neither pending nor firing
        since = "[%ds]" % (time.monotonic() - t0 + 1)
        self.assertEqual(p.query(
            'max_over_time(ALERTS{alertname="FleetclockNoServingMaster"}%s)' % since), {})
        self.assertLess(max(p.query(
            "max_over_time(fleetclock_election_no_master_seconds%s)" % since).values()),
            NO_MASTER_TEST_S)

    @staticmethod
    def wait_firing_on(p, alert, host, timeout):
        fctest.wait_for(lambda: (alert, host) in p.firing(), timeout, step=0.5,
                        what="%s %s firing" % (alert, host))


if __name__ == "__main__":
    if not shutil.which("prometheus"):
        print("prometheus not installed (Debian package prometheus): skipped")
        sys.exit(77)
    fctest.main()
