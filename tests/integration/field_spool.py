#!/usr/bin/env python3
"""Field faults of the report path (issue 14, items 3 and 5), with real
processes: a real chronyd -x, fleetclock-agent --daemon, and either a real
fleetclock-collector or a small counting HTTP server (the collector stores a
duplicate once, so it cannot show how many POSTs came).

- The spool on a small tmpfs remounted read-only under the running daemon:
  the reports already spooled are each POSTed once (not in a loop), new
  reports wait in memory while the collector is down and all arrive, in the
  order the agent built them, when it is back; the fault is logged once and
  shown in the status document ("report_queue"); writable again, the daemon
  says so and the sent files go.
- An agent started on a card that went read-only while it was down: what
  the card holds is sent once, in order, then the new reports.
- A collector restarted with another token for a while, then the right
  one: the 401s keep the reports (logged once), and all arrive, in order.

Addresses 127.0.42.x, ports 8830-8849 (this test's own: runs without the
shared lock)."""
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from chronyd_harness import ChronyInstance
from collector_harness import Collector
from fctest import AGENT, main, wait_for

CHRONYD_ADDR = "127.0.42.10"
HTTP_ADDR = "127.0.42.1"
INTERVAL = 0.2
REFUSED_S = 3.0  # how long a collector with another token answers 401


class Counter:
    """An HTTP server that answers POSTs with a settable status and keeps
    every request: (time, status answered, sent_at of the body, body)."""

    def __init__(self, port):
        self.code = 503
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"      # keep-alive, as libcurl uses it

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    code = outer.code
                    outer.posts.append((time.monotonic(), code,
                                        json.loads(body)["sent_at"], json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((HTTP_ADDR, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def set(self, code):
        with self.lock:
            self.code = code

    def snapshot(self):
        with self.lock:
            return list(self.posts)

    def accepted(self):
        return [p for p in self.snapshot() if 200 <= p[1] < 300]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Agent:
    """fleetclock-agent --daemon with its own config, spool and log."""

    def __init__(self, workdir, host, socket_path, port, spool, token="t0ken"):
        self.conf = os.path.join(workdir, host + ".conf")
        self.log = os.path.join(workdir, host + ".log")
        self.spool = spool
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 200\n"
                    "[agent]\nhost = %s\nrole = headset\n[rtc]\ndevice = none\n"
                    "[collector]\nurl = http://%s:%d/api/v1/status\ntoken = %s\n"
                    "interval_s = %s\nconnect_timeout_ms = 300\ntimeout_ms = 1000\n"
                    "spool_dir = %s\nbackoff_max_s = 0.5\n"
                    % (socket_path, host, HTTP_ADDR, port, token, INTERVAL, spool))
        os.chmod(self.conf, 0o600)
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "--daemon"],
                                     stdout=logf, stderr=logf)
        logf.close()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def spooled(self):
        try:
            return sorted(f for f in os.listdir(self.spool) if f.endswith(".json"))
        except FileNotFoundError:
            return []

    def logtext(self):
        with open(self.log) as f:
            return f.read()


def gaps_s(sent_ats):
    """Seconds between consecutive RFC 3339 times (same format, so string
    order is time order; seconds from the fraction and the minute)."""
    def secs(s):
        return int(s[11:13]) * 3600 + int(s[14:16]) * 60 + float(s[17:-1])
    return [secs(b) - secs(a) for a, b in zip(sent_ats, sent_ats[1:])]


class FieldSpool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-field-spool-")
        cls.chronyd = ChronyInstance("field-spool", CHRONYD_ADDR, local_stratum=8,
                                     serve=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.chronyd.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        self.cleanups = []

    def tearDown(self):
        for fn in reversed(self.cleanups):
            fn()

    def agent(self, host, port, spool, **kw):
        a = Agent(self.dir, host, self.chronyd.socket, port, spool, **kw)
        self.cleanups.append(a.stop)
        return a

    def tmpfs(self):
        mnt = os.path.join(self.dir, "sd")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        self.cleanups.append(lambda: subprocess.run(["umount", "-l", mnt]))
        return mnt

    def remount(self, mnt, mode):
        subprocess.run(["mount", "-o", "remount," + mode, mnt], check=True)

    def test_readonly_spool(self):
        mnt = self.tmpfs()
        counter = Counter(8830)
        self.cleanups.append(counter.close)
        a = self.agent("ro-spool", 8830, os.path.join(mnt, "q"))
        # the collector refuses for a while: reports spool on the card
        wait_for(lambda: len(a.spooled()) >= 5, 15, what="5 spooled reports")
        self.remount(mnt, "ro")             # the card goes read-only under the daemon
        on_card = len(a.spooled())
        t0 = time.monotonic()
        counter.set(200)
        time.sleep(3)
        posts = [p for p in counter.snapshot() if p[0] >= t0]
        # each spooled report once, then the new ones once: a few per second,
        # not thousands (the old code re-sent the oldest in a loop)
        self.assertLessEqual(len(posts), on_card + 3 / INTERVAL + 5,
                             "%d POSTs in 3 s with %d reports on the card" % (len(posts), on_card))
        sent = [p[2] for p in posts]
        self.assertEqual(len(sent), len(set(sent)), "a report was POSTed twice")
        self.assertIsNone(a.proc.poll(), "the daemon died")
        # the collector goes away again: new reports wait in memory (the card
        # is read-only) and say so in the document
        counter.set(503)
        t1 = time.monotonic()
        wait_for(lambda: len([p for p in counter.snapshot() if p[0] >= t1]) >= 3, 10,
                 what="3 refused attempts")
        time.sleep(1)
        self.assertEqual(len(a.spooled()), on_card, "the read-only card changed")
        counter.set(200)
        t2 = time.monotonic()

        def drained():
            # a report built after the outage with nothing queued before it
            seen_outage = False
            for p in counter.accepted():
                q = p[3]["report_queue"]
                if p[0] >= t2 and q["delivery"] == "retrying":
                    seen_outage = True
                elif seen_outage and q["queued"] == 0:
                    return True
            return False

        wait_for(drained, 15, what="the memory queue to drain")
        # the reports built while the collector was away say where they waited
        rq = max((p[3]["report_queue"] for p in counter.accepted() if p[0] >= t2),
                 key=lambda q: q["in_memory"])
        self.assertEqual(rq["storage"], "memory", rq)
        self.assertGreaterEqual(rq["in_memory"], 3, rq)
        self.assertIn("Read-only file system", rq["error"], rq)
        self.assertIn(os.path.join(mnt, "q"), rq["error"], rq)
        self.assertEqual(rq["delivery"], "retrying", rq)
        # every report accepted once, in the order the agent built them,
        # none missing (no gap much longer than an interval)
        acc = [p[2] for p in counter.accepted()]
        self.assertEqual(acc, sorted(acc), "reports arrived out of order")
        self.assertEqual(len(acc), len(set(acc)), "a report was accepted twice")
        since_ro = [p[2] for p in counter.accepted() if p[0] >= t0]
        self.assertLess(max(gaps_s(since_ro)), 2.0, gaps_s(since_ro))
        log = a.logtext()
        self.assertEqual(log.count("keeping reports in memory"), 1, log[-3000:])
        self.assertLessEqual(log.count("cannot remove "), 1, log[-3000:])
        # the card writable again: said once, the sent files go
        self.remount(mnt, "rw")
        wait_for(lambda: not a.spooled(), 10, what="the sent files to be removed")
        wait_for(lambda: "writable again" in a.logtext(), 10, what="the recovery message")
        t3 = time.monotonic()
        wait_for(lambda: any(p[0] >= t3 for p in counter.accepted()), 10, what="a new report")
        last = counter.accepted()[-1][3]["report_queue"]
        self.assertEqual(last["storage"], "disk", last)
        self.assertIsNone(last["error"], last)
        self.assertEqual(last["unremoved"], 0, last)
        self.assertEqual(a.stop(), 0)

    def test_start_on_readonly_card(self):
        # The card went read-only while the agent was down (fsck, errors at
        # boot): the agent starts, sends what the card holds once, in order,
        # then the new reports.
        mnt = self.tmpfs()
        counter = Counter(8832)
        self.cleanups.append(counter.close)
        a = self.agent("ro-boot", 8832, os.path.join(mnt, "q"))
        wait_for(lambda: len(a.spooled()) >= 3, 15, what="3 spooled reports")
        self.assertEqual(a.stop(), 0)
        on_card = len(a.spooled())
        self.remount(mnt, "ro")
        counter.set(200)
        t0 = time.monotonic()
        b = self.agent("ro-boot-2", 8832, os.path.join(mnt, "q"))
        wait_for(lambda: len([p for p in counter.snapshot() if p[0] >= t0]) >= on_card + 3, 10,
                 what="the card's reports and new ones")
        time.sleep(1)
        posts = [p for p in counter.snapshot() if p[0] >= t0]
        self.assertLessEqual(len(posts), on_card + 2 / INTERVAL + 5, "%d POSTs" % len(posts))
        sent = [p[2] for p in posts]
        self.assertEqual(len(sent), len(set(sent)), "a report was POSTed twice")
        self.assertEqual(sent, sorted(sent), "reports sent out of order")
        self.assertEqual([p[3]["host"] for p in posts[:on_card]], ["ro-boot"] * on_card)
        self.assertEqual(len(a.spooled()), on_card)     # still there: read-only
        # stopped while reports wait in memory: it says they are lost
        counter.set(503)
        time.sleep(1)
        self.assertEqual(b.stop(), 0)
        self.assertRegex(b.logtext(), r"Read-only file system: \d+ reports kept in memory are "
                         r"lost with this process")

    def test_token_rotation(self):
        coll = Collector(self.dir, port=8831, tokens="right-token", addr=HTTP_ADDR).start()
        self.cleanups.append(coll.stop)
        a = self.agent("rotated", 8831, os.path.join(self.dir, "spool"), token="right-token")

        def stored():
            return [r[0] for r in coll.rows(
                "SELECT sent_at_us FROM reports WHERE host = 'rotated' ORDER BY rowid")]

        wait_for(lambda: len(stored()) >= 3, 15, what="first reports")
        coll.stop()
        # the collector comes back with a token the agent does not have
        other = os.path.join(self.dir, "other")
        os.mkdir(other)
        wrong = Collector(other, port=8831, tokens="other-token", addr=HTTP_ADDR).start()
        time.sleep(REFUSED_S)
        wrong.stop()
        self.assertIn("HTTP 401", a.logtext())
        # (the old agent took 401 for a permanent refusal and dropped them)
        self.assertGreaterEqual(len(a.spooled()), 5, "the refused reports were not kept")
        # the right token again: every kept report arrives
        coll.start()
        wait_for(lambda: not a.spooled(), 20, what="the spool to drain")
        n = len(stored())
        wait_for(lambda: len(stored()) > n + 2, 10, what="new reports")
        self.assertEqual(a.stop(), 0)
        got = stored()
        self.assertEqual(got, sorted(got), "reports stored out of order")
        self.assertEqual(len(got), len(set(got)))
        gaps = [(b - a_) / 1e6 for a_, b in zip(got, got[1:])]
        # reports lost while refused would leave a hole as long as the refusal
        self.assertLess(max(gaps), REFUSED_S,
                        "reports lost while the token was refused: %s" % gaps)
        log = a.logtext()
        self.assertEqual(log.count("reports are kept"), 1, log[-3000:])
        self.assertIn("HTTP 401", log)
        self.assertIn("collector accepts reports again", log)
        self.assertNotIn("dropped", log)
        refused = [json.loads(r[0])["report_queue"] for r in coll.rows(
            "SELECT doc FROM reports WHERE host = 'rotated' ORDER BY rowid")]
        self.assertTrue(any(q["delivery"] == "refused" and "401" in q["delivery_error"]
                            for q in refused), refused[-3:])


if __name__ == "__main__":
    main()
