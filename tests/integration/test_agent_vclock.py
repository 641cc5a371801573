"""The agent's write commands against chronyd disciplining a real (virtual)
clock: chronyd runs WITHOUT -x under the fleet simulator's virtual-clock
preload (tests/sim), so MAKESTEP really steps the node's clock and the true
error is read from the clock's state file. The agent runs on the same
virtual clock, as it would on a real node."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
from simnode import SimNode, node_env  # noqa: E402
from fctest import AGENT, main  # noqa: E402


class AgentOnVirtualClock(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="fc-agent-vclock-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.stop()
            n.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)

    def node(self, *a, **kw):
        n = SimNode(*a, workdir=self.work, allow="127.0.0.0/8", **kw)
        self.nodes.append(n)
        return n

    def agent(self, node, *args):
        conf = os.path.join(self.work, "agent.conf")
        with open(conf, "w") as f:
            # Relaxed update age (polls of 0.25 s, a loaded machine); no RTC.
            f.write("[check]\nmax_update_polls = 20\n[rtc]\ndevice = none\n")
        return subprocess.run([AGENT, "-c", conf, "--socket", node.sock] + list(args),
                              capture_output=True, text=True, timeout=120,
                              env=node_env(node.state_path))

    def wait_selected(self, node, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.agent(node, "--status")
            if r.returncode == 0 and "\n  * " in r.stdout:
                return
            time.sleep(0.2)
        self.fail("%s never selected its source" % node.name)

    def test_makestep_steps_the_clock(self):
        srv = self.node("ms-srv", "127.0.2.41", serve=True, local_stratum=8)
        # 5 s behind, no makestep directive: chronyd would slew for a minute.
        cli = self.node("ms-cli", "127.0.2.42", servers=[("127.0.2.41", 123, "")], offset=-5.0,
                        makestep=None)
        srv.start().wait_ready()
        cli.start().wait_ready()
        self.wait_selected(cli)
        self.assertGreater(abs(cli.clock.true_error()), 1.0, "slewed away before the test")
        r = self.agent(cli, "--makestep")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"chronyd stepped the clock by \+[45]\.\d{3}s")
        time.sleep(0.5)
        self.assertLess(abs(cli.clock.true_error()), 0.01)

    def test_check_fix_brings_17min_node_to_ready(self):
        srv = self.node("fx-srv", "127.0.2.43", serve=True, local_stratum=8)
        # 17 minutes ahead and never allowed to step by itself.
        cli = self.node("fx-cli", "127.0.2.44", servers=[("127.0.2.43", 123, "")], offset=1020.0,
                        makestep="1000000 1")
        srv.start().wait_ready()
        cli.start().wait_ready()
        self.wait_selected(cli)
        r = self.agent(cli, "--check")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # chronyd slews at most 83 ms/s, so the error is still about 17 minutes.
        self.assertRegex(r.stdout, r"\[FAIL\] max error        10(19|20)\.\d{3}s")
        self.assertRegex(r.stdout, r"\[ OK \] last update")
        r = self.agent(cli, "--check", "--fix")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"fix: makestep  stepped by -10(19|20)\.\d{3}s")
        self.assertIn("READY", r.stdout.splitlines()[-1])
        self.assertLess(abs(cli.clock.true_error()), 0.005)


if __name__ == "__main__":
    main()
