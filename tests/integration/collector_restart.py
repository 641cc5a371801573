#!/usr/bin/env python3
"""Integration test (issue 20): a collector restart changes nothing in the
fleet view. The collector re-reads each host's latest report from SQLite at
start; the `latest` table has no columns for `chrony.selected` (the relative
bound's master and root values) and `chrony.authenticated`, so they must come
from the stored document, or every host reads "absolute" and
`authenticated` null until its next report. A real collector and database,
stopped with SIGTERM and with kill -9; on 127.0.60.1:9040.

Also scripts/fleet-offsets on that fleet: each host's bound kind (relative
to its master, or absolute with the reason) and the fleet's."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from collector_harness import Collector, make_doc
from fctest import main

ADDR, PORT = "127.0.60.1", 9040
MASTER, OTHER = "127.0.60.21", "127.0.60.22"
# What changes with the clock alone between two reads of the view
MOVING = {"age_s", "stale", "generated_at"}


def doc(host, master=None, authenticated=None, offset=0.0001):
    d = make_doc(host, offset=offset, root_delay=0.004, root_dispersion=0.0015)
    if master:
        d["chrony"]["selected"] = {"address": master, "root_delay_s": 0.002,
                                   "root_dispersion_s": 0.0005, "peer_delay_s": 0.002,
                                   "peer_dispersion_s": 0.0003}
    if authenticated is not None:
        d["chrony"]["authenticated"] = authenticated
    return d


def still(view):
    """The view without what moves with the clock."""
    hosts = {h["host"]: {k: v for k, v in h.items() if k not in MOVING} for h in view["hosts"]}
    summary = {k: v for k, v in view["summary"].items() if k not in MOVING}
    return hosts, summary


class CollectorRestart(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-coll-restart-")
        self.c = Collector(self.tmp, port=PORT, addr=ADDR,
                           extra="budget_ms = 5\nstale_after_s = 600\n").start()
        for d in (doc("rs-h1", MASTER, True, 0.0002), doc("rs-h2", MASTER, True, -0.0001),
                  doc("rs-h3", OTHER, False), doc("rs-old")):
            status, body = self.c.post(d)
            self.assertEqual(status, 204, body)

    def tearDown(self):
        self.c.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check_same_after(self, restart):
        before = self.c.get_json("/api/v1/fleet")
        hosts, summary = still(before)
        # the live view: what the restart must keep
        self.assertEqual(hosts["rs-h1"]["bound"], "relative", hosts["rs-h1"])
        self.assertEqual(hosts["rs-h1"]["master"], MASTER)
        self.assertIs(hosts["rs-h1"]["authenticated"], True)
        self.assertIs(hosts["rs-h3"]["authenticated"], False)
        self.assertIsNone(hosts["rs-old"]["authenticated"])
        self.assertEqual(summary["spread_bound_kind"], "mixed", summary)
        restart()
        self.c.start()
        after = self.c.get_json("/api/v1/fleet")
        self.assertEqual(still(after), (hosts, summary))

    def test_sigterm(self):
        self.check_same_after(lambda: self.assertEqual(self.c.stop(), 0))

    def test_kill9(self):
        # what a crash leaves: the reports committed, nothing said at exit
        time.sleep(0.5)  # the batch committed (acknowledged reports are)
        self.check_same_after(self.c.kill9)

    def test_fleet_offsets_kinds(self):
        status, body = self.c.post(doc("rs-unsync", MASTER, True) | {"chrony": dict(
            doc("rs-unsync", MASTER)["chrony"],
            tracking=dict(doc("rs-unsync")["chrony"]["tracking"], synchronised=False,
                          leap="unsync"))})
        self.assertEqual(status, 204, body)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                              "fleet-offsets")
        r = subprocess.run([script, "http://%s:%d" % (ADDR, PORT)], capture_output=True,
                           text=True, timeout=30)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("HOST") and lines[0].endswith("BOUND KIND"), lines[0])
        row = {ln.split()[0]: ln for ln in lines[1:] if ln.strip()}
        self.assertTrue(row["rs-h1"].endswith("relative to %s" % MASTER), row["rs-h1"])
        self.assertTrue(row["rs-h3"].endswith("relative to %s" % OTHER), row["rs-h3"])
        self.assertTrue(row["rs-old"].endswith("absolute: no selected source data"), row["rs-old"])
        self.assertTrue(row["rs-unsync"].endswith("absolute: unsynchronised"), row["rs-unsync"])
        # BOUND is the bound judged: relative, 0.2 + 4/2 + 1.5 - (2/2 + 0.5) ms; ABS the absolute
        h1 = row["rs-h1"].split()
        self.assertEqual((h1[3], h1[4]), ("2.200", "3.700"))
        self.assertRegex(lines[-1], r"spread bound [0-9.]+ ms of a 5\.000 ms budget, mixed "
                         r"\(absolute [0-9.]+ ms, own-hop floor [0-9.]+ ms\)")


if __name__ == "__main__":
    main()
