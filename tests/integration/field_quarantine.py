#!/usr/bin/env python3
"""Issue 14: an elected master re-applies the OFFLINE quarantine it set in
chronyd after chronyd restarts, with real processes on loopback 127.0.49.x
(announces on 37460):

- U, an upstream NTP server 3 hours ahead (chronyd -x under libfaketime).
- M, a lone master candidate whose chronyd has U as its only server; its
  agent (--elect, sanity_limit 10 s) takes U OFFLINE in chronyd and serves
  from chronyd's local reference (refid 7F7F0101).
- M's chronyd restarted (SIGTERM, start again, same configuration: what the
  Ansible handler does): it comes back with U online and no local
  reference. Within one announce interval and a loose slack, U is OFFLINE
  again in chronyd (chronyc activity) and chronyd serves LOCAL; and it
  never follows U afterwards (chronyd's iburst would select U within about
  a second if the agent left it online).

chronyd always runs with -x (this machine's clock is never touched).
About 15 s."""
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from election_node import ElectionNode
from fctest import main, wait_for

KEY = "8f3a" * 16
M_ADDR, U_ADDR, NOBODY = "127.0.49.11", "127.0.49.19", "127.0.49.29"
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
        self.m = Master(self.tmp, "m", M_ADDR, [NOBODY], 1, [U_ADDR], PORT, "fq-",
                        extra="upstreams = %s\nsanity_limit = 10\n" % U_ADDR)

    def tearDown(self):
        self.m.stop()
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def explain(self):
        try:
            with open(os.path.join(self.tmp, "m.log")) as f:
                log = f.read()[-4000:]
        except OSError:
            log = ""
        return "--- view: %s\n--- chronyd:\n%s--- agent log:\n%s" % (
            json.dumps(self.m.view()), self.m.chronyd.chronyc("sources", check=False), log)

    def quarantined_and_local(self):
        return offline(self.m.chronyd) == 1 and self.m.refid() == LOCAL

    def test_quarantine_reapplied_after_restart(self):
        self.m.start_chronyd()
        self.m.start_agent(assume_valid=True)
        wait_for(lambda: self.m.view_is("serving", "m"), 10, what="M elected\n" + self.explain())
        wait_for(lambda: any(u["offline"] for u in (self.m.view() or {}).get("upstreams", [])),
                 15, what="U quarantined\n" + self.explain())
        u = self.m.view()["upstreams"][0]
        self.assertAlmostEqual(u["offset_s"], 3 * 3600, delta=1)
        wait_for(self.quarantined_and_local, 20,
                 what="U OFFLINE in chronyd and LOCAL served\n" + self.explain())

        back = restart(self.m.chronyd, down_s=0.5)
        seen = {"offline": offline(self.m.chronyd), "refid": self.m.refid()}
        print("right after the restart: %d offline, refid %s" % (seen["offline"], seen["refid"]))
        bound = 2 * INTERVAL + SLACK
        ok = wait_for(self.quarantined_and_local, bound, step=0.05)
        self.assertTrue(ok, "M's chronyd has U online or no local reference %.1f s after its "
                        "return\n%s" % (bound, self.explain()))
        print("master: U OFFLINE and LOCAL again %.2f s after chronyd's return"
              % (time.monotonic() - back))
        self.assertIn("chronyd lost the state this agent set", open(self.m.log.name).read())
        # It stays so: chronyd never gets to follow U (its iburst at
        # minpoll -2 selects a source within about a second when online).
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


if __name__ == "__main__":
    main()
