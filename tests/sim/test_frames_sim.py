#!/usr/bin/env python3
"""Issue 16 in CI (about 75 s): three WiFi headsets of a simulated fleet
run the LED program started (a) the field's way and (c) with --at --arm
and frames() (tests/sim/frame_skew.py). (c)'s fleet frame skew must lie
within the wifi budget and far below (a)'s; no frame skipped once started
is not asserted (this machine is shared: a descheduled frame is skipped by
design), only counted. Loose by design: the figures are the benchmark's
(frame_skew.py --profile lan --profile wifi)."""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import frame_skew  # noqa: E402

SECONDS = 10


class FramesSim(unittest.TestCase):
    def test_armed_frames_stay_in_frame(self):
        if os.geteuid() != 0:
            self.skipTest("the fleet simulator needs root")
        out = tempfile.mkdtemp(prefix="fleetclock-frames-ci-")
        res, s = frame_skew.run("wifi", "ac", SECONDS, out, scenario="frames-ci", seed=16)
        print(frame_skew.table({"wifi": res}))
        self.assertEqual(s["escaped"], {}, "processes escaped their node's clock")
        self.assertTrue(s["real_clock_unchanged"])
        budget = 5.0  # ms, the scenario's budget_ms (wifi)
        a, c = res["a"], res["c"]
        for m in (a, c):
            self.assertEqual(m["missing"], [], "a headset did not run: see %s/nodes" % out)
            self.assertGreater(m["compared"], SECONDS * 24 * 0.8, m)
        self.assertLessEqual(c["clock_p99_ms"], budget, c)
        self.assertLessEqual(c["p50_ms"], budget, c)
        self.assertGreater(a["p50_ms"], 10 * c["p50_ms"], (a, c))
        self.assertGreater(a["p50_ms"], c["p99_ms"], (a, c))
        shutil.rmtree(out)  # kept when an assertion failed, for a look


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    fctest.main()
