"""The election's I/O against real chronyd instances (loopback 127.0.7.0/24).

- --measure (the rejoin guard's one-shot NTP client) against chronyd
  servers: one on this clock, one 17 minutes ahead (libfaketime), one not
  synchronised. The expected offsets come from the faketime spec, not
  from the code under test."""

import json
import unittest

from chronyd_harness import ChronyInstance
from fctest import agent, main


class Measure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.same = ChronyInstance("el-same", "127.0.7.1", local_stratum=8).start()
        cls.ahead = ChronyInstance("el-ahead", "127.0.7.2", local_stratum=8, faketime="+17m").start()
        # No source and no local reference: answers with leap 3.
        cls.unsync = ChronyInstance("el-unsync", "127.0.7.3").start()

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.same, cls.ahead, cls.unsync):
            inst.stop()

    def measure(self, addr):
        r = agent("--measure", addr, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_same_clock(self):
        m = self.measure("127.0.7.1")
        self.assertEqual(m["good"], 8)
        self.assertEqual(m["stratum"], 8)
        # The same machine clock on both sides: within the loopback delay.
        self.assertLess(abs(m["offset_s"]), 0.002)
        self.assertLess(m["delay_s"], 0.01)

    def test_seventeen_minutes_ahead(self):
        m = self.measure("127.0.7.2:123")
        self.assertAlmostEqual(m["offset_s"], 17 * 60, delta=0.5)

    def test_unsynchronised_server_refused(self):
        r = agent("--measure", "127.0.7.3")
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.7.3:123", r.stderr)
        self.assertIn("not synchronised", r.stderr)

    def test_usage(self):
        self.assertEqual(agent("--measure").returncode, 2)
        self.assertEqual(agent("--measure", "127.0.7.1:99999").returncode, 2)


if __name__ == "__main__":
    main()
