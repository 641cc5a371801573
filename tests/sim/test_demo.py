#!/usr/bin/env python3
"""The README's main command, short: `scripts/demo --duration 20` starts the
simulated fleet with an agent on every node and the collector, prints the
simulator's true-error table and the collector's fleet table, and stops
everything (no node, agent or collector left running)."""
import os
import re
import subprocess
import sys
import unittest

SOURCE = os.environ.get("FLEETCLOCK_SOURCE",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Demo(unittest.TestCase):
    def test_demo_runs_and_stops(self):
        out = "/tmp/fleetclock-demo-test"
        r = subprocess.run([os.path.join(SOURCE, "scripts", "demo"), "--duration", "20", "--every", "6",
                            "--out", out],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        # The collector's view, with the twelve nodes that run an agent.
        tables = re.findall(r"--- the collector's view .*?\n(.*?)\n\n", r.stdout, re.S)
        self.assertTrue(tables, r.stdout[-3000:])
        last = tables[-1]
        for host in ["master", "failover"] + ["headset%d" % i for i in range(1, 11)]:
            self.assertRegex(last, r"(?m)^%s +" % host)
        self.assertRegex(r.stdout, r"\d+ hosts, \d+ ready, \d+ stale")
        self.assertIn("real clock adjtimex state unchanged: True", r.stdout)
        self.assertIn("escaped processes: none", r.stdout)
        # Nothing left behind.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(out + "-collector/collector.conf", ps)
        self.assertNotIn(out + "/nodes", ps)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    bad = len(res.failures) + len(res.errors)
    print("test_demo.py: %d passed, %d failed" % (res.testsRun - bad, bad))
    sys.exit(1 if bad or not res.testsRun else 0)
