"""start_case - the fixture the start-record tests share (issue 16): a real
chronyd -x pair (server NET.1, client NET.2: every agent of the test uses
the client, standing for nodes with names of their own), a real collector
at NET.10:PORT, a probe program written from PROBE, and agent.conf files
per host with their own spool.

    class MyTest(StartCase):
        NET, PORT, NAME, PROBE = "127.0.58", 9030, "loose", "import ..."
"""
import json
import os
import re
import tempfile
import unittest

from browser import CHROMIUM, chromium
from chronyd_harness import ChronyInstance
from collector_harness import Collector

SOURCE = os.environ.get("FLEETCLOCK_SOURCE", ".")
GATE_DIR = os.path.abspath(os.path.join(SOURCE, "gate"))


class StartCase(unittest.TestCase):
    NET = None          # "127.0.N": the test's own addresses
    PORT = None         # the collector's port
    NAME = "starts"     # chronyd instance and temp dir names
    PROBE = ""          # the probe program (Python), at self.probe
    BUDGET_MS = 1000    # the agents' readiness budget

    @classmethod
    def setUpClass(cls):
        cls.addr = cls.NET + ".10"
        cls.url = "http://%s:%d/api/v1/status" % (cls.addr, cls.PORT)
        cls.server = ChronyInstance(cls.NAME + "-server", cls.NET + ".1", local_stratum=8).start()
        cls.client = ChronyInstance(cls.NAME + "-client", cls.NET + ".2", servers=[cls.NET + ".1"],
                                    serve=False).start()
        cls.client.wait_synced(timeout=30)

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.client, cls.server):
            inst.stop()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="fc-test-%s-" % self.NAME)
        self.dir = self.tmp.name
        self.probe = os.path.join(self.dir, "probe.py")
        with open(self.probe, "w") as f:
            f.write(self.PROBE)
        self.collector = Collector(self.dir, port=self.PORT, addr=self.addr, tokens="t0ken")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        self.collector.stop()
        self.tmp.cleanup()

    def conf(self, host):
        """The node's agent.conf: the shared chronyd client, a budget this
        machine's chronyd pair meets, its own spool."""
        path = os.path.join(self.dir, host + ".conf")
        with open(path, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 300\n"
                    "[agent]\nhost = %s\nrole = headset\nbudget_ms = %d\n"
                    "late_tolerance_ms = 50\n[check]\nmax_skew_ppm = 1000000\n"
                    "[rtc]\ndevice = none\n"
                    "[collector]\nurl = %s\ntoken = t0ken\nconnect_timeout_ms = 300\n"
                    "timeout_ms = 1000\ninterval_s = 0.5\nbackoff_max_s = 0.5\n"
                    "spool_dir = %s\n"
                    % (self.client.socket, host, self.BUDGET_MS, self.url,
                       os.path.join(self.dir, "spool-" + host)))
        os.chmod(path, 0o600)
        return path

    def experiment(self, eid, hosts=None):
        """/api/v1/starts?experiment=EID, or None while it has fewer than
        hosts records."""
        status, body, _ = self.collector.request("GET", "/api/v1/starts?experiment=" + eid)
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        if hosts is not None and len(doc["hosts"]) < hosts:
            return None
        return doc

    def metric(self, name):
        _, body, _ = self.collector.request("GET", "/metrics")
        m = re.search(r"^%s (\S+)$" % name, body.decode(), re.M)
        return float(m.group(1)) if m else None

    def dashboard_starts(self):
        """(rows, dom) of the dashboard's starts block in headless Chromium,
        rows as (class, host, outcome); None (said) without Chromium."""
        if not CHROMIUM:
            print("no chromium: the dashboard's starts block is not checked")
            return None
        dom = chromium("http://%s:%d/" % (self.addr, self.PORT), "--dump-dom").stdout
        return re.findall(r'<tr class="(start[^"]*)" data-host="([^"]+)" data-outcome="([^"]+)"',
                          dom), dom
