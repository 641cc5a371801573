#!/usr/bin/env python3
"""Integration tests of `fleetclock-agent --at TIME -- CMD` and --wait-until.

The started program is tests/bench/at_probe, which reads CLOCK_REALTIME
first thing and prints start - target and its PID. Start errors are asserted
loosely (0 <= error <= 50 ms): precision is the benchmark's business.
Readiness gating runs against real chronyd instances on 127.0.8.0/24.
Clock steps during the wait are made with libfaketime (a step back) and,
when it is built, the fleet simulator's virtual clock (both directions).
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
AGENT = os.path.join(BUILD, "agent", "fleetclock-agent")
PROBE = os.path.join(BUILD, "tests", "bench", "at_probe")
VCLOCK_LIB = os.environ.get("FLEETCLOCK_VCLOCK_LIB",
                            os.path.join(BUILD, "tests", "sim", "libfleetclock-vclock.so"))
VCLOCK_CTL = os.environ.get("FLEETCLOCK_VCLOCK_CTL",
                            os.path.join(BUILD, "tests", "sim", "fleetclock-vclock"))
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
NET = "127.0.8."
TOLERANCE = 0.050  # s: loose on purpose, see the module docstring

sys.path.insert(0, os.path.join(os.environ.get("FLEETCLOCK_SOURCE", "."), "tests", "harness"))


def epoch(offset):
    """A target `offset` seconds from now, as epoch seconds text."""
    return "%.6f" % (time.time() + offset)


def probe_error(stdout):
    """(error_s, pid) from at_probe's output."""
    fields = dict(kv.split("=") for kv in stdout.split())
    return float(fields["error_s"]), int(fields["pid"])


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="fc-test-at-")
        self.conf = os.path.join(self.tmp.name, "agent.conf")
        self.write_conf()

    def tearDown(self):
        self.tmp.cleanup()

    def write_conf(self, budget_ms=5, late_tolerance_ms=50):
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 200\n"
                    "[agent]\nbudget_ms = %g\nlate_tolerance_ms = %g\n"
                    # a freshly synchronised chronyd's skew estimate is still wide
                    "[check]\nmax_skew_ppm = 100000\n"
                    % (os.path.join(self.tmp.name, "no-chronyd.sock"), budget_ms,
                       late_tolerance_ms))

    def assert_on_time(self, attempt, tries=3):
        """attempt() starts something at a target and returns (start error,
        stderr). Never early, in any try; within TOLERANCE in at least one
        of `tries` (this machine is shared: one start may be descheduled,
        a systematic lateness fails every try)."""
        errors = []
        for _ in range(tries):
            error, err = attempt()
            self.assertGreaterEqual(error, 0.0, "started before TIME: %s" % err)
            errors.append(error)
            if error <= TOLERANCE:
                return err
        self.fail("start errors %s all above %.3f s: %s" % (errors, TOLERANCE, err))

    def skip_unless_preload_works(self):
        ldd = subprocess.run(["ldd", AGENT], capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("an ASan build cannot run under an LD_PRELOAD library")

    def agent(self, *args, env=None, timeout=20):
        return subprocess.run([AGENT, "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=timeout, env=env)


class TestStart(AgentTest):
    def test_starts_on_time_in_place(self):
        def attempt():
            t = epoch(0.4)
            p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--at", t, "--", PROBE, t],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, err)
            error, pid = probe_error(out)
            self.assertEqual(pid, p.pid, "CMD must replace the agent (same PID)")
            return error, err
        self.assert_on_time(attempt)

    def test_every_time_form(self):
        # :SS is left out: it waits up to two minutes.
        def iso(t):
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % (
                (t % 1) * 1e6)
        forms = (lambda t: iso(t), lambda t: "%.3f" % t, lambda t: "@%.3f" % t,
                 lambda t: "+0.5s", lambda t: "+500ms")
        for form in forms:
            t0 = time.time()
            text = form(t0 + 0.5)
            r = self.agent("--force", "--at", text, "--", "true")
            self.assertEqual(r.returncode, 0, "%s: %s" % (text, r.stderr))
            self.assertGreaterEqual(time.time() - t0, 0.45, "%s: did not wait" % text)

    def test_next_minute_form_under_faketime(self):
        # ":00" at a faked 20:00:58.5 is 20:01:00, 1.5 s away. (FAKETIME "@"
        # restarts the fake clock in every new process, so the agent's own
        # report is the witness here, not at_probe.)
        if not os.path.exists(FAKETIME_LIB):
            self.skipTest("libfaketime missing")
        self.skip_unless_preload_works()
        env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME="@2026-11-21 20:00:58.5",
                   TZ="UTC", FAKETIME_DONT_FAKE_MONOTONIC="1")
        report = os.path.join(self.tmp.name, "r.jsonl")

        def attempt():
            if os.path.exists(report):
                os.unlink(report)
            t0 = time.monotonic()
            r = subprocess.run([AGENT, "-c", self.conf, "--force", "--report", report, "--at",
                                ":00", "--", "true"], capture_output=True, text=True,
                               timeout=10, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreater(time.monotonic() - t0, 1.0, "did not wait for :00")
            with open(report) as f:
                line = json.loads(f.readline())
            self.assertEqual(line["target"], "2026-11-21T20:01:00.000000000Z")
            return line["error_s"], r.stderr
        self.assert_on_time(attempt)

    def test_rt_is_inherited_by_cmd_and_undone_after_wait_until(self):
        r = self.agent("--force", "--rt", "--at", "+0.1s", "--", "chrt", "-p", "0")
        if r.returncode != 0 and "CAP_SYS_NICE" in r.stderr:
            self.skipTest("SCHED_FIFO not permitted here")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("SCHED_FIFO", r.stdout)
        self.assertRegex(r.stdout, r"priority: 50")
        r = subprocess.run(["sh", "-c", '"$0" -c "$1" --force --rt --wait-until +0.1s && '
                            'chrt -p $$', AGENT, self.conf], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("SCHED_FIFO", r.stdout)

    def test_exit_code_passes_through(self):
        r = self.agent("--force", "--at", "+0.1s", "--", "sh", "-c", "exit 7")
        self.assertEqual(r.returncode, 7, r.stderr)

    def test_signal_from_outside_reaches_cmd(self):
        p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--at", "+0.1s", "--",
                              "sleep", "10"], stderr=subprocess.PIPE, text=True)
        time.sleep(0.6)  # CMD (same PID) is running by now
        with open("/proc/%d/comm" % p.pid) as f:
            self.assertEqual(f.read().strip(), "sleep")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=5)
        self.assertEqual(p.returncode, -signal.SIGTERM)

    def test_cmd_killed_by_signal_is_seen(self):
        r = self.agent("--force", "--at", "+0.1s", "--", "sh", "-c", "kill -USR1 $$")
        self.assertEqual(r.returncode, -signal.SIGUSR1)

    def test_missing_command_fails_before_waiting(self):
        t0 = time.time()
        r = self.agent("--force", "--at", "+3s", "--", "no-such-command-fleetclock")
        self.assertEqual(r.returncode, 127)
        self.assertIn("command not found", r.stderr)
        self.assertLess(time.time() - t0, 2.8, "waited before noticing")  # TIME is +3 s
        plain = os.path.join(self.tmp.name, "not-executable")
        open(plain, "w").close()
        r = self.agent("--force", "--at", "+3s", "--", plain)
        self.assertEqual(r.returncode, 126, r.stderr)

    def test_wait_until(self):
        t = time.time() + 0.4
        r = self.agent("--force", "--wait-until", "%.6f" % t)
        done = time.time()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(done, t)
        self.assertLessEqual(done - t, 0.5)  # includes process exit and Python


class TestRefusals(AgentTest):
    def test_time_in_the_past(self):
        r = self.agent("--force", "--at", epoch(-2.5), "--", "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn("in the past", r.stderr)
        self.assertRegex(r.stderr, r" 2\.[45]\d* s in the past")
        r = self.agent("--force", "--late-ok", "--at", epoch(-2.5), "--", "sh", "-c", "exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_within_tolerance_starts_at_once(self):
        self.write_conf(late_tolerance_ms=2000)
        r = self.agent("--force", "--at", epoch(-1), "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_time_and_usage(self):
        cases = [
            (["--at", "tomorrow", "--", "true"], "TIME 'tomorrow'"),
            (["--at", "2026-11-21T20:00:10", "--", "true"], "no time zone"),
            (["--at", "+10s"], "needs a command"),
            (["--wait-until", "+1s", "--", "true"], "takes no command"),
            (["--at", "+1s", "--wait-until", "+1s"], "choose one action"),
            (["--at", "+8d", "--", "true"], "unknown unit"),
            (["--at", "+200h", "--", "true"], "more than 7 days ahead"),
        ]
        for args, msg in cases:
            r = self.agent("--force", *args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertIn(msg, r.stderr, args)

    def test_rt_without_permission_is_a_clear_error(self):
        if not os.path.exists("/usr/bin/setpriv"):
            self.skipTest("setpriv missing")
        r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-sys_nice,-ipc_lock",
                            AGENT, "-c", self.conf, "--force", "--rt", "--at", "+0.2s", "--",
                            "true"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("CAP_SYS_NICE", r.stderr)

    def test_chronyd_not_running_is_not_ready(self):
        # As --check: chronyd not running is a verdict (exit 1), naming the socket.
        r = self.agent("--at", "+0.5s", "--", "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not ready: chronyd: ", r.stderr)
        self.assertIn("no-chronyd.sock", r.stderr)


class TestReport(AgentTest):
    def test_report_lines(self):
        report = os.path.join(self.tmp.name, "report.jsonl")
        t = epoch(0.3)
        r = self.agent("--force", "--report", report, "--at", t, "--", PROBE, t)
        self.assertEqual(r.returncode, 0, r.stderr)
        probe_err, _ = probe_error(r.stdout)
        r = self.agent("--force", "--report", report, "--at", epoch(-5), "--", "true")
        self.assertEqual(r.returncode, 1)
        with open(report) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(len(lines), 2)
        ok, refused = lines
        self.assertEqual(ok["result"], "started")
        self.assertEqual(ok["time"], t)
        self.assertEqual(ok["command"], [PROBE, t])
        self.assertTrue(ok["forced"])
        self.assertIsNone(ok["chrony_max_error_s"])  # no chronyd here
        self.assertGreaterEqual(ok["error_s"], 0.0)
        self.assertLessEqual(ok["error_s"], probe_err)  # measured before exec
        start = ok["start"]
        self.assertRegex(start, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.assertEqual(refused["result"], "refused")
        self.assertIn("in the past", refused["reason"])
        self.assertIsNone(refused["start"])

    def test_report_unwritable_fails_before_waiting(self):
        r = self.agent("--force", "--report", "/nonexistent-dir/r.jsonl", "--at", "+5s", "--",
                       "true", timeout=3)
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent-dir/r.jsonl", r.stderr)


class TestGate(AgentTest):
    """Readiness against real chronyd instances."""

    @classmethod
    def setUpClass(cls):
        from chronyd_harness import ChronyInstance
        cls.server = ChronyInstance("at-server", NET + "1", local_stratum=8).start()
        cls.synced = ChronyInstance("at-synced", NET + "2", servers=[NET + "1"],
                                    serve=False).start()
        cls.unsynced = ChronyInstance("at-unsynced", NET + "3", serve=False).start()
        cls.synced.wait_synced(timeout=30)

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.server, cls.synced, cls.unsynced):
            inst.stop()

    def test_unsynchronised_is_refused(self):
        report = os.path.join(self.tmp.name, "r.jsonl")
        t0 = time.time()
        r = self.agent("--socket", self.unsynced.socket, "--report", report, "--at", "+3s", "--",
                       "true")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not synchronised", r.stderr)
        self.assertLess(time.time() - t0, 2.8, "refused only after waiting")  # TIME is +3 s
        with open(report) as f:
            line = json.loads(f.readline())
        self.assertEqual(line["result"], "refused")
        self.assertFalse(line["chrony_synchronised"])
        r = self.agent("--socket", self.unsynced.socket, "--force", "--at", "+0.2s", "--",
                       "true")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_synchronised_starts_and_reports_the_bound(self):
        self.write_conf(budget_ms=1000)
        report = os.path.join(self.tmp.name, "r.jsonl")

        def attempt():
            t = epoch(0.5)
            r = self.agent("--socket", self.synced.socket, "--report", report, "--at", t, "--",
                           PROBE, t)
            self.assertEqual(r.returncode, 0, r.stderr)
            return probe_error(r.stdout)[0], r.stderr
        self.assert_on_time(attempt)
        with open(report) as f:
            line = json.loads(f.readline())
        self.assertEqual(line["result"], "started")
        self.assertTrue(line["chrony_synchronised"])
        self.assertGreater(line["chrony_max_error_s"], 0.0)
        self.assertLess(line["chrony_max_error_s"], 1.0)

    def test_long_wait_rereads_the_bound_before_time(self):
        self.write_conf(budget_ms=1000)
        report = os.path.join(self.tmp.name, "r.jsonl")
        target = time.time() + 5
        r = self.agent("--socket", self.synced.socket, "--report", report, "--at",
                       "%.6f" % target, "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(report) as f:
            line = json.loads(f.readline())
        stamp = line["chrony_read_at"]  # 2026-11-21T20:00:10.123456789Z
        read_at = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(
            "0" + stamp[19:-1])
        self.assertGreater(read_at, target - 3.0, "bound not re-read shortly before TIME")
        self.assertLess(read_at, target)

    def test_chronyd_gone_during_the_wait_keeps_the_earlier_bound(self):
        from chronyd_harness import ChronyInstance
        report = os.path.join(self.tmp.name, "r.jsonl")
        with ChronyInstance("at-gone", NET + "4", serve=False) as gone:
            p = subprocess.Popen([AGENT, "-c", self.conf, "--socket", gone.socket, "--force",
                                  "--report", report, "--at", "+4.5s", "--", "true"],
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(1.0)
            gone.stop()
            _, err = p.communicate(timeout=15)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("keeping the earlier bound", err)
        with open(report) as f:
            line = json.loads(f.readline())
        self.assertEqual(line["result"], "started")
        self.assertIsNotNone(line["chrony_max_error_s"])

    def test_over_budget_is_refused(self):
        self.write_conf(budget_ms=0.001)  # 1 us: the smallest allowed
        r = self.agent("--socket", self.synced.socket, "--at", "+0.5s", "--", "true")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not ready: max error: ", r.stderr)


class TestClockStep(AgentTest):
    """A step during the wait must re-arm on the new clock and be logged."""

    def setUp(self):
        super().setUp()
        self.skip_unless_preload_works()

    def run_stepped(self, env, step_cmd, lead=2.0):
        t = epoch(lead)
        p = subprocess.Popen([AGENT, "-c", self.conf, "--force", "--at", t, "--", PROBE, t],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, **env))
        time.sleep(lead / 3)
        step_cmd()
        out, err = p.communicate(timeout=lead + 10)
        self.assertEqual(p.returncode, 0, err)
        return probe_error(out)[0], err

    def test_step_back_under_faketime(self):
        # libfaketime converts an absolute deadline once, when the sleep
        # starts; the agent must notice it woke early and wait again.
        if not os.path.exists(FAKETIME_LIB):
            self.skipTest("libfaketime missing")
        spec = os.path.join(self.tmp.name, "faketime")

        def step():
            with open(spec, "w") as f:
                f.write("-1\n")

        def attempt():
            with open(spec, "w") as f:
                f.write("+0\n")
            return self.run_stepped({"LD_PRELOAD": FAKETIME_LIB,
                                     "FAKETIME_TIMESTAMP_FILE": spec,
                                     "FAKETIME_NO_CACHE": "1",
                                     "FAKETIME_DONT_FAKE_MONOTONIC": "1"}, step)
        err = self.assert_on_time(attempt)
        self.assertRegex(err, r"stepped by -(1\.0|0\.99)")

    def vclock(self):
        if not (os.path.exists(VCLOCK_LIB) and os.path.exists(VCLOCK_CTL)):
            self.skipTest("fleet simulator's virtual clock not built (tests/sim)")
        state = os.path.join(self.tmp.name, "vclock")
        if os.path.exists(state):
            os.unlink(state)
        subprocess.run([VCLOCK_CTL, "create", state, "0"], check=True)
        return state, {"LD_PRELOAD": os.path.abspath(VCLOCK_LIB),
                       "FLEETCLOCK_VCLOCK_STATE": state}

    def test_step_forward_virtual_clock(self):
        def attempt():
            state, env = self.vclock()
            return self.run_stepped(
                env, lambda: subprocess.run([VCLOCK_CTL, "step", state, "1"], check=True))
        err = self.assert_on_time(attempt)
        self.assertRegex(err, r"stepped by \+(1\.0|0\.99)")

    def test_step_back_virtual_clock(self):
        def attempt():
            state, env = self.vclock()
            return self.run_stepped(
                env, lambda: subprocess.run([VCLOCK_CTL, "step", state, "-1"], check=True))
        err = self.assert_on_time(attempt)
        self.assertRegex(err, r"stepped by -(1\.0|0\.99)")


if __name__ == "__main__":
    import fctest
    fctest.main()
