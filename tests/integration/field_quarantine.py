#!/usr/bin/env python3
"""Issue 14: an elected master re-applies the OFFLINE quarantine it set in
chronyd after chronyd restarts, with real processes on loopback 127.0.49.x
(announces on 37460-37462):

- U, an upstream NTP server 3 hours ahead (chronyd -x under libfaketime).
- M, a lone master candidate whose chronyd has U as its only server; its
  agent (--elect, sanity_limit 10 s) takes U OFFLINE in chronyd and serves
  from chronyd's local reference (refid 7F7F0101).
- M's chronyd restarted (SIGTERM, start again, same configuration: what the
  Ansible handler does): it comes back with U online and no local
  reference. Within one announce interval and a loose slack, U is OFFLINE
  again in chronyd (chronyc activity) and chronyd serves LOCAL, and stays
  so. (M's chronyd ignores clock updates over 1 s, see Master: with -x it
  would otherwise take U's time as its own at once.)
- A follower F (announces on 37462) with U as an upstream beside the
  master M2: its chronyd restarted, hidden from its agent until it has
  polled U (iburst), comes back with U online and U's samples in its
  selection; U is OFFLINE again (ACTIVITY: F's reference comes back by
  itself) and F follows M2 again (U's samples dropped: beside them M2 alone
  has no majority, and chronyd would follow nothing for good).
- The holdover frequency (announces on 37461), on the simulator's virtual
  clocks: H, 20 ppm fast, follows M; M dies and H serves LOCAL with the
  rate fitted while following (DFREQ); H's chronyd crashes (SIGKILL) and
  comes back at its driftfile's 15 ppm; within one announce interval and
  the slack it is at LOCAL with the fitted rate again.

chronyd runs with -x (this machine's clock is never touched), or on a
virtual clock without CAP_SYS_TIME. About 30 s."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from election_node import ElectionNode
from fctest import AGENT, main, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
from simnode import SimNode  # noqa: E402

KEY = "8f3a" * 16
M_ADDR, U_ADDR, NOBODY = "127.0.49.11", "127.0.49.19", "127.0.49.29"
M2_ADDR, F_ADDR = "127.0.49.21", "127.0.49.22"
M3_ADDR, H_ADDR = "127.0.49.31", "127.0.49.32"
PORT = 37460
INTERVAL = 0.5   # the election interval (ElectionNode's)
SLACK = 3.0      # loose: a shared, noisy machine
LOCAL = "7F7F0101"
U_REFID = "7F003113"  # 127.0.49.19


def offline(inst):
    """How many of chronyd's sources are offline (chronyc activity):
    offline, or in a burst and offline after it."""
    out = inst.chronyc("activity")
    n = [int(line.split()[0]) for line in out.splitlines()
         if line.endswith("sources offline") or line.endswith("(return to offline)")]
    if len(n) != 2:
        raise AssertionError("unexpected chronyc activity output: %r" % out)
    return sum(n)


def samples(inst, addr):
    """How many samples chronyd holds of the source at addr (sourcestats NP)."""
    for line in inst.chronyc("-c", "sourcestats").splitlines():
        f = line.split(",")
        if f[0] == addr:
            return int(f[1])
    return 0


def until(test, pred, timeout, what):
    """wait_for, failing with what and the test's explain() (read then)."""
    v = wait_for(pred, timeout)
    if not v:
        test.fail("timed out after %.0f s waiting for %s\n%s" % (timeout, what, test.explain()))
    return v


def restart(inst, down_s):
    """Stop chronyd as systemd does (SIGTERM), start it again with the same
    configuration; returns the monotonic time it answers again."""
    os.killpg(inst.proc.pid, signal.SIGTERM)
    inst.proc.wait(10)
    time.sleep(down_s)
    inst.start()
    return time.monotonic()


class Master(ElectionNode):
    """M's chronyd ignores every clock update of more than 1 s (maxchange
    1 0 -1). With -x, chronyd otherwise moves its own idea of the time (not
    this machine's clock) to U's at its first update, a fraction of a second
    after start at minpoll -2, and then sees U 0 s off; in the field (poll
    6) the agent takes U offline before chronyd's first update. This keeps
    U's 3 h in chronyd's samples, as the agent would see it there."""

    def start_chronyd(self):
        self.chronyd = ChronyInstance(self.prefix + self.name, self.addr, servers=self.servers,
                                      extra_conf="maxchange 1 0 -1").start()


class FieldQuarantine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-field-quarantine-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        self.up = ChronyInstance("fq-up", U_ADDR, local_stratum=3, faketime="+3h").start()
        self.nodes = []

    def node(self, name, addr, peers, priority1, servers, port, extra=""):
        n = Master(self.tmp, name, addr, peers, priority1, servers, port, "fq-", extra)
        self.nodes.append(n)
        n.start_chronyd()
        n.start_agent(assume_valid=True)
        return n

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def explain(self):
        out = []
        for n in self.nodes:
            try:
                with open(os.path.join(self.tmp, n.name + ".log")) as f:
                    log = f.read()[-3000:]
            except OSError:
                log = ""
            out.append("--- %s view: %s\n--- chronyd:\n%s--- agent log:\n%s" % (
                n.name, json.dumps(n.view()),
                n.chronyd.chronyc("sources", check=False) if n.chronyd else "", log))
        return "\n".join(out)

    def quarantined_and_local(self):
        return offline(self.m.chronyd) == 1 and self.m.refid() == LOCAL

    def test_quarantine_reapplied_after_restart(self):
        self.m = self.node("m", M_ADDR, [NOBODY], 1, [U_ADDR], PORT,
                           "upstreams = %s\nsanity_limit = 10\n" % U_ADDR)
        until(self, lambda: self.m.view_is("serving", "m"), 10, "M elected")
        until(self, lambda: any(u["offline"] for u in (self.m.view() or {}).get("upstreams", [])),
              15, "U quarantined")
        u = self.m.view()["upstreams"][0]
        self.assertAlmostEqual(u["offset_s"], 3 * 3600, delta=1)
        until(self, self.quarantined_and_local, 20, "U OFFLINE in chronyd and LOCAL served")

        back = restart(self.m.chronyd, down_s=0.5)
        seen = {"offline": offline(self.m.chronyd), "refid": self.m.refid()}
        print("right after the restart: %d offline, refid %s" % (seen["offline"], seen["refid"]))
        bound = 2 * INTERVAL + SLACK
        ok = wait_for(self.quarantined_and_local, bound, step=0.05)
        self.assertTrue(ok, "M's chronyd has U online or no local reference %.1f s after its "
                        "return\n%s" % (bound, self.explain()))
        print("master: U OFFLINE and LOCAL again %.2f s after chronyd's return"
              % (time.monotonic() - back))
        with open(self.m.log.name) as f:
            self.assertIn("chronyd lost the state this agent set", f.read())
        # It stays so (an online U is polled every 0.25 s).
        t_end = time.monotonic() + 4.0
        while time.monotonic() < t_end:
            refid, n = self.m.refid(), offline(self.m.chronyd)
            self.assertNotEqual(refid, U_REFID, "M's chronyd follows U, 3 h off\n" + self.explain())
            self.assertEqual((refid, n), (LOCAL, 1), self.explain())
            time.sleep(0.1)
        v = self.m.view()
        self.assertEqual((v["state"], v["master"]), ("serving", "m"))
        self.assertTrue(v["upstreams"][0]["offline"], v)
        self.assertIsNone(self.m.proc.poll())

    def test_follower_quarantine_reapplied_after_restart(self):
        """A follower's chronyd comes back synchronised to the master by
        itself: only ACTIVITY shows the quarantined upstream online."""
        m = self.node("m2", M2_ADDR, [F_ADDR], 1, [F_ADDR], PORT + 2)
        f = self.node("f", F_ADDR, [M2_ADDR], 2, [M2_ADDR, U_ADDR], PORT + 2,
                      "upstreams = %s\nsanity_limit = 10\n" % U_ADDR)
        m_refid = "%02X%02X%02X%02X" % tuple(int(x) for x in M2_ADDR.split("."))
        until(self, lambda: f.view_is("following", "m2") and m.view_is("serving", "m2"), 15,
              "M elected, F following")
        until(self, lambda: any(u["offline"] for u in (f.view() or {}).get("upstreams", [])),
              15, "U quarantined on F")
        until(self, lambda: offline(f.chronyd) == 1 and f.refid() == m_refid, 20,
              "F's chronyd on M with U OFFLINE")
        # F's chronyd restarted with its command socket first elsewhere in
        # its directory, where F's agent does not look, until chronyd has
        # polled U (iburst); then linked where the agent looks. What a round
        # that comes after chronyd's first replies sees in the field, made
        # certain here. (A SIGSTOP'ed agent would do, but --elect leaves on
        # the EINTR of SIGCONT.)
        path = f.chronyd.socket
        os.killpg(f.chronyd.proc.pid, signal.SIGTERM)
        f.chronyd.proc.wait(10)
        f.chronyd.socket = os.path.join(os.path.dirname(path), "hidden.sock")
        f.chronyd.start()
        # both sampled, no majority: chronyd follows neither
        until(self, lambda: samples(f.chronyd, U_ADDR) >= 3 and samples(f.chronyd, M2_ADDR) >= 3
              and f.refid() == "00000000", 8, "U and M2 sampled by F's chronyd, neither followed")
        os.symlink(f.chronyd.socket, path)
        back = time.monotonic()
        print("follower, chronyd shown to the agent with %d samples of U, refid %s"
              % (samples(f.chronyd, U_ADDR), f.refid()))
        bound = 2 * INTERVAL + SLACK
        ok = wait_for(lambda: offline(f.chronyd) == 1, bound, step=0.05)
        self.assertTrue(ok, "F's chronyd has U online %.1f s after its return\n%s"
                        % (bound, self.explain()))
        print("follower: U OFFLINE again %.2f s after chronyd's return" % (time.monotonic() - back))
        # and it follows M again (not stuck beside U's samples taken before
        # U was OFFLINE again: with M alone no majority)
        until(self, lambda: f.refid() == m_refid, bound, "F's chronyd on M again")
        print("follower: on M again %.2f s after chronyd's return" % (time.monotonic() - back))
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            self.assertEqual((f.refid(), offline(f.chronyd)), (m_refid, 1), self.explain())
            time.sleep(0.1)
        self.assertTrue(f.view_is("following", "m2"), self.explain())


HOLDOVER_CONF = """[chrony]
socket = {sock}
[agent]
host = {name}
budget_ms = 5
[rtc]
device = none
[election]
enabled = yes
assume_valid = yes
priority1 = {prio}
interval = {interval}
key_file = {work}/fleet.key
group =
port = {port}
bind = {addr}
peers = {peer}:{port}
rejoin_step = none
state_file = {dir}/election.json
holdover_freq_settle = 2
holdover_freq_min = 10
"""


class Holdover(unittest.TestCase):
    """The holdover frequency, on the simulator's virtual clocks (chronyd
    without -x disciplines its node's virtual clock; CAP_SYS_TIME dropped):
    H, 20 ppm fast, follows M; M dies, H serves LOCAL and gives chronyd
    the rate fitted while following (DFREQ). H's chronyd crashes (SIGKILL)
    and is started again with an older driftfile (15 ppm; chronyd writes it
    at exit and hourly): it comes back at 15 ppm, and the agent sends the
    fitted rate again with the local reference."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="fc-field-holdover-")
        self.nodes = []
        with open(os.path.join(self.work, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.work, "fleet.key"), 0o600)

    def tearDown(self):
        for n in self.nodes:
            n.stop()
            n.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)

    def candidate(self, name, addr, peer, prio, **kw):
        n = SimNode(name, addr, workdir=self.work, allow="127.0.0.0/8", serve=True, poll=-1, **kw)
        self.nodes.append(n)
        n.start().wait_ready()
        conf = os.path.join(n.dir, "agent.conf")
        with open(conf, "w") as f:
            f.write(HOLDOVER_CONF.format(sock=n.sock, name=name, prio=prio, work=self.work,
                                         addr=addr, peer=peer, dir=n.dir, port=PORT + 1,
                                         interval=INTERVAL))
        n.agent_log = os.path.join(n.dir, "agent.log")
        with open(n.agent_log, "ab") as log:
            n.run_on_clock([AGENT, "-c", conf, "-v", "--elect", "120"], stdout=log,
                           stderr=subprocess.STDOUT)
        return n

    @staticmethod
    def view(n):
        try:
            with open(os.path.join(n.dir, "election.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def explain(self):
        with open(self.h.agent_log, errors="replace") as f:
            return "view %s\ntracking %s\nlog:\n%s" % (json.dumps(self.view(self.h)),
                                                       self.h.tracking(), f.read()[-3000:])

    def freq(self):
        t = self.h.tracking()
        return t["freq_ppm"] if t else None

    def test_holdover_frequency_reapplied_after_restart(self):
        self.m = self.candidate("fq-m", M3_ADDR, H_ADDR, 1)
        self.h = self.candidate("fq-h", H_ADDR, M3_ADDR, 2, drift=20.0, driftfile_ppm=19.5,
                                servers=[(M3_ADDR, 123, "")])

        def fitted():
            v = self.view(self.h)
            return (v and v["state"] == "following" and v["master"] == "fq-m"
                    and v["holdover_freq"]["ppm"] is not None and v["holdover_freq"]["span_s"] >= 10)
        until(self, fitted, 60, "H following M with 10 s fitted")
        self.m.stop()
        until(self, lambda: (self.view(self.h) or {}).get("state") == "serving", 10, "H serving")
        applied = until(self, lambda: self.view(self.h)["holdover_freq"]["applied"], 5,
                        "the holdover frequency applied")
        ppm = applied["ppm"]
        # the clock is 20 ppm fast and M's exact: that is what H followed
        # (loosely: a 10 s fit; its accuracy is test_agent_vclock's)
        self.assertAlmostEqual(ppm, 20.0, delta=3.0, msg=self.explain())
        until(self, lambda: abs(self.freq() - ppm) < 0.01, 3, "chronyd at the fitted rate")
        # chronyd crashes, and is started again on the same clock, with the
        # driftfile an earlier (hourly) write left: 15 ppm, not the fitted rate
        self.h.proc.send_signal(signal.SIGKILL)  # by the PID we recorded
        self.h.proc.wait(5)
        self.h._logf.close()
        with open(os.path.join(self.h.dir, "drift"), "w") as f:
            f.write("15.000000 0.100000\n")
        self.h.start(fresh_clock=False).wait_ready()
        back = time.monotonic()
        bound = 2 * INTERVAL + SLACK
        ok = wait_for(lambda: self.h.tracking()["ref_id"] == 0x7F7F0101
                      and abs(self.freq() - ppm) < 0.01, bound, step=0.05)
        self.assertTrue(ok, "H's chronyd not at LOCAL with %+.3f ppm %.1f s after its return\n%s"
                        % (ppm, bound, self.explain()))
        print("holdover: fitted %+.3f ppm, chronyd at it again %.2f s after its return"
              % (ppm, time.monotonic() - back))
        # chronyd came back at its driftfile's rate (the agent read it then:
        # the agent is faster than this test's first look)
        again = self.view(self.h)["holdover_freq"]["applied"]
        self.assertAlmostEqual(again["chronyd_ppm"], 15.0, delta=0.01, msg=self.explain())
        self.assertAlmostEqual(again["ppm"], ppm, delta=1e-6)
        self.assertEqual(self.view(self.h)["state"], "serving")


if __name__ == "__main__":
    main()
