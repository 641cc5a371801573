#!/usr/bin/env python3
"""Integration test: a real fleetclock-collector on 127.0.4.1 answers every
status code of POST /api/v1/status, serves the fleet view, history and a
valid Prometheus exposition, and survives slow clients."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from collector_harness import Collector, make_doc  # noqa: E402
from fctest import main  # noqa: E402

PORT = 8470


class CollectorApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-coll-api-")
        cls.c = Collector(cls.tmp, port=PORT, tokens="t0ken,second-token",
                          extra="stale_after_s = 2\nbudget_ms = 5\n[limits]\n"
                                "connection_timeout_s = 2\nrequest_timeout_s = 3\n").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.c.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "collector exit status %s" % rc

    def assertStatus(self, got, code, contains=None):
        status, body = got
        self.assertEqual(status, code, body)
        if contains:
            self.assertIn(contains, json.loads(body)["error"])

    def test_204_stored_once(self):
        doc = make_doc("api-stored")
        self.assertStatus(self.c.post(doc), 204)
        self.assertStatus(self.c.post(doc), 204)          # a retry is acknowledged ...
        n = self.c.rows("SELECT count(*) FROM reports WHERE host = 'api-stored'")[0][0]
        self.assertEqual(n, 1)                            # ... but not stored twice
        self.assertStatus(self.c.post(doc, token="second-token"), 204)

    def test_401(self):
        self.assertStatus(self.c.post(make_doc("api-401"), token=None), 401, "bearer token")
        self.assertStatus(self.c.post(make_doc("api-401"), token="t0ke"), 401)
        self.assertStatus(self.c.post(make_doc("api-401"), token="t0ken2"), 401)
        self.assertEqual(self.c.rows("SELECT count(*) FROM reports WHERE host='api-401'")[0][0], 0)

    def test_400_invalid_json(self):
        self.assertStatus(self.c.post(b'{"schema": "fleetclock.status/1",\n "host": tru}'), 400,
                          "line 2")
        text = json.dumps(make_doc("api-trunc"))
        self.assertStatus(self.c.post(text[:len(text) // 2]), 400, "invalid JSON")
        self.assertStatus(self.c.post(b""), 400)
        self.assertStatus(self.c.post(b"\xff\xfe garbage"), 400)

    def test_422_schema(self):
        d = make_doc("api-422")
        d["schema"] = "fleetclock.status/2"
        self.assertStatus(self.c.post(d), 422, "schema")
        d = make_doc("api-422")
        d["chrony"]["tracking"]["stratum"] = "three"
        self.assertStatus(self.c.post(d), 422, "chrony.tracking.stratum")
        d = make_doc("api-422")
        del d["sent_at"]
        self.assertStatus(self.c.post(d), 422, "sent_at: missing")
        d = make_doc("api-422")
        nested = 1
        for _ in range(40):
            nested = {"a": nested}
        d["election"] = nested
        self.assertStatus(self.c.post(d), 422, "nested deeper")
        # 100,000 levels: the parser refuses without crashing
        self.assertIn(self.c.post(b"[" * 60000 + b"]" * 60000)[0], (400, 413, 422))
        self.assertStatus(self.c.post(b"[1, 2]"), 422)

    def test_413(self):
        d = make_doc("api-413")
        d["election"] = {"pad": "x" * 70000}
        self.assertStatus(self.c.post(d), 413, "65536")
        # chunked, so the length is not known up front
        s = socket.create_connection((self.c.addr, PORT), timeout=5)
        s.sendall(b"POST /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 8192
        try:
            for _ in range(10):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        self.assertIn(b" 413 ", s.recv(4096))
        s.close()

    def test_get_keeps_the_connection(self):
        """GETs and POSTs share one keep-alive connection: a dashboard polling
        the fleet view or a scraper must not pay a new connection (and TCP slow
        start) per request, as when the answer was queued on MHD's first call."""
        import http.client
        conn = http.client.HTTPConnection(self.c.addr, self.c.port, timeout=10)
        try:
            conn.request("POST", "/api/v1/status", json.dumps(make_doc("api-keepalive")),
                         {"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 204)
            sock = conn.sock
            for path in ("/api/v1/fleet", "/metrics", "/", "/api/v1/hosts/api-keepalive/history",
                         "/api/v1/fleet"):
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200, path)
                self.assertNotEqual((r.getheader("Connection") or "").lower(), "close", path)
                self.assertIs(conn.sock, sock, "%s: the connection was not kept" % path)
            self.assertIn(b"api-keepalive", body)
        finally:
            conn.close()

    def test_405_404(self):
        self.assertEqual(self.c.request("GET", "/api/v1/status")[0], 405)
        status, _, headers = self.c.request("PUT", "/api/v1/status", b"{}")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("Allow"), "POST")
        self.assertEqual(self.c.request("POST", "/api/v1/fleet", b"{}")[0], 405)
        self.assertEqual(self.c.request("GET", "/api/v2/fleet")[0], 404)
        self.assertEqual(self.c.request("GET", "/api/v1/hosts/a/b/history")[0], 404)

    def test_fleet_and_history(self):
        now = time.time()
        self.assertStatus(self.c.post(make_doc("fl-old", sent_at=now - 10)), 204)
        time.sleep(2.5)        # fl-old becomes stale (stale_after_s = 2)
        # bounds: fl-a 1 + 0.5 + 0.5 = 2 ms; fl-b 3 + 1 + 1 = 5 ms; fl-over 7 + 0 + 0 = 7 ms
        self.assertStatus(self.c.post(make_doc("fl-a", offset=0.001, root_delay=0.001,
                                               root_dispersion=0.0005)), 204)
        self.assertStatus(self.c.post(make_doc("fl-b", offset=-0.003, root_delay=0.002,
                                               root_dispersion=0.001)), 204)
        self.assertStatus(self.c.post(make_doc("fl-over", offset=0.007, root_delay=0,
                                               root_dispersion=0)), 204)
        fleet = self.c.get_json("/api/v1/fleet")
        hosts = {h["host"]: h for h in fleet["hosts"]}
        self.assertTrue(hosts["fl-old"]["stale"])
        self.assertFalse(hosts["fl-a"]["stale"])
        self.assertAlmostEqual(hosts["fl-a"]["error_bound_s"], 0.002, places=9)
        self.assertAlmostEqual(hosts["fl-b"]["error_bound_s"], 0.005, places=9)
        self.assertTrue(hosts["fl-over"]["over_budget"])
        self.assertFalse(hosts["fl-b"]["over_budget"])         # exactly at the budget
        self.assertEqual(hosts["fl-a"]["rtc"], {"valid": True, "offset_s": 0.002})
        s = fleet["summary"]
        self.assertEqual(s["worst_host"], "fl-over")
        self.assertAlmostEqual(s["worst_error_bound_s"], 0.007, places=9)
        self.assertEqual(s["verdict"], "over_budget")
        self.assertGreaterEqual(s["stale"], 1)
        # history of one host, in order, within since/until
        for k in range(3):
            self.assertStatus(self.c.post(make_doc("hist", sent_at=now - 30 + k,
                                                   offset=0.001 * k)), 204)
        h = self.c.get_json("/api/v1/hosts/hist/history?since=%f&until=%f" % (now - 29.5, now))
        self.assertEqual(h["count"], 2)
        self.assertEqual([p["offset_s"] for p in h["points"]], [0.001, 0.002])
        self.assertEqual(self.c.request("GET", "/api/v1/hosts/hist/history?since=soon")[0], 400)

    def test_metrics_promtool(self):
        self.assertStatus(self.c.post(make_doc("metrics-host", offset=-0.0025)), 204)
        status, body, headers = self.c.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        self.assertIn('fleetclock_host_offset_seconds{host="metrics-host"} -0.0025\n', text)
        self.assertIn('fleetclock_collector_reports_total{result="stored"}', text)
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_slow_clients(self):
        """Slowloris: 40 clients trickle a header byte every 0.5 s; they are
        all cut off within 8 s (measured: at about 2.1 s from their connect,
        i.e. by the 2 s connection_timeout_s rather than request_timeout_s,
        3 s), never before 2 s, and others are served meanwhile."""
        slow, stop = [], threading.Event()
        t_first = time.monotonic()    # before any of them connected
        for _ in range(40):
            s = socket.create_connection((self.c.addr, PORT), timeout=5)
            s.sendall(b"POST /api/v1/status HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        self.assertStatus(self.c.post(make_doc("api-during-slowloris")), 204)
        closed_at = {}
        t0 = time.monotonic()
        while len(closed_at) < len(slow) and time.monotonic() - t0 < 8:
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"X")
                    if s.recv(1, socket.MSG_DONTWAIT) == b"":
                        closed_at[i] = time.monotonic() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[i] = time.monotonic() - t0
            time.sleep(0.5)
        stop.set()
        for s in slow:
            s.close()
        self.assertEqual(len(closed_at), len(slow), "slow clients still connected after 8 s")
        # not before a limit: each was accepted after t_first, and the
        # earliest limit is connection_timeout_s (2 s; they are cut at about
        # 2.1 s from t_first); measured from t0 (after the 40 connections
        # and a POST) a loaded machine once saw 1.999 s
        self.assertGreaterEqual(min(closed_at.values()) + (t0 - t_first), 1.95)
        # an idle connection (nothing sent) goes after connection_timeout_s
        s = socket.create_connection((self.c.addr, PORT), timeout=6)
        t0 = time.monotonic()
        self.assertEqual(s.recv(1), b"")
        self.assertLess(time.monotonic() - t0, 5)
        s.close()
        self.assertStatus(self.c.post(make_doc("api-after-slowloris")), 204)

    def test_fleet_offsets_script(self):
        self.assertStatus(self.c.post(make_doc("script-host", offset=-0.0021)), 204)
        script = os.path.join(os.environ.get("FLEETCLOCK_SOURCE", os.path.join(
            os.path.dirname(__file__), "..", "..")), "scripts", "fleet-offsets")
        r = subprocess.run([script, "http://127.0.4.1:%d" % PORT], capture_output=True, text=True,
                           timeout=30)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("HOST"))
        row = [l for l in lines if l.startswith("script-host ")][0].split()
        self.assertEqual(row[2], "-2.100")            # offset in ms, signed
        # the header's columns line up with the rows (an aligned table)
        self.assertEqual(lines[0].index("OFFSET ms") + len("OFFSET ms"),
                         lines[lines.index([l for l in lines if l.startswith("script-host ")][0])]
                         .index("-2.100") + len("-2.100"))
        r = subprocess.run([script, "http://127.0.4.1:1"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    def test_world_readable_tokens_refused(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        c = Collector(d, port=PORT + 20)
        os.chmod(c.conf, 0o644)
        r = subprocess.run([__import__("collector_harness").COLLECTOR, "-c", c.conf],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("readable by everyone", r.stderr)
        self.assertIn(c.conf, r.stderr)

    def test_version_and_help(self):
        exe = __import__("collector_harness").COLLECTOR
        r = subprocess.run([exe, "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("fleetclock-collector "))
        r = subprocess.run([exe, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("[collector] budget_ms", r.stdout)
        r = subprocess.run([exe, "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    def test_dashboard_page_self_contained(self):
        status, body, headers = self.c.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        page = body.decode()
        self.assertIn("<canvas", page)
        for external in ("http://", "https://", "<link", "src="):
            self.assertNotIn(external, page)


if __name__ == "__main__":
    main()
