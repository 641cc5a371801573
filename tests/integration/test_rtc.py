"""RTC discipline end to end: fleetclock-agent against the DS1307 emulator
(tests/emu/ds1307_emu.so, LD_PRELOAD) through the real libi2c path and the
emulated /dev/rtcN, with the emulator's state file as the oracle (decoded by
tests/emu/ds1307_state.py, independent of the C code), and real chronyd
instances (tests/harness) for the "synchronised?" checks.

Loopback addresses: 127.0.3.0/24. The real clock is never set: --hctosys
runs with --dry-run, or without CAP_SYS_TIME (setpriv), and the emulator
refuses clock_settime anyway.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

SOURCE = os.environ.get("FLEETCLOCK_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("FLEETCLOCK_BUILD", os.path.join(SOURCE, "build"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "emu"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "harness"))

import ds1307_state as emu  # noqa: E402

AGENT = os.path.join(BUILD, "agent", "fleetclock-agent")
SHIM = os.path.join(BUILD, "tests", "emu", "ds1307_emu.so")


# How far a read or a write may be from the emulator's true time: the agent's own
# thresholds ([check] rtc_max_offset_ms and the rewrite step, 5 ms). An RTC further off
# would fail --check or be rewritten at once; the edge-synchronised precision
# (typically well under 1 ms) is printed by the benchmark (tests/bench/bench_rtc.c).
RTC_MS = 5.0

class RtcCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fc-rtc-test-")
        self.state = os.path.join(self.dir, "ds1307.state")
        self.conf = os.path.join(self.dir, "agent.conf")
        self.rtc_json = os.path.join(self.dir, "rtc.json")
        self.configure()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def configure(self, device="/dev/i2c-1", threshold_ms=5, extra=""):
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s/none.sock\ntransport = unix\ntimeout_ms = 100\n"
                    "attempts = 1\n[rtc]\ndevice = %s\nstate_file = %s\nthreshold_ms = %s\n%s"
                    % (self.dir, device, self.rtc_json, threshold_ms, extra))

    def agent(self, *args, prefix=(), check=None):
        env = dict(os.environ, LD_PRELOAD=SHIM, DS1307_EMU_STATE=self.state)
        r = subprocess.run(list(prefix) + [AGENT, "-c", self.conf] + list(args), env=env,
                           capture_output=True, text=True, timeout=30)
        if check is not None:
            self.assertEqual(r.returncode, check, "%s: rc %d\nstdout:\n%s\nstderr:\n%s"
                             % (args, r.returncode, r.stdout, r.stderr))
        return r

    def agent_json(self, *args, check=0):
        r = self.agent(*args, "--json", check=check)
        return json.loads(r.stdout)

    def edge_error_ms(self, doc):
        """Measured offset minus the emulator's true offset at the edge."""
        st = emu.read(self.state)
        true = emu.true_offset(st, int(round(doc["edge_system_time"] * 1e9)))
        return doc["offset_ms"] - true * 1e3

    def set_error_ms(self):
        """Right after a write (ppm 0): the RTC minus true time."""
        return emu.true_offset(emu.read(self.state)) * 1e3

    def corrupt(self, fn):
        emu.update(self.state, fn)


class TestRead(RtcCase):
    def test_edge_read_within_the_rtc_threshold(self):
        emu.create(self.state, offset=0.3217, ppm=0)
        errors = []
        for _ in range(4):
            doc = self.agent_json("--rtc-show")
            self.assertTrue(doc["valid"])
            errors.append(self.edge_error_ms(doc))
            self.assertAlmostEqual(doc["offset_ms"], 321.7, delta=RTC_MS)
        self.assertLess(max(abs(e) for e in errors), RTC_MS, errors)

    def test_show_text_reads_like_a_tool(self):
        emu.create(self.state, offset=-0.0421)
        r = self.agent("--rtc-show", check=0)
        for word in ("DS1307 at 0x68 on /dev/i2c-1 (libi2c)", "24-hour mode, oscillator running",
                     "at the RTC's second edge", "ms (RTC behind", "Record", "never synchronised",
                     "Validity         valid"):
            self.assertIn(word, r.stdout)

    def test_12_hour_mode_read_and_rewritten_24h(self):
        emu.create(self.state, offset=0.5, mode_12h=True)
        doc = self.agent_json("--rtc-show")
        self.assertTrue(doc["mode_12h"])
        self.assertLess(abs(self.edge_error_ms(doc)), RTC_MS)
        self.agent("--systohc", "--force", check=0)
        regs = emu.read(self.state)["regs"]
        self.assertEqual(regs[2] & 0x40, 0, "hours register still in 12-hour mode")
        self.assertFalse(self.agent_json("--rtc-show")["mode_12h"])


class TestSet(RtcCase):
    def test_set_at_boundary_within_the_rtc_threshold(self):
        for off in (-3.2, 7200.77):
            emu.create(self.state, offset=off, ppm=0)
            doc = self.agent_json("--systohc", "--force")
            self.assertTrue(doc["wrote"])
            err = self.set_error_ms()
            self.assertLess(abs(err), RTC_MS, "set error %.3f ms" % err)
            self.assertLess(abs(doc["verify_offset_ms"]), RTC_MS)
            # The write restarted a running oscillator with CH clear.
            self.assertEqual(emu.read(self.state)["regs"][0] & 0x80, 0)

    def test_systohc_restarts_a_halted_clock(self):
        emu.create(self.state, offset=0, halted=True)
        self.agent("--rtc-show", check=1)
        self.agent("--systohc", "--force", check=0)
        self.assertLess(abs(self.set_error_ms()), RTC_MS)
        rec = self.agent_json("--rtc-show")["record"]
        self.assertEqual(rec["state"], "valid")
        self.assertEqual(rec["source"], "NVRAM")

    def test_systohc_refuses_without_chronyd(self):
        emu.create(self.state, offset=2.0)
        r = self.agent("--systohc", check=2)
        self.assertIn("refusing to write the RTC", r.stderr)
        self.assertIn("none.sock", r.stderr)
        self.assertAlmostEqual(emu.true_offset(emu.read(self.state)), 2.0, delta=0.01)

    def test_year_outside_chip_range_refused(self):
        # The (virtual) system clock says 2100: the DS1307 cannot hold it.
        emu.create(self.state, offset=0)
        emu.skip(self.state, 4102444800 + 30 - time.time())
        r = self.agent("--systohc", "--force", check=1)
        self.assertIn("outside 2000-2099", r.stderr)


class TestDrift(RtcCase):
    def steps(self, n, gap_s):
        docs = []
        for i in range(n):
            if i:
                emu.skip(self.state, gap_s)
            docs.append(self.agent_json("--rtc-step", "--force"))
        return docs

    def test_drift_200ppm_within_10_percent_after_60s(self):
        self.configure(threshold_ms=1000)
        emu.create(self.state, offset=0.0123, ppm=200)
        docs = self.steps(7, 10.0)
        last = docs[-1]
        # 60 s of samples (one may be dropped as an outlier)
        self.assertGreaterEqual(last["drift_span_s"], 50)
        self.assertLess(abs(last["drift_ppm"] - 200), 20, last)
        self.assertTrue(all(d["action"] == "keep" for d in docs))
        self.assertTrue(last["record"]["drift_valid"])

    def test_rewrite_past_threshold_keeps_drift(self):
        emu.create(self.state, offset=0.0, ppm=200)
        docs = self.steps(9, 10.0)
        rewrites = [d for d in docs if d["action"] == "rewrite"]
        self.assertTrue(rewrites, [d["action"] for d in docs])
        for d in docs:
            self.assertEqual(d["action"] == "rewrite", abs(d["offset_ms"]) > 5, d)
        for d in rewrites:
            self.assertTrue(d["wrote"])
            self.assertLess(abs(d["verify_offset_ms"]), RTC_MS)
        self.assertLess(abs(docs[-1]["drift_ppm"] - 200), 20, docs[-1])

    def test_hctosys_dry_run_after_power_off_corrects_drift(self):
        self.configure(threshold_ms=1000)
        emu.create(self.state, offset=0.0, ppm=200)
        self.agent("--systohc", "--force", check=0)
        self.steps(7, 10.0)
        # Power off for an hour: the RTC gains 0.72 s.
        emu.skip(self.state, 3600)
        raw = emu.true_offset(emu.read(self.state))
        self.assertGreater(raw, 0.7)
        doc = self.agent_json("--hctosys", "--dry-run")
        self.assertTrue(doc["drift_used"])
        self.assertFalse(doc["set"])
        # Under the emulator the (virtual) system clock is the truth: the
        # clock would be set within a few ms of it, not 0.72 s off.
        self.assertLess(abs(doc["step_s"]), 0.03, doc)
        self.assertAlmostEqual(doc["correction_s"], -raw, delta=0.03)
        r = self.agent("--hctosys", "--dry-run", check=0)
        self.assertIn("drift taken out", r.stdout)
        self.assertIn("Would set clock", r.stdout)


class TestHctosysSafety(RtcCase):
    def synced_state(self):
        emu.create(self.state, offset=0.0)
        self.agent("--systohc", "--force", check=0)

    def test_needs_cap_sys_time(self):
        self.synced_state()
        r = self.agent("--hctosys", prefix=["setpriv", "--bounding-set", "-sys_time"], check=2)
        self.assertIn("needs CAP_SYS_TIME", r.stderr)
        self.assertNotIn("ds1307_emu: refusing", r.stderr)

    def test_refuses_halted_rtc(self):
        self.synced_state()
        self.corrupt(lambda st: st["regs"].__setitem__(0, st["regs"][0] | 0x80))
        r = self.agent("--hctosys", "--dry-run", check=1)
        self.assertIn("refusing", r.stderr)
        self.assertIn("CH", r.stderr)
        self.assertIn("left alone", r.stderr)

    def test_refusal_is_remembered_for_the_clock_class(self):
        self.synced_state()
        self.corrupt(lambda st: st["regs"].__setitem__(0, st["regs"][0] | 0x80))
        self.agent("--hctosys", check=1)
        with open(self.rtc_json) as f:
            boot = json.load(f)["boot"]
        self.assertEqual(boot["state"], "refused")
        self.assertIn("clock halted", boot["why"])

    def test_refuses_without_record(self):
        emu.create(self.state, offset=0.0)
        r = self.agent("--hctosys", "--dry-run", check=1)
        self.assertIn("no valid record", r.stderr)
        self.assertIn("never synchronised", r.stderr)

    def test_refuses_corrupt_record(self):
        self.synced_state()
        self.corrupt(lambda st: st["regs"].__setitem__(0x08 + 20, st["regs"][0x08 + 20] ^ 0x10))
        r = self.agent("--hctosys", "--dry-run", check=1)
        self.assertIn("corrupt", r.stderr)
        show = self.agent("--rtc-show", check=0)
        self.assertIn("UNUSABLE (record corrupt: CRC-32", show.stdout)

    def test_refuses_rtc_before_last_write(self):
        self.synced_state()
        # Battery swapped: the chip restarted at 2001 though it was set in 2026.
        self.corrupt(lambda st: st["regs"].__setitem__(6, 0x01))
        r = self.agent("--hctosys", "--dry-run", check=1)
        self.assertIn("before this program was built", r.stderr)


class TestHctosysOnVirtualClock(RtcCase):
    """The real --hctosys path, setting a node's VIRTUAL clock: the agent
    runs under the fleet simulator's clock preload (first, so it answers
    clock_settime) and the DS1307 emulator (second, on the host's real
    time = the truth). Without the clock preload the emulator refuses
    clock_settime, and without the emulator there is no RTC: the machine's
    real clock cannot be set either way."""

    VCLOCK = os.path.join(BUILD, "tests", "sim", "libfleetclock-vclock.so")
    VCTL = os.path.join(BUILD, "tests", "sim", "fleetclock-vclock")

    def vctl(self, *args):
        r = subprocess.run([self.VCTL] + list(args), capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_restores_a_node_17_minutes_wrong(self):
        if not (os.path.exists(self.VCLOCK) and os.path.exists(self.VCTL)):
            self.skipTest("virtual clock preload not built")
        emu.create(self.state, offset=0.0)
        self.agent("--systohc", "--force", check=0)       # synchronised write, record
        vstate = os.path.join(self.dir, "vclock.state")
        self.vctl("create", vstate, "-1020")               # the node's clock: 17 min behind
        self.assertAlmostEqual(float(self.vctl("error", vstate)), -1020, delta=1)
        env = dict(os.environ, LD_PRELOAD=self.VCLOCK + " " + SHIM, DS1307_EMU_STATE=self.state,
                   FLEETCLOCK_VCLOCK_STATE=vstate)
        r = subprocess.run([AGENT, "-c", self.conf, "--hctosys"], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("System clock set", r.stdout)
        self.assertRegex(r.stdout, r"step \+1020\.\d+s")
        err = float(self.vctl("error", vstate))
        self.assertLess(abs(err), RTC_MS / 1e3, "node clock %.6f s off after --hctosys" % err)
        with open(self.rtc_json) as f:
            self.assertEqual(json.load(f)["boot"]["state"], "restored-no-drift")


class TestFaults(RtcCase):
    def expect(self, args, rc, *words):
        r = self.agent(*args, check=rc)
        for w in words:
            self.assertIn(w, r.stderr + r.stdout)
        return r

    def test_injected_faults(self):
        cases = [
            (dict(fault="eio", fault_after=1), ["--rtc-show"], 1,
             ["/dev/i2c-1", "Input/output error", "transfer failed"]),
            (dict(fault="eio", fault_after=60), ["--rtc-show"], 1,
             ["/dev/i2c-1", "reading the seconds register", "Input/output error"]),
            (dict(fault="nack"), ["--rtc-show"], 2, ["no acknowledge from 0x68"]),
            (dict(fault="timeout", fault_after=1), ["--rtc-show"], 1, ["bus timeout"]),
            (dict(fault="ebusy"), ["--rtc-show"], 2,
             ["in use by a kernel driver", "use rtc = /dev/rtcN"]),
            (dict(halted=True), ["--rtc-show"], 1, ["clock halted", "CH bit"]),
        ]
        for kw, args, rc, words in cases:
            with self.subTest(**{k: str(v) for k, v in kw.items()}):
                emu.create(self.state, offset=0.1, **kw)
                self.expect(args, rc, *words)

    def test_garbage_bcd(self):
        for reg, val, word in ((0, 0x5A, "register 0x00 (seconds)"), (4, 0x32, "register 0x04 (date)"),
                               (5, 0x13, "register 0x05 (month)"), (2, 0x24, "register 0x02 (hours)")):
            with self.subTest(reg=reg):
                emu.create(self.state, offset=0.1)
                self.corrupt(lambda st: st["regs"].__setitem__(reg, val))
                r = self.expect(["--rtc-show"], 1, word, "INVALID")
                self.assertIn("DS1307 time invalid", r.stderr)

    def test_missing_device(self):
        emu.create(self.state, offset=0.1)
        self.configure(device="/dev/i2c-7")
        self.expect(["--rtc-show"], 2, "/dev/i2c-7", "No such file or directory", "no such I2C bus")
        doc = json.loads(self.agent("--rtc-show", "--json", check=2).stdout)
        self.assertFalse(doc["valid"])
        self.assertIn("No such file or directory", doc["error"])
        self.configure(device="none")
        self.expect(["--rtc-show"], 2, "rtc = none")

    def test_step_reports_fault_and_keeps_state(self):
        emu.create(self.state, offset=0.1, fault="eio", fault_after=20)
        doc = self.agent_json("--rtc-step", "--force", check=1)
        self.assertEqual(doc["action"], "fault")
        self.assertIn("Input/output error", doc["error"])
        self.assertFalse(doc["wrote"])


class TestKernelRtc(RtcCase):
    def test_driver_bound(self):
        emu.create(self.state, offset=-0.25, driver=1)
        self.expect_busy()
        self.configure(device="/dev/rtc0")
        doc = self.agent_json("--rtc-show")
        self.assertEqual(doc["kind"], "linux")
        self.assertLess(abs(self.edge_error_ms(doc)), RTC_MS)
        self.assertEqual(doc["record"]["source"], "state file")
        doc = self.agent_json("--systohc", "--force")
        self.assertLess(abs(self.set_error_ms()), RTC_MS)
        with open(self.rtc_json) as f:
            self.assertIn("record", json.load(f))
        doc = self.agent_json("--rtc-show")
        self.assertEqual(doc["record"]["state"], "valid")
        self.agent_json("--hctosys", "--dry-run")

    def expect_busy(self):
        r = self.agent("--rtc-show", check=2)
        self.assertIn("in use by a kernel driver", r.stderr)

    def test_auto_probe(self):
        emu.create(self.state, offset=0.0, driver=1)
        self.configure(device="auto")
        self.assertEqual(self.agent_json("--rtc-show")["device"], "/dev/rtc0")
        emu.create(self.state, offset=0.0, driver=0)
        self.assertEqual(self.agent_json("--rtc-show")["device"], "/dev/i2c-1")

    def test_rtc_device_halted(self):
        emu.create(self.state, offset=0.0, driver=1, halted=True)
        self.configure(device="/dev/rtc0")
        r = self.agent("--rtc-show", check=1)
        self.assertIn("RTC_RD_TIME", r.stderr)
        self.assertIn("invalid", r.stderr)


class TestEmulator(RtcCase):
    """The emulator itself, through i2c-tools (an independent client)."""

    def tool(self, *args):
        if not shutil.which(args[0]):
            self.skipTest("%s not installed (i2c-tools)" % args[0])
        env = dict(os.environ, LD_PRELOAD=SHIM, DS1307_EMU_STATE=self.state)
        r = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_rdwr_pointer_wraps_0x3f_to_0x00(self):
        emu.create(self.state, offset=0.0)
        self.tool("i2cset", "-y", "1", "0x68", "0x3e", "0xab", "b")
        self.tool("i2cset", "-y", "1", "0x68", "0x3f", "0xcd", "b")
        out = self.tool("i2ctransfer", "-y", "1", "w1@0x68", "0x3e", "r4").split()
        regs = emu.read(self.state)["regs"]
        self.assertEqual(out[0:2], ["0xab", "0xcd"])
        # After 0x3F the pointer wraps to the seconds and minutes.
        self.assertEqual(int(out[3], 16), regs[1])
        self.assertEqual(int(out[2], 16) & 0x80, 0)

    def test_seconds_write_resets_divider(self):
        emu.create(self.state, offset=0.6)
        self.tool("i2cset", "-y", "1", "0x68", "0x00", "0x30", "b")
        st = emu.read(self.state)
        self.assertEqual(st["phase_ns"], 0)
        self.assertEqual(st["regs"][0], 0x30)

    def test_transfer_takes_bus_time(self):
        emu.create(self.state, offset=0.0)
        t0 = time.monotonic()
        self.tool("i2ctransfer", "-y", "1", "w1@0x68", "0x08", "r32")
        # 35 bytes at 100 kHz: 3.2 ms at least (an upper bound would be a timing assertion)
        self.assertGreater(time.monotonic() - t0, 0.0032)


class TestWithChronyd(RtcCase):
    """--systohc and the discipline step ask a real chronyd."""

    def configure_socket(self, sock, threshold_ms=5):
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\n[rtc]\ndevice = /dev/i2c-1\n"
                    "state_file = %s\nthreshold_ms = %s\n" % (sock, self.rtc_json, threshold_ms))

    def test_unsynchronised_refused_synchronised_written(self):
        from chronyd_harness import ChronyInstance
        emu.create(self.state, offset=1.5)
        with ChronyInstance("rtc-lonely", "127.0.3.9", serve=False) as lonely:
            self.configure_socket(lonely.socket)
            r = self.agent("--systohc", check=1)
            self.assertIn("not synchronised", r.stderr)
            doc = self.agent_json("--rtc-step")
            self.assertEqual(doc["action"], "keep")
            self.assertFalse(doc["sampled"])
        self.assertAlmostEqual(emu.true_offset(emu.read(self.state)), 1.5, delta=0.01)
        with ChronyInstance("rtc-srv", "127.0.3.1", local_stratum=8) as srv, \
                ChronyInstance("rtc-cli", "127.0.3.2", servers=[srv.addr], serve=False) as cli:
            cli.wait_synced()
            self.configure_socket(cli.socket)
            doc = self.agent_json("--rtc-step")
            self.assertEqual(doc["action"], "rewrite")
            self.assertLess(abs(self.set_error_ms()), RTC_MS)
            self.agent("--systohc", check=0)


if __name__ == "__main__":
    for p in (AGENT, SHIM):
        if not os.path.exists(p):
            sys.exit("%s missing: build first" % p)
    import fctest
    fctest.main()
