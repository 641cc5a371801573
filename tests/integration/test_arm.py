#!/usr/bin/env python3
"""Integration tests of `fleetclock-agent --at T --arm [LEAD] -- CMD`, the
start gates (libfleetclock-gate in C, the fleetclock Python module, the
shell's --wait-until) and the frame clock.

Real processes: the agent, the example LED programs (gate/examples) and
small probes. Clock steps are made on the fleet simulator's virtual clock
(LD_PRELOAD, never the real clock). Timing is asserted loosely: never
before the instant, within TOLERANCE in one of three tries (the machine is
shared); precision is tests/bench/bench_gate.py's business. --force
everywhere but where the readiness check itself is tested: a missing
chronyd socket, and TestWithChronyd's two chronyd -x on this test's own
addresses 127.0.46.1-2 (no fixed address of the other tests).
"""
import calendar
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("FLEETCLOCK_BUILD", "build")
SOURCE = os.environ.get("FLEETCLOCK_SOURCE", ".")
AGENT = os.path.join(BUILD, "agent", "fleetclock-agent")
LED_C = os.path.join(BUILD, "gate", "led_blink")
GATE_DIR = os.path.join(SOURCE, "gate")
LED_PY = os.path.join(GATE_DIR, "examples", "led_blink.py")
VCLOCK_LIB = os.path.join(BUILD, "tests", "sim", "libfleetclock-vclock.so")
VCLOCK_CTL = os.path.join(BUILD, "tests", "sim", "fleetclock-vclock")
TOLERANCE = 0.050  # s

sys.path.insert(0, GATE_DIR)
import fleetclock  # noqa: E402

# Prints how late the gate released it (s) against FLEETCLOCK_START_AT_NS.
PY_PROBE = """
import sys, time
sys.path.insert(0, %r)
import fleetclock
time.sleep(float(sys.argv[1]))
at = fleetclock.wait_start()
print("late_s=%%.9f" %% ((time.time_ns() - at) / 1e9))
""" % os.path.abspath(GATE_DIR)


class ArmTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="fc-test-arm-")
        self.conf = os.path.join(self.tmp.name, "agent.conf")
        self.report = os.path.join(self.tmp.name, "starts.jsonl")
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 200\n"
                    "[agent]\nbudget_ms = 5\nlate_tolerance_ms = 50\n"
                    % os.path.join(self.tmp.name, "no-chronyd.sock"))
        self.probe = os.path.join(self.tmp.name, "probe.py")
        with open(self.probe, "w") as f:
            f.write(PY_PROBE)
        self.env = dict(os.environ, PYTHONPATH=os.path.abspath(GATE_DIR))

    def tearDown(self):
        self.tmp.cleanup()

    def armed(self, at, cmd, *opts, env=None, timeout=30):
        """Run the agent armed; (CompletedProcess, report lines)."""
        if os.path.exists(self.report):
            os.unlink(self.report)
        opts = list(opts) or ["--arm"]
        r = subprocess.run([AGENT, "-c", self.conf, "--force", "--report", self.report, "--at",
                            at] + opts + ["--"] + cmd, capture_output=True, text=True,
                           timeout=timeout, env=env or self.env)
        lines = []
        if os.path.exists(self.report):
            with open(self.report) as f:
                lines = [json.loads(x) for x in f]
        return r, lines

    def loosely_on_time(self, attempt, tries=3):
        errors = []
        for _ in range(tries):
            error = attempt()
            self.assertGreaterEqual(error, 0.0, "released before T")
            errors.append(error)
            if error <= TOLERANCE:
                return
        self.fail("release errors %s all above %.3f s" % (errors, TOLERANCE))

    def vclock(self):
        if not (os.path.exists(VCLOCK_LIB) and os.path.exists(VCLOCK_CTL)):
            self.skipTest("the fleet simulator's virtual clock is not built")
        ldd = subprocess.run(["ldd", AGENT], capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("an ASan build cannot run under an LD_PRELOAD library")
        state = os.path.join(self.tmp.name, "vclock")
        if os.path.exists(state):
            os.unlink(state)
        subprocess.run([VCLOCK_CTL, "create", state, "0"], check=True)
        return state, dict(self.env, LD_PRELOAD=os.path.abspath(VCLOCK_LIB),
                           FLEETCLOCK_VCLOCK_STATE=state)


class TestRelease(ArmTest):
    def test_python_gate_releases_at_t_and_reports_the_slack(self):
        def attempt():
            r, lines = self.armed("+1s", [sys.executable, self.probe, "0.2"])
            self.assertEqual(r.returncode, 0, r.stderr)
            rep = lines[0]
            self.assertEqual(rep["result"], "started", rep)
            self.assertTrue(rep["armed"])
            # ready about 0.8 s before T (0.2 s set-up): the slack it had
            self.assertGreater(rep["slack_s"], 0.3, rep)
            self.assertLess(rep["slack_s"], 1.0, rep)
            self.assertGreaterEqual(rep["error_s"], 0.0, rep)
            late = float(r.stdout.split("=")[1])
            self.assertAlmostEqual(late, rep["error_s"], delta=0.05)
            return late
        self.loosely_on_time(attempt)

    def test_python_gate_under_rt(self):
        """--rt: CMD inherits SCHED_FIFO and the Python gate busy-polls the
        last millisecond (fleetclock.RT_SPIN_NS): never before T, the go
        line intact (the report's error_s is the gate's own release)."""
        def attempt():
            r, lines = self.armed("+1s", [sys.executable, self.probe, "0.1"], "--arm", "--rt")
            self.assertEqual(r.returncode, 0, r.stderr)
            rep = lines[0]
            self.assertEqual(rep["result"], "started", rep)
            self.assertGreaterEqual(rep["error_s"], 0.0, rep)
            late = float(r.stdout.split("=")[1])
            self.assertGreaterEqual(late, rep["error_s"], rep)
            return late
        self.loosely_on_time(attempt)

    def test_c_gate_and_frames(self):
        def attempt():
            log = os.path.join(self.tmp.name, "led.log")
            if os.path.exists(log):
                os.unlink(log)
            env = dict(self.env, FLEETCLOCK_LED_LOG=log)
            r, lines = self.armed("+0.8s", [LED_C, "0.5"], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            skipped = int(r.stdout.split(",")[1].split()[0])  # 0 on an idle machine
            rep = lines[0]
            self.assertEqual(rep["result"], "started", rep)
            at_ns = json_ts_ns(rep["target"])
            with open(log) as f:
                frames = [tuple(int(x) for x in ln.split()) for ln in f]
            idx = [k for k, _, _ in frames]
            self.assertEqual(idx, sorted(set(idx)))
            self.assertEqual(len(idx) + skipped, 12)
            for k, _, rt in frames:  # each on its absolute instant, never before
                self.assertGreaterEqual(rt - (at_ns + k * 10**9 // 24), 0, k)
            return rep["error_s"]
        self.loosely_on_time(attempt)

    def test_lead_starts_cmd_lead_before_t(self):
        r, lines = self.armed("+2s", [sys.executable, self.probe, "0"], "--arm", "1s")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = lines[0]
        # started 1 s before T, ready as soon as Python is up: slack just under 1 s
        self.assertLessEqual(rep["slack_s"], 1.0, rep)
        self.assertGreater(rep["slack_s"], 0.5, rep)
        r, _ = self.armed("+2s", ["true"], "--arm=soon")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--arm LEAD 'soon'", r.stderr)

    def test_shell_gate_is_wait_until(self):
        script = ('sleep 0.2; "%s" -c "%s" --force --wait-until "$FLEETCLOCK_START_AT" && '
                  'echo "$FLEETCLOCK_START_AT_NS"' % (os.path.abspath(AGENT), self.conf))
        r, lines = self.armed("+1s", ["sh", "-c", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = lines[0]
        self.assertEqual(rep["result"], "started", rep)
        self.assertGreater(rep["slack_s"], 0.3, rep)
        self.assertGreaterEqual(rep["error_s"], 0.0, rep)
        self.assertEqual(int(r.stdout), json_ts_ns(rep["target"]))


def json_ts_ns(text):
    """The report's RFC 3339 (9 digits, Z) -> ns since the epoch."""
    base, frac = text.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac)


class TestOutcomes(ArmTest):
    def test_late_program_is_reported(self):
        r, lines = self.armed("+0.5s", [sys.executable, LED_PY, "--setup", "1.2",
                                        "--seconds", "0.3"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = lines[0]
        self.assertEqual(rep["result"], "late", rep)
        self.assertLess(rep["slack_s"], -0.4, rep)  # ready ~0.7 s after T
        self.assertGreater(rep["error_s"], 0.4, rep)
        self.assertRegex(r.stderr, r"was not ready at .*starts late")
        self.assertRegex(r.stderr, r"started late: ready 0\.[4-9]\d* s after TIME")

    def test_cmd_without_gate_is_reported(self):
        r, lines = self.armed("+0.3s", ["sh", "-c", "exit 3"])
        self.assertEqual(r.returncode, 3, "CMD's exit status passes through")
        self.assertEqual(lines[0]["result"], "no-ready", lines)
        self.assertIn("without saying ready", r.stderr)

    def test_missing_env_is_refused_clearly(self):
        for cmd in ([sys.executable, LED_PY], [LED_C]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, env=self.env)
            self.assertEqual(r.returncode, 2, cmd)
            self.assertIn("FLEETCLOCK_START_AT_NS is not set", r.stderr)
            self.assertIn("--arm", r.stderr)
        env = dict(self.env, FLEETCLOCK_START_AT_NS="2026-11-21T20:00:10Z")
        r = subprocess.run([sys.executable, LED_PY], capture_output=True, text=True,
                           timeout=10, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a number of nanoseconds", r.stderr)

    def test_not_ready_node_does_not_start_cmd(self):
        marker = os.path.join(self.tmp.name, "started")
        r = subprocess.run([AGENT, "-c", self.conf, "--at", "+1s", "--arm", "--", "touch",
                            marker], capture_output=True, text=True, timeout=20)
        self.assertIn(r.returncode, (1, 2), r.stderr)
        self.assertIn("chronyd", r.stderr)
        self.assertFalse(os.path.exists(marker), "CMD started on a node that is not ready")

    def test_arm_needs_at(self):
        r = subprocess.run([AGENT, "-c", self.conf, "--wait-until", "+1s", "--arm"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--arm goes with --at", r.stderr)

    def test_signal_reaches_cmd_and_status_passes_through(self):
        p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--at", "+0.2s", "--arm", "--",
                              "sleep", "30"], stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM, err)


class TestWithChronyd(ArmTest):
    """Readiness against real chronyd instances (-x) on this test's own
    addresses, 127.0.46.1-2: checked before CMD is started, again 2 s
    before T on a long wait."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(SOURCE, "tests", "harness"))
        from chronyd_harness import ChronyInstance
        cls.server = ChronyInstance("arm-server", "127.0.46.1", local_stratum=8).start()
        cls.client = ChronyInstance("arm-client", "127.0.46.2", servers=["127.0.46.1"],
                                    serve=False).start()
        cls.client.wait_synced(timeout=30)

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.client, cls.server):
            inst.stop()

    def checked(self, at, cmd):
        """An armed run with the readiness check (budget 1 s)."""
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 300\n"
                    "[agent]\nbudget_ms = 1000\nlate_tolerance_ms = 50\n"
                    "[check]\nmax_skew_ppm = 1000000\n" % self.client.socket)
        return subprocess.Popen([AGENT, "-c", self.conf, "--report", self.report, "--at", at,
                                 "--arm", "--"] + cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def test_ready_node_starts_with_a_fresh_bound(self):
        target = time.time() + 4.5
        p = self.checked("%.6f" % target, [sys.executable, self.probe, "0"])
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        with open(self.report) as f:
            rep = json.loads(f.readline())
        self.assertEqual(rep["result"], "started", rep)
        self.assertTrue(rep["chrony_synchronised"])
        self.assertLess(rep["chrony_max_error_s"], 1.0)
        read_at = json_ts_ns(rep["chrony_read_at"]) / 1e9
        self.assertGreater(read_at, target - 3.0, "bound not re-read shortly before T")
        self.assertGreaterEqual(float(out.split("=")[1]), 0.0)

    def test_node_no_longer_ready_does_not_start(self):
        # chronyd loses its source during the wait (offline, measurements
        # reset): the check 2 s before T refuses; CMD, set up and waiting
        # on its gate, is stopped before T and never released.
        marker = os.path.join(self.tmp.name, "released")
        probe = [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import fleetclock; "
                 "fleetclock.wait_start(); open(%r, 'w').close()"
                 % (os.path.abspath(GATE_DIR), marker)]
        try:
            p = self.checked("+5s", probe)
            time.sleep(1.5)
            self.client.chronyc("offline")
            self.client.chronyc("reset", "sources")
            _, err = p.communicate(timeout=20)
        finally:
            self.client.chronyc("online")
            self.client.wait_synced(timeout=30)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("not ready any more", err)
        self.assertIn("stopping", err)
        self.assertFalse(os.path.exists(marker), "CMD was released on a node not ready")
        with open(self.report) as f:
            rep = json.loads(f.readline())
        self.assertEqual(rep["result"], "refused", rep)


class TestSteps(ArmTest):
    def stepped(self, env, state, delta, cmd, wait=3.0):
        """Arm CMD for T = now + wait (virtual), step the virtual clock by
        delta 1 s in; (real seconds it took, report, result)."""
        if os.path.exists(self.report):
            os.unlink(self.report)
        t0 = time.monotonic()
        p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--report", self.report,
                              "--at", "+%gs" % wait, "--arm", "--"] + cmd, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        subprocess.run([VCLOCK_CTL, "step", state, str(delta)], check=True)
        out, err = p.communicate(timeout=wait + 15)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, err)
        with open(self.report) as f:
            return took, json.loads(f.readline()), out, err

    def test_step_forward_during_the_wait_rearms(self):
        state, env = self.vclock()
        took, rep, _, err = self.stepped(env, state, 1, [LED_C, "0.2"])
        self.assertEqual(rep["result"], "started", rep)
        self.assertGreaterEqual(rep["clock_steps"], 1, err)  # the agent saw it
        self.assertGreaterEqual(rep["cmd_clock_steps"], 1, rep)  # so did the C gate
        self.assertRegex(err, r"stepped by \+(1\.0|0\.99)")
        self.assertGreaterEqual(rep["error_s"], 0.0)  # on the stepped (virtual) clock
        self.assertLess(rep["error_s"], 0.5)
        self.assertLess(took, 2.8, "released on the old clock, not the stepped one")

    def test_step_back_during_the_wait_rearms(self):
        state, env = self.vclock()
        took, rep, out, _ = self.stepped(env, state, -1, [sys.executable, self.probe, "0"])
        self.assertEqual(rep["result"], "started", rep)
        self.assertGreaterEqual(rep["error_s"], 0.0, "released before T on the stepped clock")
        self.assertLess(rep["error_s"], 0.5)
        self.assertGreaterEqual(float(out.split("=")[1]), 0.0)
        self.assertGreater(took, 3.5, "released on the old clock, not the stepped one")

    def test_frames_follow_a_step(self):
        # The Python frame clock under the virtual clock, stepped +0.5 s at
        # about 1 s: about 12 frames (of 24 fps) are skipped and counted,
        # every frame still lies on T + k / 24 of the stepped clock.
        state, env = self.vclock()
        log = os.path.join(self.tmp.name, "led.log")
        env["FLEETCLOCK_LED_LOG"] = log
        if os.path.exists(self.report):
            os.unlink(self.report)
        p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--report", self.report,
                              "--at", "+0.5s", "--arm", "--", sys.executable, LED_PY,
                              "--seconds", "3"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        subprocess.run([VCLOCK_CTL, "step", state, "0.5"], check=True)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        with open(self.report) as f:
            at_ns = json_ts_ns(json.loads(f.readline())["target"])
        with open(log) as f:
            frames = [tuple(int(x) for x in ln.split()) for ln in f]
        idx = [k for k, _, _ in frames]
        self.assertEqual(idx, sorted(set(idx)))
        skipped = int(out.split(",")[1].split()[0])
        self.assertGreaterEqual(skipped, 10, out)
        self.assertLessEqual(skipped, 16, out)
        self.assertEqual(len(idx) + skipped, 72, out)
        for k, _, rt in frames:
            self.assertGreaterEqual(rt - (at_ns + k * 10**9 // 24), 0, k)


class TestFrameClock(unittest.TestCase):
    """fleetclock.Frames with a scripted clock: no processes, no timing."""

    def run_frames(self, wakes, n, period=0.1, start=10**9):
        """Each sleep returns the next of wakes (offsets from its deadline,
        in ns); the clock reads the last wake-up."""
        t = {"now": start - 5 * 10**8}
        it = iter(wakes)

        def sleep_until(deadline):
            t["now"] = deadline + next(it, 0)
            return t["now"]
        fr = fleetclock.Frames(period, start, clock=lambda: t["now"], sleep_until=sleep_until)
        return [next(fr) for _ in range(n)], fr

    def test_absolute_instants(self):
        frames, fr = self.run_frames([], 5, period=1 / 24)
        self.assertEqual([f.index for f in frames], [0, 1, 2, 3, 4])
        self.assertEqual(fr.time_ns(24 * 3600), 10**9 + 3600 * 10**9)  # exact, no drift
        self.assertEqual(frames[3].at_ns, 10**9 + 125000000)

    def test_late_wake_skips_instead_of_drifting(self):
        # the wake-up of frame 1 comes 0.33 s late (descheduled, or a step
        # forward): more than period / 2 late, it is skipped, not shown late;
        # frames 1-3 cannot be made; frame 4 (1.4 s), only 30 ms past, can
        frames, fr = self.run_frames([0, 330000000, 0, 0], 3)
        self.assertEqual([f.index for f in frames], [0, 4, 5])
        self.assertEqual(fr.skipped, 3)
        self.assertEqual(frames[1].at_ns, 10**9 + 4 * 10**8)

    def test_slightly_late_is_kept(self):
        frames, fr = self.run_frames([0, 40000000, 0], 3)  # 40 ms < period / 2
        self.assertEqual([f.index for f in frames], [0, 1, 2])
        self.assertEqual(fr.skipped, 0)
        self.assertEqual(frames[1].late_ns, 40000000)

    def test_step_back_keeps_the_index(self):
        t = {"now": 10**9}

        def sleep_until(deadline):
            t["now"] = deadline
            return deadline
        fr = fleetclock.Frames(0.1, 10**9, clock=lambda: t["now"], sleep_until=sleep_until)
        self.assertEqual(next(fr).index, 0)
        t["now"] -= 10 * 10**9  # the clock stepped back 10 s
        f = next(fr)
        self.assertEqual((f.index, f.at_ns), (1, 10**9 + 10**8))
        self.assertEqual(fr.skipped, 0)

    def test_missing_and_bad_env(self):
        env = os.environ.pop("FLEETCLOCK_START_AT_NS", None)
        try:
            with self.assertRaisesRegex(fleetclock.StartError, "not set.*--arm"):
                fleetclock.start_at()
            os.environ["FLEETCLOCK_START_AT_NS"] = "12.5"
            with self.assertRaisesRegex(fleetclock.StartError, "nanoseconds"):
                fleetclock.start_at()
        finally:
            os.environ.pop("FLEETCLOCK_START_AT_NS", None)
            if env is not None:
                os.environ["FLEETCLOCK_START_AT_NS"] = env
        with self.assertRaises(ValueError):
            fleetclock.Frames(0, 10**9)


if __name__ == "__main__":
    import fctest
    fctest.main()
