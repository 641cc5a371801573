#!/usr/bin/env python3
"""Integration tests of the virtual clock with real processes and a real,
unmodified chronyd (tests/sim/vclock.c, issue 6):
- a node at +17 min / +100 ppm is measured so by a client chronyd;
- chronyd slews a 10 ms error at its slew rate, not at once;
- an ADJ_SETOFFSET step moves every process of the node;
- two nodes stay independent;
- clock_nanosleep(TIMER_ABSTIME) and timerfds wake at the virtual instant,
  and TFD_TIMER_CANCEL_ON_SET reports ECANCELED on a virtual step;
- the harness reports processes that escaped the virtual clock.
"""
import os
import select
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simnode  # noqa: E402
from simnode import SimNode, VClock, node_env, sim_addr  # noqa: E402

# A preloaded process's reading of the node's clock against ours, through a pipe and
# a loaded scheduler: the offsets tested are 2.5 s and more, a quarter second apart
# is still unmistakable (the clocks' own agreement is exact: true_error()).
READ_S = 0.25

# A small program run ON a node's clock: answers "t" with its time.time()
# and "r" with the real time it cannot see directly (via the state file it
# does not read: so it only prints what the preload gives it).
PROBE = r"""
import sys, time
for line in sys.stdin:
    print(repr(time.time()), flush=True)
"""

CLIB = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)   # global scope: the preload first
class ts(ctypes.Structure):
    _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
class its(ctypes.Structure):
    _fields_ = [("interval", ts), ("value", ts)]
def now():
    t = ts(); libc.clock_gettime(0, ctypes.byref(t)); return t.s + t.ns / 1e9
"""


class NodeTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="fleetclock-vclock-")
        self.nodes = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
            for f in (p.stdin, p.stdout):
                if f:
                    f.close()
        for n in self.nodes:
            n.stop()
            n.cleanup()
        os.rmdir(self.work) if os.path.isdir(self.work) and not os.listdir(self.work) else None

    def node(self, name, addr, **kw):
        n = SimNode(name, addr, self.work, **kw)
        self.nodes.append(n)
        return n

    def clock(self, name, offset=0.0, drift=0.0):
        c = VClock(os.path.join(self.work, name + ".state"))
        c.create(offset, drift)
        return c

    def on_clock(self, clock, code, **kw):
        p = subprocess.Popen([sys.executable, "-c", code], env=node_env(clock.path),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def ask(self, p):
        p.stdin.write("t\n")
        p.stdin.flush()
        return float(p.stdout.readline())

    # ------------------------------------------------------------------
    def test_offset_and_drift_seen_by_client(self):
        srv = self.node("srv", sim_addr(0, 10), serve=True, local_stratum=1, offset=17 * 60,
                        drift=100.0)
        cli = self.node("cli", sim_addr(0, 11), servers=[(sim_addr(0, 10), 123, "noselect")],
                        log=("rawmeasurements", "statistics"))
        srv.start().wait_ready()
        cli.start().wait_ready()
        time.sleep(10)
        want = srv.clock.true_error() - cli.clock.true_error()
        meas = [ln.split() for ln in open(os.path.join(cli.dir, "log", "measurements.log"))
                if ln.startswith("20")]
        self.assertGreater(len(meas), 5, "client chronyd made too few measurements")
        # socket timestamping refused: chronyd timestamped both ends itself ("D D"),
        # never with the kernel's real-time stamps ("K")
        self.assertEqual({tuple(m[-2:]) for m in meas}, {("D", "D")})
        # measurements.log: offset column, positive = local clock slow
        last = float(meas[-1][11])
        self.assertAlmostEqual(last, want, delta=2e-3)
        self.assertAlmostEqual(want, 1020.0, delta=0.05)
        stats = [ln.split() for ln in open(os.path.join(cli.dir, "log", "statistics.log"))
                 if ln.startswith("20")]
        est_offset, diff_freq, skew = float(stats[-1][4]), float(stats[-1][6]), float(stats[-1][7])
        self.assertAlmostEqual(abs(est_offset), 1020.0, delta=0.05)
        # +100 ppm of the server, as a fraction, same sign as the offset, within
        # the uncertainty chronyd states for its own estimate (its skew)
        self.assertAlmostEqual(abs(diff_freq), 100e-6, delta=max(4e-6, 5 * skew))
        self.assertEqual(diff_freq < 0, est_offset < 0)

    def test_slew_takes_slew_time(self):
        up = self.node("up", sim_addr(0, 12), serve=True, local_stratum=1)
        n = self.node("n", sim_addr(0, 13), servers=[(sim_addr(0, 12), 123, "")], makestep="1 1")
        up.start().wait_ready()
        n.start().wait_ready()
        end = time.monotonic() + 15
        while time.monotonic() < end and abs(n.clock.true_error()) > 50e-6:
            time.sleep(0.2)
        time.sleep(3)
        self.assertLess(abs(n.clock.true_error()), 100e-6, "node did not converge first")
        n.clock.ctl("step", 0.010)
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < 10:
            real = time.time_ns()  # the error at exactly this real instant
            samples.append((time.monotonic() - t0, n.clock.true_error(real), real / 1e9))
            time.sleep(0.005)
        first_ok = next((t for t, e, _ in samples if abs(e) < 1e-3), None)
        self.assertIsNotNone(first_ok, "10 ms error never slewed below 1 ms")
        # 10 ms at chrony's maximum slew rate (83333 ppm) takes >= 0.108 s
        self.assertGreater(first_ok, 0.010 / 0.083334 - 0.009 / 0.083334)
        steps = [abs(b[1] - a[1]) / (b[2] - a[2]) for a, b in zip(samples, samples[1:])
                 if b[2] - a[2] > 0.004]
        self.assertLess(max(steps), 0.09, "error changed faster than any slew: stepped?")
        self.assertLess(abs(samples[-1][1]), 100e-6)
        self.assertEqual(n.clock.read()["n_steps"], 2)  # the start-up step and ours

    def test_setoffset_moves_every_process(self):
        c = self.clock("node")
        a = self.on_clock(c, PROBE)
        b = self.on_clock(c, PROBE)
        for p in (a, b):
            self.assertAlmostEqual(self.ask(p) - time.time(), 0.0, delta=READ_S)
        stepper = CLIB + r"""
class timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("pad0", ctypes.c_long * 8), ("tv_sec", ctypes.c_long),
                ("tv_usec", ctypes.c_long), ("rest", ctypes.c_long * 20)]
tx = timex(); tx.modes = 0x2100; tx.tv_sec = 2; tx.tv_usec = 500000000
r = libc.clock_adjtime(0, ctypes.byref(tx))
print(r, ctypes.get_errno())
"""
        out = subprocess.run([sys.executable, "-c", stepper], env=node_env(c.path), check=True,
                             capture_output=True, text=True).stdout.split()
        self.assertGreaterEqual(int(out[0]), 0, "clock_adjtime(ADJ_SETOFFSET) failed")
        for p in (a, b):
            self.assertAlmostEqual(self.ask(p) - time.time(), 2.5, delta=READ_S)
        date = subprocess.run(["date", "+%s.%N"], env=node_env(c.path), check=True,
                              capture_output=True, text=True).stdout
        self.assertAlmostEqual(float(date) - time.time(), 2.5, delta=READ_S)
        self.assertAlmostEqual(c.true_error(), 2.5, delta=1e-6)

    def test_two_nodes_independent(self):
        ca, cb = self.clock("a", 0.0), self.clock("b", -3.0, -40.0)
        pa, pb = self.on_clock(ca, PROBE), self.on_clock(cb, PROBE)
        ca.ctl("step", 10.0)
        ca.ctl("drift", 400.0)
        self.assertAlmostEqual(self.ask(pa) - time.time(), 10.0, delta=READ_S)
        self.assertAlmostEqual(self.ask(pb) - time.time(), -3.0, delta=READ_S)
        self.assertAlmostEqual(cb.true_error(), -3.0, delta=1e-3)
        self.assertEqual(cb.read()["n_steps"], 0)
        self.assertAlmostEqual(cb.read()["drift_ppm"], -40.0)

    def test_clock_nanosleep_absolute_virtual_deadline(self):
        c = self.clock("sleeper", 3600.0, 500.0)
        code = CLIB + r"""
d = int(now()) + 3
req = ts(d, 0)
r = libc.clock_nanosleep(0, 1, ctypes.byref(req), None)   # REALTIME, TIMER_ABSTIME
print(r, d, repr(now()), repr(time.monotonic()), flush=True)
"""
        t0 = time.monotonic()
        p = self.on_clock(c, code)
        time.sleep(0.5)
        c.ctl("step", 1.0)  # 1 s later on the node: the deadline comes 1 s sooner
        ready, _, _ = select.select([p.stdout], [], [], 10)
        self.assertTrue(ready, "clock_nanosleep did not wake at the virtual deadline")
        r, d, woke, mono = p.stdout.readline().split()
        self.assertEqual(int(r), 0)
        self.assertGreaterEqual(float(woke), int(d))
        self.assertLess(float(woke) - int(d), 0.5)  # scheduling only: the 1 s step missed would be 1 s
        # at most 3 s of waiting minus the 1 s step
        self.assertLess(float(mono) - t0, 2.3)

    def test_timerfd_absolute_and_cancel_on_set(self):
        c = self.clock("tfd", -50.0, 0.0)
        code = CLIB + r"""
import select, errno
libc.timerfd_create.restype = ctypes.c_int
fd = libc.timerfd_create(0, 0)
cfd = libc.timerfd_create(0, 0)
d = int(now()) + 3
t = its(ts(0, 0), ts(d, 0))
assert libc.timerfd_settime(fd, 1, ctypes.byref(t), None) == 0          # ABSTIME
far = its(ts(0, 0), ts(d + 1000, 0))
assert libc.timerfd_settime(cfd, 3, ctypes.byref(far), None) == 0       # | CANCEL_ON_SET
early = libc.timerfd_create(0, 0)
soon = its(ts(0, 0), ts(int(now()) + 1, 0))
assert libc.timerfd_settime(early, 1, ctypes.byref(soon), None) == 0
os.read(early, 8)                                                       # fired once
print("armed", flush=True)
res = {}
while len(res) < 2:
    r, _, _ = select.select([fd, cfd], [], [], 5)
    if not r:
        break
    for f in r:
        try:
            os.read(f, 8); res[f] = "fired %.3f" % (now() - d)
        except OSError as e:
            res[f] = "errno %d" % e.errno
again = select.select([early], [], [], 0.3)[0]
print(res.get(fd), "|", res.get(cfd), "|", "again" if again else "quiet", flush=True)
"""
        p = self.on_clock(c, code)
        self.assertEqual(p.stdout.readline().strip(), "armed")
        t0 = time.monotonic()
        c.ctl("step", 2.0)
        line = p.stdout.readline()
        fired, cancelled, early = [s.strip() for s in line.split("|")]
        self.assertEqual(early, "quiet", "a fired one-shot timer fired again after a step")
        self.assertEqual(cancelled, "errno %d" % 125)  # ECANCELED
        self.assertTrue(fired.startswith("fired"), line)
        self.assertGreaterEqual(float(fired.split()[1]), 0.0)
        self.assertLess(float(fired.split()[1]), 0.2)
        self.assertLess(time.monotonic() - t0, 2.0)  # 3 s deadline minus 2 s step

    def test_cancel_on_set_while_blocked_in_read(self):
        # read() already blocked when the step comes: the kernel answers
        # ECANCELED, and so must the virtual clock (not a normal expiry).
        c = self.clock("tfdblock", 0.0, 0.0)
        code = CLIB + r"""
import errno
libc.timerfd_create.restype = ctypes.c_int
cfd = libc.timerfd_create(0, 0)
far = its(ts(0, 0), ts(int(now()) + 1000, 0))
assert libc.timerfd_settime(cfd, 3, ctypes.byref(far), None) == 0       # ABSTIME | CANCEL_ON_SET
print("blocking", flush=True)
try:
    os.read(cfd, 8)
    print("expired", flush=True)
except OSError as e:
    print("errno %d" % e.errno, flush=True)
"""
        p = self.on_clock(c, code)
        self.assertEqual(p.stdout.readline().strip(), "blocking")
        time.sleep(0.5)  # let it block in read()
        c.ctl("step", 5.0)
        r, _, _ = select.select([p.stdout], [], [], 5)
        self.assertTrue(r, "read() still blocked after the step")
        self.assertEqual(p.stdout.readline().strip(), "errno 125")  # ECANCELED

    def test_escape_detected(self):
        n = self.node("esc", sim_addr(0, 14), serve=True, local_stratum=1)
        other = self.clock("other")
        n.start().wait_ready()
        self.assertEqual(n.escaped(), [])
        good = n.run_on_clock(["sleep", "30"])
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        bad = n.run_on_clock(["sleep", "31"], env=env)
        wrong = n.run_on_clock(["sleep", "32"], env=node_env(other.path))
        time.sleep(0.3)
        found = {pid: why for pid, _, why in n.escaped()}
        self.assertNotIn(good.pid, found)
        self.assertNotIn(n.proc.pid, found)
        self.assertEqual(found.get(bad.pid), "no vclock preload")
        self.assertEqual(found.get(wrong.pid), "maps another node's clock")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    if os.geteuid() != 0:
        fctest.skip_all("needs root (chronyd binds port 123 on 127.6.x.x)")
    fctest.main()
