#!/usr/bin/env python3
"""Integration test: fleetclock-agent --daemon against real chronyd
instances and a real collector on 127.0.4.x: reports arrive; with the
collector down they spool (bounded) and replay in order when it is back;
disk full on the spool (a small tmpfs) is reported and survived; SIGTERM
exits cleanly; a world-readable token file is refused; no libcurl in ldd."""
import json
import os
import shutil
import signal
import sys
import subprocess
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from collector_harness import Collector
from fctest import AGENT, BUILD, SOURCE, main, wait_for

sys.path.insert(0, os.path.join(SOURCE, "tests", "emu"))
import ds1307_state as emu  # noqa: E402

SERVER = "127.0.4.20"
CLIENT = "127.0.4.21"


class Agent:
    """A fleetclock-agent --daemon with its own config and spool."""

    def __init__(self, workdir, host, socket_path, port, interval=0.2, token="t0ken",
                 spool_dir=None, extra="", mode=0o600):
        self.workdir, self.host = workdir, host
        self.spool = spool_dir or os.path.join(workdir, "spool-" + host)
        self.conf = os.path.join(workdir, host + ".conf")
        self.log = os.path.join(workdir, host + ".log")
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 200\n"
                    "[agent]\nhost = %s\nrole = headset\n"
                    "[collector]\nurl = http://127.0.4.1:%d/api/v1/status\ntoken = %s\n"
                    "interval_s = %s\nconnect_timeout_ms = 300\ntimeout_ms = 1000\n"
                    "spool_dir = %s\nbackoff_max_s = 0.5\n%s"
                    % (socket_path, host, port, token, interval, self.spool, extra))
        os.chmod(self.conf, mode)
        self.proc = None

    def start(self, env=None):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "-v", "--daemon"],
                                     stdout=logf, stderr=logf, env=env)
        logf.close()
        return self

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode

    def spooled(self):
        try:
            return sorted(f for f in os.listdir(self.spool) if f.endswith(".json"))
        except FileNotFoundError:
            return []

    def logtext(self):
        with open(self.log) as f:
            return f.read()


class AgentDaemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-agent-daemon-")
        cls.server = ChronyInstance("coll-server", SERVER, local_stratum=8).start()
        cls.client = ChronyInstance("coll-client", CLIENT, servers=[SERVER], serve=False).start()
        cls.client.wait_synced()

    @classmethod
    def tearDownClass(cls):
        cls.client.stop()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        self.agents = []
        self.collector = None

    def tearDown(self):
        for a in self.agents:
            if a.proc and a.proc.poll() is None:
                a.proc.kill()
                a.proc.wait()
        if self.collector:
            self.collector.stop()

    def agent(self, host, port, **kw):
        a = Agent(self.dir, host, self.client.socket, port, **kw)
        self.agents.append(a)
        return a

    def sent_ats(self, host):
        """sent_at of the host's stored reports, in the order they were stored."""
        rows = self.collector.rows("SELECT sent_at_us FROM reports WHERE host = ? ORDER BY rowid",
                                   (host,))
        return [r[0] for r in rows]

    def last_doc(self, host):
        return json.loads(self.collector.rows(
            "SELECT doc FROM reports WHERE host = ? ORDER BY rowid DESC LIMIT 1", (host,))[0][0])

    def test_rtc_in_report(self):
        # The daemon keeps the (emulated) DS1307 in step and reports it.
        state = os.path.join(self.dir, "ds1307.state")
        emu.create(state, offset=-0.25)
        self.collector = Collector(self.dir, port=8482).start()
        a = self.agent("daemon-rtc", 8482, extra="[rtc]\ndevice = /dev/i2c-1\nstate_file = %s\n"
                       "interval_min = 1\n" % os.path.join(self.dir, "rtc.json"))
        a.start(env=dict(os.environ, LD_PRELOAD=os.path.join(BUILD, "tests", "emu", "ds1307_emu.so"),
                         DS1307_EMU_STATE=state))
        wait_for(lambda: len(self.sent_ats("daemon-rtc")) >= 2 and
                 self.last_doc("daemon-rtc")["rtc"].get("valid"), 20, what="a valid RTC report")
        rtc = self.last_doc("daemon-rtc")["rtc"]
        self.assertEqual(rtc["device"], "/dev/i2c-1")
        # The first step found it 250 ms off and rewrote it at the boundary.
        self.assertLess(abs(rtc["offset_s"]), 0.005, rtc)
        self.assertLess(abs(emu.true_offset(emu.read(state))), 0.005)
        self.assertIn("RTC step: rewrite", a.logtext())
        self.assertEqual(a.stop(), 0)

    def test_rtc_of_elected_master(self):
        # A lone candidate with no upstream: chronyd's reference becomes LOCAL
        # when it wins, never "synchronised"; its clock is the fleet's time,
        # so the daemon keeps its RTC from then on (and not before).
        lone = ChronyInstance("coll-lone", "127.0.4.22").start()
        try:
            state = os.path.join(self.dir, "ds1307.state")
            emu.create(state, offset=-0.25)
            key = os.path.join(self.dir, "fleet.key")
            with open(key, "w") as f:
                f.write("8f3a" * 16 + "\n")
            os.chmod(key, 0o600)
            self.collector = Collector(self.dir, port=8484).start()
            a = Agent(self.dir, "daemon-lone", lone.socket, 8484,
                      extra="[rtc]\ndevice = /dev/i2c-1\nstate_file = %s\ninterval_min = 60\n"
                      "[election]\nenabled = yes\ninterval = 0.5\nkey_file = %s\ngroup =\n"
                      "port = 37292\nbind = 127.0.4.22\npeers = 127.0.4.28:37292\n"
                      "rejoin_step = none\nassume_valid = yes\nstate_file = %s\n"
                      % (os.path.join(self.dir, "rtc.json"), key, os.path.join(self.dir, "el.json")))
            self.agents.append(a)
            a.start(env=dict(os.environ, LD_PRELOAD=os.path.join(BUILD, "tests", "emu", "ds1307_emu.so"),
                             DS1307_EMU_STATE=state))
            try:
                wait_for(lambda: "RTC step: keep (the system clock is not synchronised" in a.logtext(),
                         15, what="the first RTC step")
                # before it serves: not synchronised, the RTC is left as it is
                self.assertGreater(abs(emu.true_offset(emu.read(state))), 0.2)
                wait_for(lambda: "election: serving" in a.logtext(), 15, what="serving")
                wait_for(lambda: "RTC step: rewrite" in a.logtext(), 15,
                         what="an RTC step once it serves (interval_min is 60)")
                self.assertLess(abs(emu.true_offset(emu.read(state))), 0.005)
            except AssertionError:
                print(a.logtext()[-4000:])
                raise
            self.assertEqual(a.stop(), 0)
        finally:
            lone.stop()

    def test_election_in_report(self):
        key = os.path.join(self.dir, "fleet.key")
        with open(key, "w") as f:
            f.write("8f3a" * 16 + "\n")
        os.chmod(key, 0o600)
        self.collector = Collector(self.dir, port=8483).start()
        a = self.agent("daemon-elect", 8483, extra="[election]\nenabled = yes\npriority1 = 10\n"
                       "interval = 0.5\nkey_file = %s\ngroup =\nport = 37291\nbind = 127.0.4.21\n"
                       "peers = 127.0.4.29:37291\nrejoin_step = none\nassume_valid = yes\nstate_file = %s\n"
                       % (key, os.path.join(self.dir, "election.json")))
        a.start()
        wait_for(lambda: self.sent_ats("daemon-elect") and
                 isinstance(self.last_doc("daemon-elect").get("election"), dict), 15,
                 what="an election view in the report")
        # A lone candidate synchronised to its upstream serves.
        el = wait_for(lambda: (lambda e: e if e and e.get("state") == "serving" else None)(
            self.last_doc("daemon-elect").get("election")), 15, what="state serving")
        self.assertTrue(el["master_is_self"], el)
        self.assertEqual(el["self"]["class"], "locked")
        # --check on the same node reads the daemon's view, and probes the collector.
        r = subprocess.run([AGENT, "-c", a.conf, "--check"], capture_output=True, text=True, timeout=60)
        self.assertIn("[ OK ] election         this node is the master", r.stdout)
        self.assertIn("[ OK ] collector        reachable: http://127.0.4.1:8483/api/v1/status", r.stdout)
        self.assertEqual(a.stop(), 0)
        # The daemon is gone: its view gets old and --check says so.
        time.sleep(5.5)
        r = subprocess.run([AGENT, "-c", a.conf, "--check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"\[FAIL\] election +no current view: .*election\.json is \d+ s old "
                         r"\(is the agent daemon running\?\)")
        self.assertEqual(a.stop(), 0)

    def test_without_collector(self):
        # No [collector] url: the daemon still runs (election, RTC) and stops cleanly.
        conf = os.path.join(self.dir, "nocoll.conf")
        with open(conf, "w") as f:
            f.write("[chrony]\nsocket = %s\n[rtc]\ndevice = none\n" % self.client.socket)
        p = subprocess.Popen([AGENT, "-c", conf, "-v", "--daemon"], stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        self.assertIsNone(p.poll())
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("[collector] url is not set: not reporting", err)

    def test_reports_from_real_chronyd(self):
        self.collector = Collector(self.dir, port=8471).start()
        a = self.agent("daemon-real", 8471).start()
        wait_for(lambda: len(self.sent_ats("daemon-real")) >= 3, 10, what="3 reports")
        fleet = self.collector.get_json("/api/v1/fleet")
        h = [x for x in fleet["hosts"] if x["host"] == "daemon-real"][0]
        self.assertTrue(h["have_tracking"])
        self.assertTrue(h["synchronised"])
        self.assertEqual(h["stratum"], 9)            # one below the stratum-8 server
        doc = json.loads(self.collector.rows(
            "SELECT doc FROM reports WHERE host = 'daemon-real' LIMIT 1")[0][0])
        self.assertEqual(doc["schema"], "fleetclock.status/1")
        self.assertEqual(doc["chrony"]["tracking"]["ref_address"], SERVER)
        self.assertEqual(doc["chrony"]["sources"][0]["address"], SERVER)
        # the readiness verdict rides along (budget 5 ms: loopback is well within)
        self.assertIsInstance(doc["check"]["ready"], bool)
        self.assertEqual(doc["check"]["budget_s"], 0.005)
        if not doc["check"]["ready"]:
            self.assertTrue(doc["check"]["problems"], doc["check"])
        self.assertEqual(a.stop(), 0)
        self.assertIn("stopped", a.logtext())

    def test_spool_replay_in_order(self):
        self.collector = Collector(self.dir, port=8472)
        self.collector.start()
        a = self.agent("daemon-spool", 8472).start()
        wait_for(lambda: len(self.sent_ats("daemon-spool")) >= 2, 10, what="first reports")
        self.collector.stop()
        wait_for(lambda: len(a.spooled()) >= 8, 15, what="8 spooled reports")
        spooled = len(a.spooled())
        self.collector.start()
        wait_for(lambda: not a.spooled(), 20, what="the spool to drain")
        self.assertEqual(a.stop(), 0)
        got = self.sent_ats("daemon-spool")
        self.assertEqual(got, sorted(got), "reports stored out of order")
        self.assertEqual(len(got), len(set(got)))
        self.assertGreaterEqual(len(got), 2 + spooled)
        # nothing spooled was lost: losing the 8+ spooled reports (0.2 s apart)
        # would leave a hole of at least 1.6 s; shorter gaps are scheduling
        gaps = [(b - a_) / 1e6 for a_, b in zip(got, got[1:])]
        self.assertLess(max(gaps), 1.5, gaps)

    def test_spool_bounded(self):
        a = self.agent("daemon-bounded", 8473, interval=0.1,
                       extra="spool_max_count = 5\n").start()
        wait_for(lambda: "dropped the" in a.logtext(), 10, what="a drop message")
        time.sleep(0.5)
        self.assertLessEqual(len(a.spooled()), 5)
        self.assertEqual(a.stop(), 0)
        self.assertIn("oldest", a.logtext())
        self.assertIn("kept for the next start", a.logtext())
        # the newest are the ones kept: the files are the highest sequence numbers
        names = a.spooled()
        self.assertEqual(len(names), 5)
        self.assertEqual(int(names[-1][:16]) - int(names[0][:16]), 4)

    def test_disk_full(self):
        mnt = os.path.join(self.dir, "tiny")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        try:
            a = self.agent("daemon-full", 8474, interval=0.1, spool_dir=mnt,
                           extra="spool_max_bytes = 10000000\n").start()
            wait_for(lambda: "No space left on device" in a.logtext(), 15, what="ENOSPC")
            self.assertIn("disk full", a.logtext())
            time.sleep(0.5)
            self.assertIsNone(a.proc.poll(), "daemon died on a full disk")
            # the collector comes back: the spool drains and new reports flow
            self.collector = Collector(self.dir, port=8474).start()
            wait_for(lambda: not a.spooled(), 20, what="the spool to drain")
            n = len(self.sent_ats("daemon-full"))
            wait_for(lambda: len(self.sent_ats("daemon-full")) > n, 10, what="new reports")
            self.assertEqual(a.stop(), 0)
        finally:
            subprocess.run(["umount", "-l", mnt])

    def test_world_readable_token_refused(self):
        a = self.agent("daemon-perm", 8475, mode=0o644).start()
        a.proc.wait(10)
        self.assertEqual(a.proc.returncode, 2)
        self.assertIn("readable by everyone", a.logtext())

    def test_sd_notify(self):
        """Under systemd (NOTIFY_SOCKET) the daemon says READY=1, then
        WATCHDOG=1 every interval, and STOPPING=1 on SIGTERM."""
        cc = os.path.join(os.environ.get("FLEETCLOCK_BUILD", ""), "compile_commands.json")
        if not os.path.exists(cc) or "HAVE_LIBSYSTEMD" not in open(cc).read():
            self.skipTest("built without libsystemd")
        import socket as so
        path = os.path.join(self.dir, "notify.sock")
        s = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(5)
        a = self.agent("daemon-notify", 8478)
        logf = open(a.log, "a")
        a.proc = subprocess.Popen([AGENT, "-c", a.conf, "--daemon"], stdout=logf, stderr=logf,
                                  env=dict(os.environ, NOTIFY_SOCKET=path))
        logf.close()
        got = [s.recv(4096).decode() for _ in range(4)]
        self.assertEqual(got[0], "READY=1")
        self.assertEqual(got[1:], ["WATCHDOG=1"] * 3)
        a.proc.send_signal(signal.SIGTERM)
        while True:
            m = s.recv(4096).decode()
            if m != "WATCHDOG=1":
                break
        self.assertEqual(m, "STOPPING=1")
        self.assertEqual(a.proc.wait(10), 0)
        s.close()

    def test_https_verified(self):
        """An https collector is verified: a self-signed certificate is refused
        (the report is spooled), and accepted once ca_file names it."""
        import http.server
        import ssl
        import threading
        if not shutil.which("openssl"):
            self.skipTest("openssl not installed")
        key, cert = os.path.join(self.dir, "k.pem"), os.path.join(self.dir, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=127.0.4.1", "-addext",
                        "subjectAltName=IP:127.0.4.1"], check=True, capture_output=True)
        posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                posts.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        httpd = http.server.HTTPServer(("127.0.4.1", 8479), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        try:
            url = "url = https://127.0.4.1:8479/api/v1/status\n"
            a = self.agent("daemon-tls-bad", 8479, extra=url).start()
            wait_for(lambda: "certificate" in a.logtext().lower(), 10, what="a TLS refusal")
            self.assertEqual(posts, [])
            self.assertEqual(a.stop(), 0)
            b = self.agent("daemon-tls-good", 8479, extra=url + "ca_file = %s\n" % cert).start()
            wait_for(lambda: len(posts) >= 2, 10, what="posts over verified TLS")
            self.assertEqual(b.stop(), 0)
            self.assertEqual(json.loads(posts[0])["host"], "daemon-tls-good")
        finally:
            httpd.shutdown()
            httpd.server_close()

    def test_no_libcurl_linked(self):
        out = subprocess.run(["ldd", AGENT], capture_output=True, text=True).stdout
        self.assertNotIn("libcurl", out)
        self.assertIn("libjansson", out)         # the check can see libraries at all


if __name__ == "__main__":
    main()
