#!/usr/bin/env python3
"""Integration test (issue 20): the relative spread bound end to end with
real chronyd and real agents, on 127.0.54.20-25, collector 127.0.54.1:8991.

An upstream U (local stratum 3) serves master M, which serves headsets H1,
H2; H3 follows an address nobody serves. Each headset's agent --daemon
reports to the collector. The headsets' documents carry the selected
source's NTP data; the fleet view holds H1 and H2 to their bounds relative
to M (M's own root values left out), recomputed from the documents, and a
spread bound of kind "relative"; H3 (unsynchronised) falls back to the
absolute bound and makes the fleet "mixed". --check says which bound it
used."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from collector_harness import Collector
from daemon_agent import DaemonAgent
from fctest import AGENT, main, wait_for

COLL, PORT = "127.0.54.1", 8991
U, M, H1, H2, H3, NOBODY = ("127.0.54.%d" % k for k in (20, 21, 22, 23, 24, 25))


def relative(h, sel):
    """docs/spread-bound.md, from a fleet host's fields and its selected source."""
    a = abs(h["offset_s"]) + h["root_delay_s"] / 2 + h["root_dispersion_s"]
    shared = sel["root_delay_s"] / 2 + sel["root_dispersion_s"]
    own = abs(h["offset_s"]) + sel["peer_delay_s"] / 2 + sel["peer_dispersion_s"]
    return min(max(a - shared, own), a)


class RelativeBound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-relbound-")
        cls.chronyds = []
        cls.agents = []
        try:
            cls.u = cls.chrony("u", U, local_stratum=3)
            cls.m = cls.chrony("m", M, servers=[U])
            cls.h1 = cls.chrony("h1", H1, servers=[M], serve=False)
            cls.h2 = cls.chrony("h2", H2, servers=[M], serve=False)
            cls.h3 = cls.chrony("h3", H3, servers=[NOBODY], serve=False)
            cls.coll = Collector(cls.tmp, port=PORT, addr=COLL,
                                 extra="stale_after_s = 10\nbudget_ms = 5\n").start()
            cls.m.wait_synced(30)
            cls.h1.wait_synced(30)
            cls.h2.wait_synced(30)
            url = "http://%s:%d/api/v1/status" % (COLL, PORT)
            for name, inst in (("rb-h1", cls.h1), ("rb-h2", cls.h2), ("rb-h3", cls.h3)):
                cls.agents.append(DaemonAgent(cls.tmp, name, inst.socket, url,
                                              os.path.join(cls.tmp, "spool-" + name)).start())
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def chrony(cls, name, addr, **kw):
        inst = ChronyInstance("rb-" + name, addr, **kw).start()
        cls.chronyds.append(inst)
        return inst

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            a.stop()
        if getattr(cls, "coll", None):
            cls.coll.stop()
        for c in cls.chronyds:
            c.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fleet(self):
        return self.coll.get_json("/api/v1/fleet")

    def test_fleet_view(self):
        def ready():
            f = self.fleet()
            hs = {h["host"]: h for h in f["hosts"]}
            return len(hs) == 3 and all(hs[n]["master"] for n in ("rb-h1", "rb-h2")) and f
        f = wait_for(ready, 30, what="three hosts, two with a master")
        hs = {h["host"]: h for h in f["hosts"]}
        for n in ("rb-h1", "rb-h2"):
            h = hs[n]
            self.assertEqual(h["master"], M, h)
            self.assertEqual(h["bound"], "relative", h)
            self.assertLessEqual(h["relative_error_bound_s"], h["error_bound_s"])
        h3 = hs["rb-h3"]
        self.assertEqual(h3["bound"], "absolute", h3)
        self.assertIsNone(h3["master"])
        self.assertIsNone(h3["relative_error_bound_s"])
        s = f["summary"]
        self.assertEqual(s["spread_bound_kind"], "mixed", s)
        self.assertLessEqual(s["spread_bound_s"], s["absolute_spread_bound_s"])
        # the collector's relative bound is the documented formula of the
        # fields of the document it was computed from (and the agent's own)
        doc = json.loads(self.coll.rows("SELECT doc FROM reports WHERE host = 'rb-h1' AND "
                                        "sent_at_us = (SELECT sent_at_us FROM latest WHERE "
                                        "host = 'rb-h1')")[0][0])
        sel = doc["chrony"]["selected"]
        self.assertEqual(sel["address"], M)
        t = doc["chrony"]["tracking"]
        self.assertAlmostEqual(doc["relative_error_s"], relative(t, sel), places=9)
        if doc["sent_at"] == hs["rb-h1"]["sent_at"]:
            self.assertAlmostEqual(hs["rb-h1"]["relative_error_bound_s"], relative(t, sel), places=9)
        # M's own root values (from U) are in H1's root delay and were taken out
        self.assertGreater(sel["root_delay_s"], 0)
        self.assertGreaterEqual(t["root_delay_s"], sel["root_delay_s"])

    def test_relative_spread_without_h3(self):
        # H3 stopped reporting: the fresh hosts all follow M
        self.agents[2].stop()
        f = wait_for(lambda: (lambda f: f if f["summary"]["stale"] == 1 else None)(self.fleet()),
                     30, what="rb-h3 stale")
        s = f["summary"]
        self.assertEqual(s["spread_bound_kind"], "relative", s)
        hs = {h["host"]: h for h in f["hosts"]}
        self.assertAlmostEqual(s["spread_bound_s"], hs["rb-h1"]["relative_error_bound_s"] +
                               hs["rb-h2"]["relative_error_bound_s"], places=9)

    def test_check_says_which_bound(self):
        r = subprocess.run([AGENT, "--socket", self.h1.socket, "--check"], capture_output=True,
                           text=True, timeout=60)
        line = [l for l in r.stdout.splitlines() if "max error" in l][0]
        self.assertIn("relative to master %s" % M, line)
        self.assertIn("absolute bound", line)
        r = subprocess.run([AGENT, "--socket", self.h3.socket, "--check"], capture_output=True,
                           text=True, timeout=60)
        line = [l for l in r.stdout.splitlines() if "max error" in l][0]
        self.assertIn("absolute bound: unsynchronised", line)


if __name__ == "__main__":
    main()
