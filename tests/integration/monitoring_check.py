#!/usr/bin/env python3
"""monitoring_check - issue 19: the Prometheus rules and the Grafana dashboard
in etc/ are valid, and every metric they use is one the collector exports.

- promtool check rules + promtool test rules (etc/prometheus/*.test.yml);
- the dashboard against the fields Grafana's dashboard schema requires of a
  provisioned dashboard (title, uid, schemaVersion, panels with type, gridPos
  and targets with expr, the datasource as a template variable), with the
  standard library's json only (Grafana is not packaged in Debian);
- the metric names in rules and dashboard against a live collector's
  /metrics (127.0.53.2:8981), fed reports of a master candidate with
  quarantine, RTC drift and a selected source, so every family has samples.

About 3 s. Exit 77 (skipped) when promtool is not installed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from collector_harness import Collector, election_view, make_doc
import fctest

SOURCE = fctest.SOURCE
RULES = os.path.join(SOURCE, "etc", "prometheus", "fleetclock.rules.yml")
RULES_TEST = os.path.join(SOURCE, "etc", "prometheus", "fleetclock.rules.test.yml")
DASHBOARD = os.path.join(SOURCE, "etc", "grafana", "fleetclock-dashboard.json")
ADDR, PORT = "127.0.53.2", 8981

# Written by the start records (issue 16, branch fstart), not by this
# renderer: the rules and the dashboard may use them before they exist here.
EXTERNAL = {"fleetclock_last_start_spread_seconds", "fleetclock_last_start_late_nodes"}
PANEL_TYPES = {"row", "stat", "timeseries", "table", "state-timeline", "gauge", "bargauge",
               "text", "status-history", "heatmap"}
NAME = re.compile(r"\bfleetclock_[a-z0-9_]+")


def read(path):
    with open(path) as f:
        return f.read()


def candidate_doc(host, serving, quarantined=0):
    d = make_doc(host, role="master" if serving else "failover", pad_sources=2)
    d["election"] = election_view(
        host, state="serving" if serving else "following", serving=serving,
        master=host if serving else "other", master_is_self=serving, reason="",
        self={"priority1": 1, "clock_class": 6, "class": "locked", "priority2": 128},
        upstreams=[{"address": "127.0.53.%d" % (100 + k), "offline": k < quarantined,
                    "offset_s": 0.0} for k in range(2)])
    return d


def exported_names():
    """The metric families a live collector exports (from its # TYPE lines)."""
    with tempfile.TemporaryDirectory(prefix="fc-moncheck-") as d:
        with Collector(d, port=PORT, addr=ADDR) as c:
            for doc in (candidate_doc("m1", True, 1), candidate_doc("f1", False),
                        make_doc("h1")):
                status, body = c.post(doc)
                assert status == 204, (status, body)
            status, body, _ = c.request("GET", "/metrics")
            assert status == 200, status
    text = body.decode()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    sampled = {l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and l[0] != "#"}
    return names, sampled


class Rules(unittest.TestCase):
    def test_check(self):
        p = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_unit_tests(self):
        p = subprocess.run(["promtool", "test", "rules", os.path.basename(RULES_TEST)],
                           cwd=os.path.dirname(RULES_TEST), capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)

    def test_example_config(self):
        """etc/prometheus/prometheus.yml.example, with the rules of this tree."""
        text = read(RULES.replace("fleetclock.rules.yml", "prometheus.yml.example"))
        self.assertIn("/etc/prometheus/fleetclock.rules.yml", text)
        with tempfile.TemporaryDirectory(prefix="fc-moncheck-") as d:
            conf = os.path.join(d, "prometheus.yml")
            with open(conf, "w") as f:
                f.write(text.replace("/etc/prometheus/fleetclock.rules.yml", RULES))
            p = subprocess.run(["promtool", "check", "config", conf], capture_output=True,
                               text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_alert_tested(self):
        alerts = set(re.findall(r"^\s+- alert: (\S+)", read(RULES), re.M))
        tested = set(re.findall(r"alertname: (\S+)", read(RULES_TEST)))
        self.assertEqual(alerts - tested, set())

    def test_every_alert_documented(self):
        doc = read(os.path.join(SOURCE, "docs", "monitoring.md"))
        for a in re.findall(r"^\s+- alert: (\S+)", read(RULES), re.M):
            self.assertTrue("### %s\n" % a in doc, "docs/monitoring.md: no section ### %s" % a)
        for block in read(RULES).split("- alert: ")[1:]:
            name = block.split()[0]
            self.assertIn('runbook: "docs/monitoring.md#%s"' % name.lower(), block, name)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.d = json.load(f)
        cls.panels = list(walk_panels(cls.d["panels"]))

    def test_top_level(self):
        d = self.d
        for key, typ in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                         ("templating", dict), ("time", dict)):
            self.assertIsInstance(d.get(key), typ, key)
        self.assertLessEqual(len(d["uid"]), 40)         # Grafana's limit on uids
        self.assertNotIn("id", {k for k, v in d.items() if v is not None})  # provisioned: no id

    def test_datasource_variable(self):
        var = [v for v in self.d["templating"]["list"] if v.get("type") == "datasource"]
        self.assertEqual(len(var), 1)
        self.assertEqual(var[0]["query"], "prometheus")
        ref = "${%s}" % var[0]["name"]
        for p in self.panels:
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], ref, p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], ref, p["title"])
        for v in self.d["templating"]["list"]:
            if v["type"] == "query":
                self.assertEqual(v["datasource"]["uid"], ref, v["name"])

    def test_panels(self):
        ids = [p["id"] for p in self.panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        cells = {}
        for p in self.panels:
            self.assertIn(p["type"], PANEL_TYPES, p.get("title"))
            self.assertIsInstance(p.get("title"), str)
            g = p["gridPos"]
            for k in "xywh":
                self.assertIsInstance(g[k], int, (p["title"], k))
            self.assertTrue(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):        # no two panels overlap
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, "%s overlaps %s" % (p["title"],
                                                                        cells.get((x, y))))
                    cells[(x, y)] = p["title"]
            if p["type"] == "row":
                continue
            self.assertTrue(p["targets"], p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
            for t in p["targets"]:
                self.assertTrue(NAME.search(t["expr"]), (p["title"], t["expr"]))

    def test_covers_the_issue(self):
        """Offsets and bounds over time, spread, per-host table, election
        timeline, RTC drift, starts."""
        exprs = " ".join(t["expr"] for p in self.panels for t in p.get("targets", []))
        for name in ("fleetclock_host_offset_seconds", "fleetclock_host_error_bound_seconds",
                     "fleetclock_fleet_spread_bound_seconds", "fleetclock_election_state",
                     "fleetclock_host_rtc_drift_ratio", "fleetclock_last_start_spread_seconds"):
            self.assertIn(name, exprs)
        types = {p["type"] for p in self.panels}
        self.assertTrue({"table", "state-timeline", "timeseries"} <= types)


class Names(unittest.TestCase):
    """Every fleetclock_* name in the rules and the dashboard is exported."""

    @classmethod
    def setUpClass(cls):
        cls.names, cls.sampled = exported_names()

    def used(self, path):
        text = read(path)
        if path.endswith(".json"):
            d = json.loads(text)
            text = " ".join(t["expr"] for p in walk_panels(d["panels"])
                            for t in p.get("targets", []))
            text += " ".join(v.get("definition", "") for v in d["templating"]["list"])
        return set(NAME.findall(text))

    def test_rules(self):
        self.assertEqual(self.used(RULES) - self.names - EXTERNAL, set())

    def test_dashboard(self):
        self.assertEqual(self.used(DASHBOARD) - self.names - EXTERNAL, set())

    def test_new_families_have_samples(self):
        for n in ("fleetclock_election_serving", "fleetclock_election_master",
                  "fleetclock_election_failovers_total", "fleetclock_election_no_master_seconds",
                  "fleetclock_election_clock_class", "fleetclock_election_state",
                  "fleetclock_host_quarantined_sources", "fleetclock_host_rtc_drift_ratio",
                  "fleetclock_host_rtc_valid", "fleetclock_host_source_reach_ratio",
                  "fleetclock_host_ready", "fleetclock_host_check_ready", "fleetclock_host_stale"):
            self.assertIn(n, self.sampled)


if __name__ == "__main__":
    if not shutil.which("promtool"):
        print("promtool not installed (Debian package prometheus): skipped")
        sys.exit(77)
    fctest.main()
