"""The agent's write commands against chronyd disciplining a real (virtual)
clock: chronyd runs WITHOUT -x under the fleet simulator's virtual-clock
preload (tests/sim), so MAKESTEP really steps the node's clock and the true
error is read from the clock's state file. The agent runs on the same
virtual clock, as it would on a real node.

The holdover: a failover whose clock runs 20 ppm fast follows the master,
then serves alone; the agent must give its chronyd the rate and phase
fitted while following (chronyd's DFREQ and DOFFSET), measured on the
clock's true error and rate afterwards."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
from simnode import SimNode, node_env  # noqa: E402
from fctest import AGENT, main, wait_for  # noqa: E402


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


HOLDOVER_CONF = """[chrony]
socket = {sock}
[agent]
host = {name}
budget_ms = 5
[rtc]
device = none
[election]
enabled = yes
assume_valid = yes
priority1 = {prio}
interval = 0.5
key_file = {work}/fleet.key
group =
port = 37293
bind = {addr}
peers = {peer}:37293
rejoin_step = none
state_file = {dir}/election.json
holdover_freq_settle = 10
holdover_freq_min = 20
holdover_phase = yes
"""


class HoldoverFrequency(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="fc-holdover-")
        self.nodes = []
        with open(os.path.join(self.work, "fleet.key"), "w") as f:
            f.write("5a" * 32 + "\n")
        os.chmod(os.path.join(self.work, "fleet.key"), 0o600)

    def tearDown(self):
        for n in self.nodes:
            n.stop()
            n.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)

    def candidate(self, name, addr, peer, prio, **kw):
        n = SimNode(name, addr, workdir=self.work, allow="127.0.0.0/8", serve=True, poll=-1, **kw)
        self.nodes.append(n)
        n.start().wait_ready()
        conf = os.path.join(n.dir, "agent.conf")
        with open(conf, "w") as f:
            f.write(HOLDOVER_CONF.format(sock=n.sock, name=name, prio=prio, work=self.work,
                                         addr=addr, peer=peer, dir=n.dir))
        n.agent_log = os.path.join(n.dir, "agent.log")
        with open(n.agent_log, "ab") as log:
            n.run_on_clock([AGENT, "-c", conf, "-v", "--elect", "300"], stdout=log,
                           stderr=subprocess.STDOUT)
        return n

    @staticmethod
    def view(n):
        try:
            with open(os.path.join(n.dir, "election.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def dump(self, n):
        with open(n.agent_log, errors="replace") as f:
            return "view %s\nlog:\n%s" % (json.dumps(self.view(n)), f.read()[-3000:])

    def test_failover_serves_with_the_fitted_rate_and_phase(self):
        m = self.candidate("ho-m", "127.0.2.45", "127.0.2.46", 1)
        # 20 ppm fast; its driftfile says 19.5 (learned earlier)
        f = self.candidate("ho-f", "127.0.2.46", "127.0.2.45", 2, drift=20.0, driftfile_ppm=19.5,
                           servers=[("127.0.2.45", 123, "")])

        def averaged():
            v = self.view(f)
            return (v and v["state"] == "following" and v["master"] == "ho-m" and
                    v["holdover_freq"]["ppm"] is not None and v["holdover_freq"]["span_s"] >= 30)
        self.assertTrue(wait_for(averaged, 120), self.dump(f))
        est = self.view(f)["holdover_freq"]["ppm"]
        # the clock is 20 ppm fast and M's exact: that is what chronyd learned
        self.assertAlmostEqual(est, 20.0, delta=1.0, msg=self.dump(f))
        # M dies; before F's agent notices, F's chronyd gets a short-term
        # estimate 5 ppm off (what a noisy last regression leaves) and its
        # clock a phase error of +80 us (what a noisy last offset leaves).
        m.stop()
        before = f.clock.true_error()
        subprocess.run(["chronyc", "-h", f.sock, "dfreq", "5"], check=True, capture_output=True,
                       env=node_env(f.state_path))
        f.clock.ctl("step", 80e-6)
        self.assertTrue(wait_for(lambda: (self.view(f) or {}).get("state") == "serving", 10),
                        self.dump(f))
        applied = self.view(f)["holdover_freq"]["applied"]
        self.assertIsNotNone(applied, self.dump(f))
        # chronyd had the knocked estimate; it now has the fitted one. The difference is the
        # knock (5 ppm) plus the difference between chronyd's estimate and the fit, each about
        # 1 ppm from the true 20 ppm (the fit is checked above): up to 2 ppm either way (6.13
        # seen once in a CI run: fit 18.98, chronyd 20.11 before the knock).
        self.assertAlmostEqual(applied["chronyd_ppm"] - applied["ppm"], 5.0, delta=2.0,
                               msg=self.dump(f))
        self.assertAlmostEqual(f.tracking()["freq_ppm"], applied["ppm"], delta=0.01)
        self.assertAlmostEqual(applied["phase_s"], 80e-6, delta=25e-6, msg=self.dump(f))
        # chronyd slews the phase back: the clock is about where it was
        self.assertTrue(wait_for(lambda: abs(f.clock.true_error() - before) < 25e-6, 15),
                        "true error %.1f us, was %.1f us: %s"
                        % (f.clock.true_error() * 1e6, before * 1e6, self.dump(f)))
        # Serving alone, the clock now runs at its true rate within 1.5 ppm
        # (with the knocked-off estimate kept, it would run 5 ppm fast).
        time.sleep(1)
        t1, e1 = time.monotonic(), f.clock.true_error()
        time.sleep(10)
        t2, e2 = time.monotonic(), f.clock.true_error()
        rate = (e2 - e1) / (t2 - t1) * 1e6
        print("holdover: fitted %+.3f ppm over %.0f s; applied %+.3f ppm and %+.1f us; "
              "free-running rate %+.3f ppm" % (est, self.view(f)["holdover_freq"]["span_s"],
                                               applied["delta_ppm"], applied["phase_s"] * 1e6, rate))
        self.assertLess(abs(rate), 1.5, self.dump(f))

if __name__ == "__main__":
    main()
