"""Issue 15: a candidate that takes over as master while chronyd follows the
lost master, next to a reachable upstream, selects the upstream again in
seconds: real chronyd -x instances and real agents (--daemon, election on)
on loopback 127.0.47.0/24, announce port 37440.

The path (agent/election/election_control.c): candidate C follows master M; C's
chronyd also lists a stratum-1 upstream U at poll 6 without iburst, so U
has fewer than the three samples chronyd needs to select it and C's
reference is M (C is "synchronised to a candidate", not class 6 locked).
M's node dies (agent and chronyd killed). C takes over: election.c sets
local_on = serve && !upstream_synced, which is true because C is not
synchronised to an upstream, and apply_local() finds chronyd's reference
still M's address (not LOCAL, not 0): it sends RESET_SOURCES, which also
drops U's samples. Without a burst U gets one sample per 64 s poll and is
selected after ~3 minutes; burst_upstreams() asks chronyd for 4 samples of U
at once and U must be selected within UPSTREAM_BOUND_S of the local
reference going on. (Checked: with the burst_upstreams() call commented
out this test fails.) The clocks are this machine's (rejoin_step = none).
About 12 s."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from fctest import AGENT, main, wait_for

KEY = "b0a5" * 16
U_ADDR, M_ADDR, C_ADDR = "127.0.47.1", "127.0.47.11", "127.0.47.12"
PORT = 37440
# a burst of 4 at 2 s intervals plus chronyd's selection: seconds; without
# it the next sample of U is up to 64 s away and the third ~2 polls later
UPSTREAM_BOUND_S = 20


def refid(addr):
    return "".join("%02X" % int(b) for b in addr.split("."))


class Node:
    """A master candidate: its chronyd (-x) and its agent's --daemon."""

    def __init__(self, tmp, name, addr, peer, priority1, servers, extra_conf=""):
        self.name, self.addr, self.tmp = name, addr, tmp
        self.peer, self.priority1 = peer, priority1
        self.chronyd = ChronyInstance("fu-" + name, addr, servers=servers, extra_conf=extra_conf)
        self.proc = None
        self.state = os.path.join(tmp, name + ".json")
        self.conf = os.path.join(tmp, name + ".conf")
        self.logpath = os.path.join(tmp, name + ".log")

    def start_agent(self):
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\n[agent]\nhost = %s\nrole = failover\nbudget_ms = 5\n"
                    "[election]\nenabled = yes\npriority1 = %d\ninterval = 0.5\n"
                    "key_file = %s/fleet.key\ngroup =\nport = %d\nbind = %s\npeers = %s:%d\n"
                    "holdoff = 5\nholdoff_valid = 2\nrejoin_step = none\nstate_file = %s\n"
                    "assume_valid = yes\nwindow = 30\n"
                    % (self.chronyd.socket, self.name, self.priority1, self.tmp, PORT, self.addr,
                       self.peer, PORT, self.state))
        with open(self.logpath, "a") as log:
            self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "--daemon"],
                                         stdout=log, stderr=subprocess.STDOUT)

    def kill(self):
        """The node dies: agent and chronyd killed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        if os.path.exists(self.state):
            os.unlink(self.state)  # a dead agent's view must not be read as current
        self.chronyd.stop()

    def view_is(self, state, master):
        try:
            with open(self.state) as f:
                v = json.load(f)
        except (OSError, ValueError):
            return None
        return v if v.get("state") == state and v.get("master") == master else None

    def logtext(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except OSError:
            return ""

    def source(self, addr):
        """chronyc's line of one source: (state, reach), None if absent."""
        for line in self.chronyd.chronyc("-c", "sources", check=False).splitlines():
            f = line.split(",")
            if len(f) > 5 and f[2] == addr:
                return f[1], f[5]
        return None


class FailoverBesideUpstream(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-field-upstream-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        self.u = ChronyInstance("fu-u", U_ADDR, local_stratum=1)
        self.m = Node(self.tmp, "m", M_ADDR, C_ADDR, 1, [C_ADDR])
        self.c = Node(self.tmp, "c", C_ADDR, M_ADDR, 2, [M_ADDR],
                      extra_conf="server %s minpoll 6 maxpoll 6" % U_ADDR)
        self.nodes = [self.m, self.c]

    def tearDown(self):
        for n in self.nodes:
            n.kill()
        self.u.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def dump(self):
        out = []
        for n in self.nodes:
            out.append("--- %s log (tail)\n%s" % (n.name, n.logtext()[-3000:]))
            if n.chronyd.proc and n.chronyd.proc.poll() is None:
                out.append("--- %s chronyc sources\n%s"
                           % (n.name, n.chronyd.chronyc("sources", check=False)))
        return "\n".join(out)

    def test_upstream_selected_soon_after_failover(self):
        t_start = time.monotonic()
        self.u.start()
        for n in self.nodes:
            n.chronyd.start()
        self.m.start_agent()
        self.assertTrue(wait_for(lambda: self.m.view_is("serving", "m"), 10), self.dump())
        self.c.start_agent()
        self.assertTrue(wait_for(lambda: self.c.view_is("following", "m"), 15), self.dump())
        self.assertTrue(wait_for(lambda: self.c.chronyd.tracking_csv()[0] == refid(M_ADDR), 15),
                        "C's chronyd does not follow M\n" + self.dump())
        # the precondition: U answers but is not selected (fewer than 3 samples)
        self.assertTrue(wait_for(lambda: (self.c.source(U_ADDR) or ("", "0"))[1] != "0", 10),
                        "U never answered C\n" + self.dump())
        self.assertNotEqual(self.c.source(U_ADDR)[0], "*", self.dump())
        self.m.kill()
        t_kill = time.monotonic()
        self.assertTrue(wait_for(lambda: "chronyd local reference on (serving)" in self.c.logtext(),
                                 15), self.dump())
        t_local = time.monotonic()
        selected = wait_for(lambda: (self.c.source(U_ADDR) or ("",))[0] == "*", UPSTREAM_BOUND_S,
                            step=0.2)
        self.assertTrue(selected, "C serves LOCAL and U is not selected %d s after the local "
                        "reference went on\n%s" % (UPSTREAM_BOUND_S, self.dump()))
        t_sel = time.monotonic()
        # and the election then leaves LOCAL: C is synchronised to an upstream
        on = self.c.logtext().index("chronyd local reference on (serving)")
        self.assertTrue(wait_for(lambda: "local reference off" in self.c.logtext()[on:], 10),
                        self.dump())
        print("M killed at %.1f s; C's local reference on %.1f s later; U selected %.1f s after "
              "that (bound %d s); test took %.1f s"
              % (t_kill - t_start, t_local - t_kill, t_sel - t_local, UPSTREAM_BOUND_S,
                 time.monotonic() - t_start))


if __name__ == "__main__":
    main()
