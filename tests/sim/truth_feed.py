#!/usr/bin/env python3
"""truth_feed.py - the simulator's TRUE errors as a small JSON endpoint, for
the dashboard's history in the demo only (issue 20).

A real fleet cannot know its true errors; the simulator does (every node's
virtual clock). The demo (tests/sim/demo_fleet.py) serves them here, apart
from the collector, so that nothing the collector stores or judges comes
from the simulator. The dashboard draws them only when its URL names this
endpoint (`?truth=http://127.0.0.1:PORT/truth.json`), labelled as simulator
truth. GET /truth.json[?since=UNIX_S]:

    {"kind": "simulator truth", "note": "...",
     "hosts": {"headset1": [[t, true_error_s], ...], ...}}

t is Unix seconds on this machine's clock (the simulation's true time),
true_error_s a node's clock minus true time. Kept for the last KEEP_S
seconds; CORS open (the dashboard is served by the collector, on another
port)."""
import collections
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KIND = "simulator truth"
NOTE = ("true errors known only inside the fleet simulator (virtual clocks); not a measurement, "
        "not from the collector")
KEEP_S = 3600.0


class TruthFeed:
    def __init__(self, addr, port, keep_s=KEEP_S):
        self.keep_s = keep_s
        self.lock = threading.Lock()
        self.series = {}  # host -> deque of (t, true_error_s)
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/truth.json":
                    self.send_error(404, "only /truth.json here")
                    return
                q = urllib.parse.parse_qs(url.query)
                try:
                    since = float(q.get("since", ["0"])[0])
                except ValueError:
                    self.send_error(400, "since: not a number")
                    return
                body = json.dumps(feed.document(since)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((addr, port), Handler)
        self.server.daemon_threads = True
        self.url = "http://%s:%d/truth.json" % (addr, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="truth-feed",
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def add(self, t, host, true_error_s):
        """One sample (None: the node is down, nothing known)."""
        if true_error_s is None:
            return
        with self.lock:
            d = self.series.setdefault(host, collections.deque())
            d.append((round(t, 3), float(true_error_s)))
            while d and d[0][0] < t - self.keep_s:
                d.popleft()

    def add_rows(self, rows, t=None):
        """fleetsim's sample rows (node, alive, true_error)."""
        t = time.time() if t is None else t
        for r in rows:
            if r.get("alive"):
                self.add(t, r["node"], r["true_error"])

    def document(self, since=0.0):
        with self.lock:
            hosts = {h: [list(p) for p in d if p[0] >= since] for h, d in self.series.items()}
        return {"kind": KIND, "note": NOTE, "hosts": hosts}
