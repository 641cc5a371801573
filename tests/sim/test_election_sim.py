#!/usr/bin/env python3
"""Issue 7 in the fleet simulator, short CI version: the field report
replayed with fleetclock's election (scenarios/election-field-report-ci.toml).

Checks the issue's targets: headsets within the 5 ms budget in every phase
after the start (wifi), no candidate ever serves time (normal leap) that is
minutes off, the failover serves within the announce timeout + a round of
each master kill, no process escaped its node's clock, the real clock
untouched. The plain-chrony baseline of the same timeline is run by
election_compare.py (figures in docs/election.md)."""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import election_compare as ec  # noqa: E402
import fleetsim  # noqa: E402


class ElectionSim(unittest.TestCase):
    def test_field_report(self):
        path = os.path.join(HERE, "scenarios", "election-field-report-ci.toml")
        out = tempfile.mkdtemp(prefix="fleetclock-election-sim-")
        sc, s, rows = ec.run(path, out, 22)
        self.assertEqual(s["escaped"], {}, "processes escaped their node's clock")
        self.assertTrue(s["real_clock_unchanged"])
        ph = ec.metrics(sc, s, rows)
        for m in ph:
            self.assertGreater(m["n_headset_samples"], 8 * (m["end"] - m["start"] - 2), m)
        for m in ph[1:]:
            self.assertLess(m["headset_max_ms"], sc["budget_ms"], m)
        for m in ph:
            # never serve a clock that is wrong by more than the budget
            self.assertLess(m["served_wrong_max_ms"], sc["budget_ms"], m)
        ft = ec.failover_times(out, s["events"], ec.T0[sc["name"]])
        self.assertEqual(len(ft), 2, ft)
        for t in ft:
            self.assertIsNotNone(t, "the failover never served after a master kill")
            self.assertLess(t, 3 * 1.0 + 1.5, "failover serving %.2f s after the kill" % t)
        print("failover serving after each master kill: %s s" % ["%.2f" % t for t in ft])
        print(ec.table(ph, ph))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root (chronyd binds port 123)")
        sys.exit(77)
    os.environ.setdefault("FLEETCLOCK_SIM_PREFIX", "127.7")
    fleetsim.PREFIX = os.environ["FLEETCLOCK_SIM_PREFIX"]
    unittest.main(verbosity=2)
