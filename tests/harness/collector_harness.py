"""collector_harness - start a real fleetclock-collector on loopback for
integration tests and talk HTTP to it (Python standard library only).

    with Collector(tmpdir, tokens="t0ken") as c:
        status, body = c.post(make_doc("pi-01"))
"""
import datetime
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

BUILD = os.environ.get("FLEETCLOCK_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
COLLECTOR = os.path.join(BUILD, "collector", "fleetclock-collector")
ADDR = "127.0.4.1"      # this engineer's loopback range: 127.0.4.0/24


def rfc3339(t):
    """Unix seconds -> RFC 3339 UTC with microseconds."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_doc(host, sent_at=None, offset=0.0001, root_delay=0.0002, root_dispersion=0.0001,
             synchronised=True, role="headset", rtc_offset=0.002, pad_sources=0):
    """A valid fleetclock.status/1 document written from docs/status-schema.md
    (independently of the C builder). pad_sources adds sources to reach a
    realistic size (~1.5 KB with 3)."""
    sources = []
    for i in range(pad_sources):
        sources.append({
            "name": "ntp%d.fleet.lan" % i, "address": "127.0.4.%d" % (10 + i),
            "mode": "client", "state": "selected" if i == 0 else "selectable",
            "stratum": 2, "poll": 4, "reach": 255, "last_rx_s": 7,
            "offset_s": 1.5e-05, "error_s": 2.1e-05,
            "stats": {"samples": 12, "runs": 5, "span_s": 180, "sd_s": 8e-06,
                      "resid_freq_ppm": 0.002, "skew_ppm": 0.08, "offset_s": 1.1e-06,
                      "offset_err_s": 4e-06}})
    return {
        "schema": "fleetclock.status/1",
        "host": host, "role": role, "agent_version": "0.1.0",
        "sent_at": rfc3339(time.time() if sent_at is None else sent_at),
        "chrony": {
            "tracking": {
                "ref_id": "7F000401", "ref_address": "127.0.4.10", "stratum": 3,
                "leap": "normal" if synchronised else "unsync",
                "ref_time": rfc3339(time.time() - 5), "offset_s": offset,
                "last_offset_s": offset, "rms_offset_s": abs(offset), "freq_ppm": -3.2,
                "resid_freq_ppm": 0.01, "skew_ppm": 0.1, "root_delay_s": root_delay,
                "root_dispersion_s": root_dispersion, "update_interval_s": 16.0,
                "synchronised": synchronised},
            "sources": sources},
        "max_error_s": abs(offset) + root_delay / 2 + root_dispersion,
        "rtc": {"backend": "ds1307", "device": "/dev/i2c-1", "valid": True,
                "offset_s": rtc_offset, "drift_ppm": 1.5, "last_sync": None},
        "election": None,
        "check": {"ready": True, "budget_s": 0.005, "problems": []},
    }


def election_view(host, **fields):
    """An "election" section as agent/election/election_view.c writes it,
    with the fields status_validate requires (common/report/status_election.c):
    fields over the view's defaults; a partial "self" dataset is completed."""
    e = {"state": "listening", "master": None, "serving": False, "eligible": True}
    if "self" in fields:
        e["self"] = {"priority1": 128, "clock_class": 248, "accuracy": 254,
                     "variance": 65535, "priority2": 128, "identity": host,
                     "steps_removed": 0}
        e["self"].update(fields.pop("self"))
    e.update(fields)
    return e


class Collector:
    """A fleetclock-collector process with its own config and database."""

    def __init__(self, workdir, port=8470, tokens="t0ken", addr=ADDR, extra=""):
        self.workdir, self.port, self.addr, self.tokens = workdir, port, addr, tokens
        self.db = os.path.join(workdir, "collector.db")
        self.conf = os.path.join(workdir, "collector.conf")
        self.log = os.path.join(workdir, "collector.log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write("[collector]\nlisten_address = %s\nport = %d\ndb_path = %s\ntokens = %s\n"
                    "fleet_cache_ms = 0\n%s"
                    % (addr, port, self.db, tokens, extra))
        os.chmod(self.conf, 0o600)

    def start(self, timeout=5.0):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([COLLECTOR, "-c", self.conf, "-v"], stdout=logf,
                                     stderr=logf)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("collector exited %d: %s" % (self.proc.returncode,
                                                                open(self.log).read()))
            try:
                socket.create_connection((self.addr, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("collector did not listen on %s:%d within %.0f s"
                           % (self.addr, self.port, timeout))

    def stop(self, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        conn = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            conn.close()

    def post(self, doc, token="default", timeout=10.0):
        """POST a document (dict, str or bytes); returns (status, body)."""
        if token == "default":
            token = self.tokens.split(",")[0]
        body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        status, data, _ = self.request("POST", "/api/v1/status", body, headers, timeout)
        return status, data

    def get_json(self, path):
        status, data, _ = self.request("GET", path)
        if status != 200:
            raise RuntimeError("GET %s: HTTP %d %s" % (path, status, data))
        return json.loads(data)

    def rows(self, sql, args=()):
        """Read the database directly (a second reader, as WAL allows)."""
        db = sqlite3.connect(self.db, timeout=5)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()
