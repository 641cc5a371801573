#!/usr/bin/env python3
"""Field faults of chronyd under a running agent (issue 14, items 1 and 2),
with real processes on loopback 127.0.41.x (ports 8810-8829, announces
37410-37419):

- chronyd restarted (SIGTERM, start again: what the Ansible handler does)
  under a running --daemon: a plain node's reports carry chronyd's data
  again within one report interval of chronyd's return; an elected master's
  chronyd has the local reference again (refid 7F7F0101, it serves) within
  one announce interval + one report interval.
- chronyd SIGSTOP'ed: several --status and a daemon keep coming back within
  their timeouts (none blocks in sendto on the full queue), and the daemon
  reports chronyd's data again once it continues.
- client sockets left by a killed agent in chronyd's socket directory are
  removed by the next agent; a live agent's is kept.
chronyd always runs with -x (this machine's clock is never touched)."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from collector_harness import Collector
from fctest import AGENT, main, wait_for

COLL_ADDR = "127.0.41.1"
INTERVAL = 0.5          # report and announce interval, s
CHRONY_TIMEOUT_MS = 200  # 3 attempts: 0.2 + 0.4 + 0.8 = 1.4 s per command
SLACK = 3.0             # loose: a shared, noisy machine
KEY = "8f3a" * 16


class Agent:
    """fleetclock-agent --daemon reporting to the test's collector."""

    def __init__(self, workdir, host, socket_path, port, extra=""):
        self.host = host
        self.conf = os.path.join(workdir, host + ".conf")
        self.log = os.path.join(workdir, host + ".log")
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = %d\n"
                    "[agent]\nhost = %s\nrole = headset\n"
                    "[collector]\nurl = http://%s:%d/api/v1/status\ntoken = t0ken\n"
                    "interval_s = %s\nconnect_timeout_ms = 300\ntimeout_ms = 1000\n"
                    "spool_dir = %s\nbackoff_max_s = 0.5\n%s"
                    % (socket_path, CHRONY_TIMEOUT_MS, host, COLL_ADDR, port, INTERVAL,
                       os.path.join(workdir, "spool-" + host), extra))
        os.chmod(self.conf, 0o600)
        self.proc = None

    def start(self):
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "-v", "--daemon"],
                                         stdout=logf, stderr=logf)
        return self

    def status(self):
        """A one-shot --status against the same chronyd, not waited for."""
        return subprocess.Popen([AGENT, "-c", self.conf, "--status"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logtext(self):
        with open(self.log) as f:
            return f.read()


def restart(inst, down_s):
    """Stop chronyd as systemd does (SIGTERM: it removes its socket), keep
    its directory, start it again; returns the monotonic time it answers."""
    os.killpg(inst.proc.pid, signal.SIGTERM)
    inst.proc.wait(10)
    time.sleep(down_s)
    inst.start()
    return time.monotonic()


class FieldChronyd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-field-chronyd-")
        cls.collector = Collector(cls.tmp, port=8810, addr=COLL_ADDR).start()

    @classmethod
    def tearDownClass(cls):
        cls.collector.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        self.agents, self.chronyds, self.procs = [], [], []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        for a in self.agents:
            a.kill()
        for c in self.chronyds:
            if c.proc and c.proc.poll() is None:
                os.kill(c.proc.pid, signal.SIGCONT)
            c.stop()

    def chronyd(self, name, addr, **kw):
        c = ChronyInstance(name, addr, **kw).start()
        self.chronyds.append(c)
        return c

    def agent(self, host, chronyd, extra=""):
        a = Agent(self.dir, host, chronyd.socket, 8810, extra)
        self.agents.append(a)
        return a.start()

    def reports(self, host, since_mono=None):
        """(received monotonic-equivalent, doc) of the host's stored reports, in
        arrival order; since_mono: only those received after that time."""
        now_real, now_mono = time.time(), time.monotonic()
        rows = self.collector.rows("SELECT received_us, doc FROM reports WHERE host = ? "
                                   "ORDER BY rowid", (host,))
        out = [(r[0] / 1e6 - now_real + now_mono, json.loads(r[1])) for r in rows]
        return [r for r in out if since_mono is None or r[0] > since_mono]

    def with_chrony(self, host, since_mono):
        return [r for r in self.reports(host, since_mono) if r[1].get("chrony")]

    def explain(self, a):
        return "agent log:\n" + a.logtext()[-4000:]

    def test_plain_node_restart(self):
        c = self.chronyd("fld-plain", "127.0.41.2", local_stratum=8, serve=False)
        a = self.agent("fld-plain", c)
        wait_for(lambda: self.with_chrony("fld-plain", 0), 15, what="a report with chrony data")
        t0 = time.monotonic()
        back = restart(c, down_s=1.5)
        # while it was down the reports said so
        down = [r for r in self.reports("fld-plain", t0) if r[0] < back and not r[1]["chrony"]]
        self.assertTrue(down, self.explain(a))
        self.assertTrue(any("chronyd" in (r[1].get("chrony_error") or "") for r in down), down[-1])
        first = wait_for(lambda: self.with_chrony("fld-plain", back), INTERVAL + SLACK)
        self.assertTrue(first, "no report with chrony data within %.1f s of chronyd's return\n%s"
                        % (INTERVAL + SLACK, self.explain(a)))
        print("plain node: chrony data %.2f s after chronyd's return" % (first[0][0] - back))
        # and from then on every report has it (no second failure)
        time.sleep(4 * INTERVAL)
        later = self.reports("fld-plain", first[0][0])
        self.assertTrue(later and all(r[1]["chrony"] for r in later), later)
        self.assertEqual(a.proc.poll(), None)

    def test_elected_master_restart(self):
        # A lone candidate with no upstream serves from chronyd's local reference.
        c = self.chronyd("fld-master", "127.0.41.3")
        key = os.path.join(self.dir, "fleet.key")
        with open(key, "w") as f:
            f.write(KEY + "\n")
        os.chmod(key, 0o600)
        a = self.agent("fld-master", c, extra=(
            "[election]\nenabled = yes\ninterval = %s\nkey_file = %s\ngroup =\nport = 37410\n"
            "bind = 127.0.41.3\npeers = 127.0.41.29:37410\nrejoin_step = none\n"
            "assume_valid = yes\nstate_file = %s\n"
            % (INTERVAL, key, os.path.join(self.dir, "election.json"))))
        wait_for(lambda: c.tracking_csv()[0] == "7F7F0101", 20,
                 what="the master's chronyd on its local reference\n" + self.explain(a))
        back = restart(c, down_s=1.5)
        self.assertNotEqual(c.tracking_csv()[0], "7F7F0101")  # chronyd forgot it
        bound = 2 * INTERVAL + SLACK
        ok = wait_for(lambda: c.tracking_csv()[0] == "7F7F0101", bound, step=0.05)
        self.assertTrue(ok, "the master's chronyd has no local reference %.1f s after its return "
                        "(refid %s)\n%s" % (bound, c.tracking_csv()[0], self.explain(a)))
        print("elected master: local reference again %.2f s after chronyd's return"
              % (time.monotonic() - back))
        self.assertIn("chronyd lost the state this agent set", a.logtext())
        # serving, and its reports carry chrony data and the serving view
        wait_for(lambda: [r for r in self.with_chrony("fld-master", back)
                          if (r[1].get("election") or {}).get("state") == "serving"
                          and r[1]["chrony"]["tracking"]["ref_id"] == "7F7F0101"],
                 INTERVAL + SLACK, what="a serving report with the local reference")

    def test_stopped_chronyd(self):
        c = self.chronyd("fld-stop", "127.0.41.4", local_stratum=8, serve=False)
        a = self.agent("fld-stop", c)
        wait_for(lambda: self.with_chrony("fld-stop", 0), 15, what="a report with chrony data")
        os.kill(c.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        # Several one-shot commands at once and in a row: each sends up to
        # 3 datagrams into a queue of 10 that nobody reads.
        for _ in range(3):
            batch = [a.status() for _ in range(4)]
            self.procs += batch
            for p in batch:
                try:
                    p.wait(timeout=10)  # 1.4 s of timeouts (+ a second batch)
                except subprocess.TimeoutExpired:
                    self.fail("--status blocked against a stopped chronyd\n" + self.explain(a))
                err = p.stderr.read()
                self.assertEqual(p.returncode, 2, err)
                self.assertIn("no valid reply from chronyd at unix:%s" % c.socket, err)
        # The daemon keeps reporting (each report costs a timeout, then the
        # socket is reopened): it is not blocked in sendto.
        t = time.monotonic()
        time.sleep(6)
        during = self.reports("fld-stop", t)
        self.assertGreaterEqual(len(during), 2, "the daemon stopped reporting\n" + self.explain(a))
        self.assertTrue(all(not r[1]["chrony"] for r in during), during)
        self.assertIn("no valid reply", during[-1][1]["chrony_error"])
        os.kill(c.proc.pid, signal.SIGCONT)
        cont = time.monotonic()
        print("stopped for %.1f s" % (cont - stopped))
        # after its timeout and one interval, chronyd's data is back
        bound = 1.4 + INTERVAL + SLACK
        first = wait_for(lambda: self.with_chrony("fld-stop", cont), bound)
        self.assertTrue(first, "no chrony data within %.1f s of SIGCONT\n%s" % (bound, self.explain(a)))
        self.assertEqual(a.proc.poll(), None)

    def own_sockets(self, c, pid):
        return glob.glob(os.path.join(c.dir, "fleetclock.%d.*.sock" % pid))

    def test_stale_sockets_removed(self):
        c = self.chronyd("fld-stale", "127.0.41.5", local_stratum=8, serve=False)
        live = self.agent("fld-live", c)
        killed = self.agent("fld-killed", c)
        for a in (live, killed):
            wait_for(lambda: self.own_sockets(c, a.proc.pid), 15,
                     what="%s's client socket in %s" % (a.host, c.dir))
        pid = killed.proc.pid
        killed.kill()
        self.assertTrue(self.own_sockets(c, pid), "SIGKILL left no socket behind: nothing to test")
        p = live.status()
        self.procs.append(p)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.own_sockets(c, pid), [], "the killed agent's socket is still there")
        self.assertTrue(self.own_sockets(c, live.proc.pid), "a live agent's socket was removed")


class Candidate:
    """A master candidate: its chronyd (following the other candidates) and
    its agent running the election in the foreground (--elect)."""

    def __init__(self, tmp, name, addr, others, priority1):
        self.name, self.addr = name, addr
        self.chronyd = ChronyInstance("fld-" + name, addr, servers=others).start()
        self.conf = os.path.join(tmp, name + ".conf")
        self.logpath = os.path.join(tmp, name + ".log")
        self.state = os.path.join(tmp, name + ".json")
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntimeout_ms = %d\n[agent]\nhost = %s\nrole = failover\n"
                    "[election]\nenabled = yes\npriority1 = %d\ninterval = %s\n"
                    "key_file = %s/fleet.key\ngroup =\nport = 37411\nbind = %s\npeers = %s\n"
                    "rejoin_step = none\nassume_valid = yes\nstate_file = %s\n"
                    % (self.chronyd.socket, CHRONY_TIMEOUT_MS, name, priority1, INTERVAL, tmp,
                       addr, ",".join("%s:37411" % o for o in others), self.state))
        with open(self.logpath, "a") as logf:
            self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "--elect", "120"],
                                         stdout=logf, stderr=subprocess.STDOUT)

    def view_is(self, state, master):
        try:
            with open(self.state) as f:
                v = json.load(f)
        except (OSError, ValueError):
            return False
        return v["state"] == state and v["master"] == master

    def offline(self):
        """How many of its sources chronyd has offline (chronyc activity):
        offline, or in a burst (iburst at start) and offline after it."""
        out = self.chronyd.chronyc("activity")
        n = [int(line.split()[0]) for line in out.splitlines()
             if line.endswith("sources offline") or line.endswith("(return to offline)")]
        if len(n) != 2:
            raise AssertionError("unexpected chronyc activity output: %r" % out)
        return sum(n)

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.chronyd.stop()


class FieldElection(unittest.TestCase):
    """Three candidates: M serves (M's chronyd has F and H offline), F and H
    follow M (each has the other follower offline). A restarted chronyd
    forgets those OFFLINE states; the agent puts them back within one
    announce interval, seen in chronyd's ACTIVITY (the follower: nothing
    else tells) or its reference (the master)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-field-election-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        addrs = {"m": "127.0.41.11", "f": "127.0.41.12", "h": "127.0.41.13"}
        self.nodes = []
        for p1, name in enumerate("mfh", start=1):
            self.nodes.append(Candidate(self.tmp, name, addrs[name],
                                        [a for n, a in addrs.items() if n != name], p1))
        self.m, self.f, self.h = self.nodes

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def explain(self):
        return "\n".join("--- %s\n%s" % (n.name, n.logtext()[-2500:]) for n in self.nodes)

    def test_offline_sources_reapplied(self):
        wait_for(lambda: self.m.view_is("serving", "m") and self.f.view_is("following", "m")
                 and self.h.view_is("following", "m"), 20, what="M elected\n" + self.explain())
        wait_for(lambda: self.m.offline() == 2 and self.f.offline() == 1, 10,
                 what="the OFFLINE states set\n" + self.explain())
        bound = 2 * INTERVAL + SLACK
        # a follower's chronyd restarted: its reference comes back by itself,
        # only ACTIVITY shows that H is online again
        back = restart(self.f.chronyd, down_s=0.5)
        self.assertEqual(self.f.offline(), 0)
        self.assertTrue(wait_for(lambda: self.f.offline() == 1, bound, step=0.05),
                        "F's chronyd has H online %.1f s after its return\n%s" % (bound, self.explain()))
        print("follower: OFFLINE again %.2f s after chronyd's return" % (time.monotonic() - back))
        # the master's: local reference and both candidates offline again
        back = restart(self.m.chronyd, down_s=0.5)
        self.assertTrue(wait_for(lambda: self.m.chronyd.tracking_csv()[0] == "7F7F0101"
                                 and self.m.offline() == 2, bound, step=0.05),
                        "M's chronyd not serving with F, H offline %.1f s after its return\n%s"
                        % (bound, self.explain()))
        print("master: local reference and OFFLINE again %.2f s after chronyd's return"
              % (time.monotonic() - back))
        self.assertTrue(self.m.view_is("serving", "m"), self.explain())
        for n in self.nodes:
            self.assertIsNone(n.proc.poll(), n.name)


if __name__ == "__main__":
    main()
