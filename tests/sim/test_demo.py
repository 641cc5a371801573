#!/usr/bin/env python3
"""The README's main command, short, and how it gets root (issue 15).

- `scripts/demo --duration 30` starts the simulated fleet with an agent on
  every node and the collector, prints the simulator's true-error table,
  the collector's fleet table and one line with both verdicts; on the
  healthy fleet both say OK against the same budget, the lines the README
  shows are what it prints, and everything stops (no node, agent or
  collector left running).
- The verdict line's logic (demo_fleet.sim_verdict, collector_verdict,
  story) as a table.
- Run by a user who is not root, it runs itself again with sudo when sudo
  is installed, and says what to do when it is not; scripts/deps.sh's
  install path does the same (run as `nobody`, a stub sudo on PATH).

Environment: FLEETCLOCK_SIM_PREFIX moves the simulator's addresses,
FLEETCLOCK_DEMO_PORT the collector's port (default 8470, or the next free),
FLEETCLOCK_DEMO_NET the simulator's block (default: a free one).
`test_demo.py run` runs only the demo (~35 s), `test_demo.py not-root` the rest (~1 s).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.environ.get("FLEETCLOCK_SOURCE",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEMO = os.path.join(SOURCE, "scripts", "demo")
README_MARK = "<!-- demo output: tests/sim/test_demo.py checks these lines -->"
NUMBER = r"[-+]?\d+(?:\.\d+)?"


def readme_sample():
    """The indented block after README_MARK, without its indentation."""
    with open(os.path.join(SOURCE, "README.md")) as f:
        text = f.read()
    if README_MARK not in text:
        return []
    block = []
    for line in text.split(README_MARK, 1)[1].lstrip("\n").splitlines():
        if not line.startswith("    ") and line.strip():
            break
        block.append(line[4:])
    return [b for b in block if b.strip() and b.strip() != "..."]


def line_pattern(line):
    """A sample line as a regex: every number may differ, spacing may differ."""
    tokens = re.findall(r"\s+|%s|[^\s\d+-]+|." % NUMBER, line.strip())
    return re.compile("".join(r"\s+" if t.isspace() else NUMBER if re.fullmatch(NUMBER, t)
                              else re.escape(t) for t in tokens))


class Demo(unittest.TestCase):
    def test_demo_verdicts_agree(self):
        out = "/tmp/fleetclock-demo-test"
        net = os.environ.get("FLEETCLOCK_DEMO_NET")
        r = subprocess.run([DEMO, "--duration", "30", "--every", "7", "--out", out,
                            "--port", os.environ.get("FLEETCLOCK_DEMO_PORT", "8470")] +
                           (["--net", net] if net else []),
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        # The collector's view, with the twelve nodes that run an agent.
        tables = re.findall(r"--- the collector's view .*?\n(.*?)\n\n", r.stdout, re.S)
        self.assertTrue(tables, r.stdout[-3000:])
        last = tables[-1]
        for host in ["master", "failover"] + ["headset%d" % i for i in range(1, 11)]:
            self.assertRegex(last, r"(?m)^%s +" % host)
        # the headsets name each master by one address, as in a real fleet:
        # the collector holds them relative to it, and pairs of followers of
        # one master relative too (issue 20): never an all-absolute fleet
        self.assertRegex(last, r"(?m)^headset\d+ .* relative to [0-9.]+$")
        self.assertRegex(r.stdout.split("--- the collector's view")[-1],
                         r"spread bound [0-9.]+ ms of a 40\.000 ms budget, (mixed|relative) ")
        self.assertRegex(r.stdout, r"\?truth=http://[0-9.:]+/truth\.json")
        self.assertRegex(r.stdout, r"\d+ hosts, \d+ ready, \d+ stale")
        # One story: the simulator (true errors) and the collector (chronyd's
        # bounds) judge the same budget, and on the healthy fleet both say OK.
        verdicts = re.findall(r"(?m)^=== t = .*$", r.stdout)
        self.assertGreaterEqual(len(verdicts), 3, r.stdout[-3000:])
        self.assertNotIn("DISAGREE", r.stdout)
        self.assertRegex(verdicts[-1], r"budget 40 ms: simulator OK .*, collector OK .*: agree$")
        self.assertRegex(r.stdout, r"(?m)^OK: 12 hosts, 12 ready, 0 stale; spread bound [0-9.]+ ms "
                                   r"of a 40\.000 ms budget")
        self.assertRegex(r.stdout, r"(?m)^--- t = .* 13/13 nodes within \+-40\.0 ms of true time")
        self.assertIn("at the end: " + verdicts[-1], r.stdout)
        # What README.md shows is what the demo prints.
        sample = readme_sample()
        self.assertGreaterEqual(len(sample), 10, "README.md: no demo sample after " + README_MARK)
        printed = [ln.strip() for ln in r.stdout.splitlines()]
        for line in sample:
            pat = line_pattern(line)
            self.assertTrue(any(pat.fullmatch(p) for p in printed),
                            "README.md's demo line not printed by the demo: %r" % line)
        self.assertIn("real clock adjtimex state unchanged: True", r.stdout)
        self.assertIn("escaped processes: none", r.stdout)
        # Nothing left behind.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(out + "-collector/collector.conf", ps)
        self.assertNotIn(out + "/nodes", ps)


class Story(unittest.TestCase):
    """demo_fleet's verdicts, as a table (pure functions, no processes)."""

    def test_sim_verdict(self):
        import demo_fleet

        def row(role, err, alive=1):
            return dict(role=role, true_error=err / 1e3, alive=alive)
        up = [row("upstream", 0.0), row("master", 0.1), row("headset", -0.3), row("headset", 0.5)]
        self.assertEqual(demo_fleet.sim_verdict(up, 40), (True, 0.5, 0.8))
        ok, worst, spread = demo_fleet.sim_verdict(up + [row("headset", 39.0)], 40)
        self.assertEqual((ok, worst), (True, 39.0))  # spread 39.3 ms: still in
        self.assertFalse(demo_fleet.sim_verdict(up + [row("headset", 41.0)], 40)[0])
        self.assertFalse(demo_fleet.sim_verdict(up + [row("headset", 30), row("headset", -30)],
                                                40)[0])  # each in, 60 ms apart
        self.assertFalse(demo_fleet.sim_verdict(up + [row("headset", 0.0, alive=0)], 40)[0])
        self.assertEqual(demo_fleet.sim_verdict([row("upstream", 0.0)], 40), (False, None, None))

    def test_collector_verdict_and_story(self):
        import demo_fleet
        out = "HOST ...\n\nOK: 12 hosts, 12 ready, 0 stale; spread bound 11.973 ms of a 40.000 ms budget\n"
        self.assertEqual(demo_fleet.collector_verdict(out, 0), ("OK", 11.973))
        self.assertEqual(demo_fleet.collector_verdict("OVER_BUDGET: 2 hosts, 0 ready, 0 stale; spread "
                                                      "bound 3000.000 ms of a 5.000 ms budget", 1),
                         ("OVER_BUDGET", 3000.0))
        self.assertEqual(demo_fleet.collector_verdict("fleet-offsets: cannot read", 2),
                         ("UNREACHABLE", None))
        sim_ok, sim_bad = (True, 0.6, 0.9), (False, 50.0, 60.0)
        cases = [(sim_ok, ("OK", 12.0), ": agree"),
                 (sim_bad, ("OVER_BUDGET", 90.0), ": agree (not within budget yet)"),
                 (sim_ok, ("OVER_BUDGET", 15.0), ": the collector is cautious"),
                 (sim_bad, ("OK", 12.0), ": DISAGREE"),
                 (sim_ok, ("UNREACHABLE", None), ": the collector is cautious")]
        for sim, coll, want in cases:
            line = demo_fleet.story(10.2, 40, sim, coll)
            self.assertTrue(line.startswith("=== t = 10 s, budget 40 ms: simulator "), line)
            self.assertIn(want, line)
        # below the own-hop floor no honest bound can agree: the line says so
        line = demo_fleet.story(10.2, 5, sim_ok, ("OVER_BUDGET", 12.4), 7.158)
        self.assertIn("no honest bound can prove 5 ms here, the own-hop floor", line)
        self.assertIn(": the collector is cautious (chronyd", demo_fleet.story(10.2, 5, sim_ok,
                                                                               ("OVER_BUDGET", 12.4), 3.0))
        self.assertEqual(demo_fleet.collector_floor(
            "OVER_BUDGET: ...; spread bound 12.370 ms of a 5.000 ms budget, mixed (absolute 12.398 ms, "
            "own-hop floor 7.158 ms); worst headset9 (6.464 ms)"), 7.158)
        self.assertIsNone(demo_fleet.collector_floor(out))


class NotRoot(unittest.TestCase):
    """scripts/demo and scripts/deps.sh run by `nobody`, with a PATH of only
    the tools they need, and a stub sudo that records its arguments. They
    run from a copy (the checkout may be where nobody cannot read), which
    holds what scripts/demo reads before it needs root."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fleetclock-demo-notroot-")
        os.chmod(self.dir, 0o777)
        self.src = os.path.join(self.dir, "src")
        for f in ("scripts/demo", "scripts/deps.sh", "tests/sim/scenarios/baseline-wifi.toml"):
            os.makedirs(os.path.dirname(os.path.join(self.src, f)), exist_ok=True)
            shutil.copy2(os.path.join(SOURCE, f), os.path.join(self.src, f))
        self.demo = os.path.join(self.src, "scripts", "demo")
        self.bin = os.path.join(self.dir, "bin")
        os.mkdir(self.bin)
        for tool in ("bash", "env", "dirname", "id", "sed", "grep", "dpkg-query"):
            os.symlink(shutil.which(tool), os.path.join(self.bin, tool))
        self.log = os.path.join(self.dir, "sudo.args")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def add_stub_sudo(self, rc):
        path = os.path.join(self.bin, "sudo")
        with open(path, "w") as f:
            f.write("#!/bin/bash\nprintf '%%s\\n' \"$@\" >> %s\nexit %d\n" % (self.log, rc))
        os.chmod(path, 0o755)

    def run_nobody(self, argv, extra_env=None):
        env = {"PATH": self.bin, "HOME": self.dir, "LANG": "C.UTF-8"}
        env.update(extra_env or {})
        return subprocess.run([shutil.which("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               "--"] + argv, env=env, capture_output=True, text=True, timeout=60)

    def sudo_args(self):
        if not os.path.exists(self.log):
            return None
        with open(self.log) as f:
            return f.read().splitlines()

    def test_demo_without_sudo_says_what_to_do(self):
        r = self.run_nobody([self.demo, "--duration", "5"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("scripts/demo (each simulated chronyd binds port 123) needs root, and sudo is "
                      "not installed: run it again as root", r.stderr)
        r = self.run_nobody([self.demo, "--single"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("needs root, and sudo is not installed", r.stderr)
        r = self.run_nobody([self.demo, "--help"])  # no root needed to read the usage
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("scripts/demo --duration 120", r.stdout)

    def test_demo_with_sudo_runs_itself_again(self):
        self.add_stub_sudo(0)
        r = self.run_nobody([self.demo, "--duration", "5", "--port", "8890"],
                            {"FLEETCLOCK_SIM_PREFIX": "127.11"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("not root: running it again with sudo", r.stderr)
        self.assertEqual(self.sudo_args(), ["--", "env", "FLEETCLOCK_SIM_PREFIX=127.11", self.demo,
                                            "--duration", "5", "--port", "8890"])
        os.unlink(self.log)
        r = self.run_nobody([self.demo, "--single", "--duration", "3"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.sudo_args(), ["--", "env", self.demo, "--single", "--duration", "3"])

    def deps(self, call):
        script = ". %s/scripts/deps.sh && %s" % (self.src, call)
        return self.run_nobody(["bash", "-c", script])

    def test_deps_install_as_user(self):
        missing = "fleetclock-test-no-such-package"
        r = self.deps("ensure_packages bash %s" % missing)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("fleetclock: installing Debian packages (%s) needs root, and sudo is not "
                      "installed" % missing, r.stderr)
        self.assertNotIn("command not found", r.stderr)
        self.add_stub_sudo(1)  # sudo refused (wrong password): nothing installed
        r = self.deps("ensure_packages bash %s" % missing)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.sudo_args(), ["apt-get", "update", "-q"])
        r = self.deps("ensure_packages bash")  # nothing missing: no sudo at all
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.sudo_args(), ["apt-get", "update", "-q"])

    def test_deps_as_root_needs_no_sudo(self):
        r = subprocess.run(["bash", "-c", ". %s/scripts/deps.sh && root_prefix x && echo rc=$?"
                            % self.src], env={"PATH": self.bin}, capture_output=True, text=True)
        self.assertEqual(r.stdout, "rc=0\n", r.stderr)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    if os.geteuid() != 0:
        fctest.skip_all("needs root (the demo's chronyd bind port 123; setpriv to nobody)")
    which = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
    names = {"run": ["Demo"], "not-root": ["Story", "NotRoot"], None: ["Demo", "Story", "NotRoot"]}[which]
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(globals()[n])
                               for n in names)
    fctest.main(suite=suite)
