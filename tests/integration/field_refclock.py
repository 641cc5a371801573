"""A reference clock's address as chronyc prints it (issue 14 item 9):
chronyd 4.3 (-x) with an SHM refclock (refid TST1) fed by this test with
this machine's own time, so chronyd selects it. `chronyc -n sources` and
`chronyc tracking` name it "TST1"; so must --status and --status --json
(before: "84.83.84.49", its refid read as an IPv4 address, and
"Reference none"). Loopback 127.0.44.53, SHM unit 7 (0x4e545037)."""

import ctypes
import json
import threading
import time
import unittest

from chronyd_harness import ChronyInstance
from fctest import agent, main, wait_for

SHM_UNIT = 7


class ShmTime(ctypes.Structure):
    """The NTP SHM segment (struct shmTime), as chronyd's SHM driver reads it."""
    _fields_ = [("mode", ctypes.c_int), ("count", ctypes.c_int),
                ("clock_sec", ctypes.c_long), ("clock_usec", ctypes.c_int),
                ("recv_sec", ctypes.c_long), ("recv_usec", ctypes.c_int),
                ("leap", ctypes.c_int), ("precision", ctypes.c_int), ("nsamples", ctypes.c_int),
                ("valid", ctypes.c_int), ("clock_nsec", ctypes.c_uint), ("recv_nsec", ctypes.c_uint),
                ("dummy", ctypes.c_int * 8)]


class ShmFeeder(threading.Thread):
    """Writes a sample (this clock against itself) ten times a second."""

    def __init__(self, unit):
        super().__init__(daemon=True)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmget.restype, libc.shmget.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
        libc.shmat.restype, libc.shmat.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        libc.shmdt.argtypes = [ctypes.c_void_p]
        libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        shmid = libc.shmget(0x4E545030 + unit, ctypes.sizeof(ShmTime), 0)
        if shmid < 0:
            raise OSError(ctypes.get_errno(), "shmget SHM unit %d (created by chronyd)" % unit)
        self.libc, self.shmid, self.addr = libc, shmid, libc.shmat(shmid, None, 0)
        if self.addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "shmat SHM unit %d" % unit)
        self.shm = ShmTime.from_address(self.addr)
        self.stopped = False

    def run(self):
        s = self.shm
        while not self.stopped:
            now = time.time()
            sec, frac = int(now), now % 1
            s.valid = 0
            s.count += 1
            s.mode, s.leap, s.precision = 1, 0, -20
            s.clock_sec, s.clock_usec, s.clock_nsec = sec, int(frac * 1e6), int(frac * 1e9)
            s.recv_sec, s.recv_usec, s.recv_nsec = sec, int(frac * 1e6), int(frac * 1e9)
            s.count += 1
            s.valid = 1
            time.sleep(0.1)

    def stop(self):
        """Detach, and remove the segment chronyd left behind (IPC_RMID)."""
        self.stopped = True
        self.join(2)
        self.libc.shmdt(self.addr)
        self.libc.shmctl(self.shmid, 0, None)


class Refclock(unittest.TestCase):
    def setUp(self):
        self.inst = ChronyInstance(
            "fe-refclock", "127.0.44.53", serve=False,
            extra_conf="refclock SHM %d:perm=0600 refid TST1 poll 0 dpoll -2 precision 1e-6" % SHM_UNIT).start()
        self.addCleanup(self.inst.stop)
        self.feeder = ShmFeeder(SHM_UNIT)
        self.feeder.start()
        self.addCleanup(self.feeder.stop)

    def chronyc(self, *args):
        out = self.inst.chronyc(*args)
        return out.stdout if hasattr(out, "stdout") else out

    def test_refclock_named_like_chronyc(self):
        self.assertTrue(wait_for(lambda: "#* TST1" in self.chronyc("-n", "sources"), 20),
                        self.chronyc("-n", "sources"))
        self.assertIn("54535431 (TST1)", self.chronyc("tracking"))
        r = agent("--socket", self.inst.socket, "--status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        src = [s for s in doc["sources"] if s["mode"] == "refclock"]
        self.assertEqual([(s["name"], s["address"]) for s in src], [("TST1", "TST1")])
        self.assertEqual(doc["tracking"]["address"], "TST1")
        self.assertEqual(doc["tracking"]["ref_id"], "54535431")
        r = agent("--socket", self.inst.socket, "--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Reference        TST1 (54535431), stratum 1", r.stdout)
        self.assertNotIn("84.83.84.49", r.stdout)


if __name__ == "__main__":
    main()
