#!/usr/bin/env python3
"""Safety of the simulator (issue 6): the machine's real clock is never
touched.
- a simulated chronyd started without the preload dies at once (CAP_SYS_TIME
  is removed from its bounding set), it cannot discipline the real clock;
- the preload refuses to run without a valid state file;
- the real clock's adjtimex state (read with modes=0) is unchanged after
  nodes were stepped and slewed by their chronyd, which did talk to their
  virtual clocks.
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simnode import PRELOAD, STATE_ENV, SimNode, real_clock_state, sim_addr  # noqa: E402


class SafetyTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="fleetclock-safety-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.stop()
            n.cleanup()

    def test_chronyd_without_preload_dies(self):
        # No sources: even in the impossible case it survived it would not steer.
        n = SimNode("nopreload", sim_addr(0, 20), self.work)
        self.nodes.append(n)
        n.start(preload=False)
        try:
            rc = n.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("chronyd without the preload kept running")
        self.assertNotEqual(rc, 0)
        self.assertIn("Operation not permitted", n.output())

    def test_preload_refuses_without_state(self):
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        env.pop(STATE_ENV, None)
        r = subprocess.run(["true"], env=env, capture_output=True, text=True)
        self.assertLess(r.returncode, 0)  # killed by SIGABRT
        self.assertIn("refusing to run on the real clock", r.stderr)
        bad = os.path.join(self.work, "garbage.state")
        with open(bad, "wb") as f:
            f.write(b"\0" * 4096)
        env[STATE_ENV] = bad
        r = subprocess.run(["true"], env=env, capture_output=True, text=True)
        self.assertLess(r.returncode, 0)
        self.assertIn("bad magic/version", r.stderr)
        env[STATE_ENV] = os.path.join(self.work, "missing.state")
        r = subprocess.run(["true"], env=env, capture_output=True, text=True)
        self.assertLess(r.returncode, 0)
        self.assertIn("No such file", r.stderr)

    def test_real_clock_untouched(self):
        before = real_clock_state()
        wall0, mono0 = time.time(), time.monotonic()
        up = SimNode("up", sim_addr(0, 21), self.work, serve=True, local_stratum=1)
        n = SimNode("n", sim_addr(0, 22), self.work, servers=[(sim_addr(0, 21), 123, "")],
                    offset=-7.0, drift=300.0)
        self.nodes += [up, n]
        up.start().wait_ready()
        n.start().wait_ready()
        time.sleep(3)
        n.clock.ctl("step", 0.2)  # force a slew of 200 ms by chronyd
        time.sleep(3)
        st = n.clock.read()
        self.assertGreater(st["n_adjust"], 3, "chronyd did not adjust its virtual clock")
        self.assertGreaterEqual(st["n_steps"], 1)
        after = real_clock_state()
        for k in ("freq", "tick", "status", "offset"):
            self.assertEqual(before[k], after[k], "real clock's %s changed" % k)
        # the real clock did not jump either (-7 s step, 200 ms slew)
        self.assertAlmostEqual(time.time() - wall0, time.monotonic() - mono0, delta=0.05)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    if os.geteuid() != 0:
        fctest.skip_all("needs root")
    fctest.main()
