"""A reference clock's address as chronyc prints it (issue 14 item 9):
chronyd 4.3 (-x) with an SHM refclock (refid TST1) fed by this test with
this machine's own time, so chronyd selects it. `chronyc -n sources` and
`chronyc tracking` name it "TST1"; so must --status and --status --json
(before: "84.83.84.49", its refid read as an IPv4 address, and
"Reference none"). The daemon's status document too (a small HTTP catcher on 127.0.44.54:8876).
Loopback 127.0.44.53, SHM unit 7 (0x4e545037)."""

import ctypes
import http.server
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from chronyd_harness import ChronyInstance
from fctest import AGENT, agent, main, wait_for

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

    def test_status_document_names_refclock(self):
        """The report the daemon POSTs: sources[].address and tracking.ref_address "TST1"."""
        self.assertTrue(wait_for(lambda: "#* TST1" in self.chronyc("-n", "sources"), 20),
                        self.chronyc("-n", "sources"))
        docs = []

        class Catch(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                docs.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.44.54", 8876), Catch)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        work = tempfile.mkdtemp(prefix="fe-refclock-")
        conf = os.path.join(work, "agent.conf")
        with open(conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\n[agent]\nhost = refclock\n"
                    "role = headset\n[rtc]\ndevice = none\n[collector]\n"
                    "url = http://127.0.44.54:8876/api/v1/status\ntoken = t0ken\ninterval_s = 0.5\n"
                    "spool_dir = %s\n" % (self.inst.socket, os.path.join(work, "spool")))
        os.chmod(conf, 0o600)
        proc = subprocess.Popen([AGENT, "-c", conf, "--daemon"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(wait_for(lambda: any(d.get("chrony") for d in docs), 20), docs)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        ch = [d for d in docs if d.get("chrony")][-1]["chrony"]
        src = [s for s in ch["sources"] if s["mode"] == "refclock"]
        self.assertEqual([s["address"] for s in src], ["TST1"])
        self.assertEqual(ch["tracking"]["ref_address"], "TST1")


if __name__ == "__main__":
    main()
