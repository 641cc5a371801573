#!/usr/bin/env python3
"""Integration test of issue 16's proof of every start: real agents run
`fleetclock-agent --at` (plain and --arm) against real chronyd -x
instances and send their start records to a real collector, which serves
/api/v1/starts and the last-start metrics.

Checked: each node's record (outcome, start error, chronyd's bound), a late
node (--arm, its program ready only after T), a missing node (known to the
collector from its status reports, no record), the spread bound against the
records, the metrics; and the collector down during the start: the record
is spooled by --at and delivered later by --daemon.

Own addresses 127.0.56.1-10 and port 9010 only (no lock needed): chronyd
server 127.0.56.1, client 127.0.56.2 (all agents share it: they stand for
nodes with names of their own), collector 127.0.56.10:9010. Timing is
asserted loosely (a shared machine)."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

from start_case import GATE_DIR, StartCase
from collector_harness import Collector, make_doc
from fctest import AGENT, main, wait_for

SOURCE = os.environ.get("FLEETCLOCK_SOURCE", ".")
ADDR = "127.0.56.10"
PORT = 9010

# Sleeps argv[1] s (its set-up), then waits on the gate (says ready, go).
PROBE = """
import sys, time
sys.path.insert(0, %r)
import fleetclock
time.sleep(float(sys.argv[1]))
fleetclock.wait_start()
""" % GATE_DIR


class StartRecords(StartCase):
    NET, PORT, NAME, PROBE = '127.0.56', 9010, 'starts', PROBE
    BUDGET_MS = 1000

    def at(self, host, target, experiment, cmd, arm=False):
        args = [AGENT, "-c", self.conf(host), "--experiment", experiment, "--at",
                "%.6f" % target] + (["--arm"] if arm else []) + ["--"] + cmd
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=GATE_DIR))
        self.procs.append(p)
        return p

    def test_records_late_missing_spread_and_metrics(self):
        self.collector.start()
        for h in ("node1", "node2", "node3", "node4"):   # the hosts the collector knows
            self.assertEqual(self.collector.post(make_doc(h))[0], 204)
        t0 = time.monotonic()
        target = time.time() + 4.0
        runs = [self.at("node1", target, "exp-a", ["/bin/true"]),                    # plain --at
                self.at("node2", target, "exp-a", [sys.executable, self.probe, "0"], arm=True),
                self.at("node3", target, "exp-a", [sys.executable, self.probe, "4.6"],
                        arm=True)]                                                   # ready after T
        for p in runs:
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
        doc = wait_for(lambda: self.experiment("exp-a", hosts=3), 15, what="three start records")
        hosts = {h["host"]: h for h in doc["hosts"]}
        self.assertEqual(hosts["node1"]["outcome"], "started", hosts["node1"])
        self.assertFalse(hosts["node1"]["armed"])
        self.assertEqual(hosts["node2"]["outcome"], "started", hosts["node2"])
        self.assertGreater(hosts["node2"]["slack_s"], 2.0, hosts["node2"])
        self.assertEqual(hosts["node3"]["outcome"], "late", hosts["node3"])
        self.assertEqual(doc["late"], ["node3"])
        self.assertEqual(doc["missing"], ["node4"])
        for h in ("node1", "node2"):
            self.assertGreaterEqual(hosts[h]["error_s"], 0.0, hosts[h])
            self.assertLess(hosts[h]["error_s"], 0.1, hosts[h])          # loose: shared machine
            self.assertTrue(hosts[h]["synchronised"], hosts[h])
            self.assertLess(hosts[h]["error_bound_s"], 1.0, hosts[h])
        late_by = hosts["node3"]["error_s"]
        self.assertGreater(late_by, 0.4, hosts["node3"])                  # slept 0.6 s past T
        # the spread bound from the records themselves
        lo = min(h["error_s"] - h["error_bound_s"] for h in hosts.values())
        hi = max(h["error_s"] + h["error_bound_s"] for h in hosts.values())
        self.assertAlmostEqual(doc["spread_bound_s"], hi - lo, places=6)
        errors = [h["error_s"] for h in hosts.values()]
        self.assertAlmostEqual(doc["spread_s"], max(errors) - min(errors), places=6)
        self.assertGreaterEqual(doc["spread_bound_s"], doc["spread_s"])
        self.assertGreater(doc["spread_s"], 0.3)                          # the late node
        # the list and the metrics name this experiment as the last
        listing = self.collector.get_json("/api/v1/starts")["experiments"]
        self.assertEqual(listing[0]["experiment"], "exp-a")
        self.assertEqual(self.metric("fleetclock_last_start_late_nodes"), 1)
        self.assertEqual(self.metric("fleetclock_last_start_missing_nodes"), 1)
        self.assertAlmostEqual(self.metric("fleetclock_last_start_spread_seconds"),
                               doc["spread_bound_s"], places=6)
        promtool = shutil.which("promtool")
        if promtool:
            text = self.collector.request("GET", "/metrics")[1]
            pt = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                timeout=30)
            self.assertEqual(pt.returncode, 0, pt.stdout + pt.stderr)
        # scripts/fleet-offsets --starts: the last experiment's table
        fo = subprocess.run([os.path.join(SOURCE, "scripts", "fleet-offsets"), "--starts",
                             "http://%s:%d" % (ADDR, PORT)], capture_output=True, text=True,
                            timeout=30)
        self.assertEqual(fo.returncode, 1, fo.stderr)              # late and missing nodes
        self.assertIn("experiment exp-a", fo.stdout)
        self.assertRegex(fo.stdout, r"node3\s+headset\s+late")
        self.assertRegex(fo.stdout, r"node4\s+-\s+MISSING")
        self.assertIn("late: node3", fo.stdout)
        print("records, late, missing, metrics, fleet-offsets: %.1f s" % (time.monotonic() - t0))
        self.dashboard_shows_the_starts()

    def dashboard_shows_the_starts(self):
        """The dashboard's starts block in headless Chromium: a row per
        node, the late and the missing one marked bad."""
        t0 = time.monotonic()
        seen = self.dashboard_starts()
        if seen is None:
            return
        rows, dom = seen
        self.assertEqual(sorted((h, o, c) for c, h, o in rows),
                         [("node1", "started", "start"), ("node2", "started", "start"),
                          ("node3", "late", "start bad"), ("node4", "missing", "start bad")], dom[-3000:])
        self.assertIn("NOT ALL ON TIME", dom)
        print("dashboard starts block in chromium: %.1f s" % (time.monotonic() - t0))

    def test_collector_down_record_spooled_then_delivered_by_daemon(self):
        t0 = time.monotonic()
        # the daemon's spool belongs to its user (_fleetclock in a deployment); --at runs as
        # root: what it spools must stay the daemon's to read and remove
        nobody = pwd.getpwnam("nobody")
        os.mkdir(os.path.join(self.dir, "spool-node5"), 0o700)
        os.chown(os.path.join(self.dir, "spool-node5"), nobody.pw_uid, nobody.pw_gid)
        p = self.at("node5", time.time() + 2.0, "exp-down", ["/bin/true"])
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        spool = os.path.join(self.dir, "spool-node5", "starts")
        files = wait_for(lambda: os.path.isdir(spool) and os.listdir(spool), 10,
                         what="the record in the starts spool")
        self.assertEqual(len(files), 1, files)
        for path in (spool, os.path.join(spool, files[0])):
            self.assertEqual(os.stat(path).st_uid, nobody.pw_uid, path)
        self.collector.start()
        self.assertIsNone(self.experiment("exp-down", hosts=1))    # not there by itself
        with open(os.path.join(self.dir, "node5.log"), "w") as log:
            d = subprocess.Popen([AGENT, "-c", self.conf("node5"), "-v", "--daemon"],
                                 stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(d)
        doc = wait_for(lambda: self.experiment("exp-down", hosts=1), 15,
                       what="the spooled record delivered by --daemon")
        self.assertEqual(doc["hosts"][0]["host"], "node5")
        self.assertEqual(doc["hosts"][0]["outcome"], "started")
        wait_for(lambda: not os.listdir(spool), 5, what="the spool emptied")
        print("spooled and delivered later: %.1f s" % (time.monotonic() - t0))

    def test_refused_start_is_recorded_and_bad_records_are_refused(self):
        self.collector.start()
        # a TIME already past: refused, and the collector hears of it
        p = self.at("node6", time.time() - 5, "exp-past", ["/bin/true"])
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 1, err)
        doc = wait_for(lambda: self.experiment("exp-past", hosts=1), 10, what="the refusal")
        self.assertEqual(doc["hosts"][0]["outcome"], "refused")
        self.assertIn("in the past", doc["hosts"][0]["reason"])
        self.assertEqual(doc["failed"], ["node6"])
        # a bad id is a usage error before anything happens
        p = subprocess.run([AGENT, "-c", self.conf("node6"), "--experiment", "a/b", "--at", "+1s",
                            "--", "/bin/true"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--experiment ID", p.stderr)
        # validated like status documents: JSON, schema, token
        hdr = {"Content-Type": "application/json", "Authorization": "Bearer t0ken"}
        self.assertEqual(self.collector.request("POST", "/api/v1/starts", "{", hdr)[0], 400)
        self.assertEqual(self.collector.request("POST", "/api/v1/starts", '{"schema": 1}',
                                                hdr)[0], 422)
        hdr["Authorization"] = "Bearer wrong"
        self.assertEqual(self.collector.request("POST", "/api/v1/starts", "{}", hdr)[0], 401)
        self.assertEqual(self.collector.request("GET", "/api/v1/starts?experiment=a/b")[0], 400)

    def test_host_token_writes_its_own_host_only(self):
        """Auth as for status reports: a host's token (token_file) writes that
        host's start records only."""
        tf = os.path.join(self.dir, "host-tokens")
        with open(tf, "w") as f:
            f.write("node7 tok-node7-aaaa\nnode8 tok-node8-bbbb\n")
        os.chmod(tf, 0o640)
        self.collector = Collector(self.dir, port=PORT, addr=ADDR, tokens="fleet-s3cret",
                                   extra="token_file = %s\n" % tf).start()
        conf = self.conf("node7")
        with open(conf) as f:
            text = f.read().replace("token = t0ken", "token = tok-node7-aaaa")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([AGENT, "-c", conf, "--experiment", "exp-tok", "--at",
                            "%.6f" % (time.time() + 1.5), "--", "/bin/true"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = wait_for(lambda: self.experiment("exp-tok", hosts=1), 10, what="node7's record")
        self.assertEqual(doc["hosts"][0]["host"], "node7")
        with open(os.path.join(SOURCE, "tests", "fuzz", "seeds", "start_record",
                               "started.json")) as f:
            forged = f.read().replace("headset3", "node8")
        hdr = {"Content-Type": "application/json", "Authorization": "Bearer tok-node7-aaaa"}
        status, body, _ = self.collector.request("POST", "/api/v1/starts", forged, hdr)
        self.assertEqual(status, 403, body)
        self.assertIn("node8", json.loads(body)["error"])
        hdr["Authorization"] = "Bearer tok-node8-bbbb"
        self.assertEqual(self.collector.request("POST", "/api/v1/starts", forged, hdr)[0], 204)


if __name__ == "__main__":
    main()
