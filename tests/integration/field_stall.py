"""Field fault of the election (issue 14, items 2 and 6): a SIGSTOP'ed
chronyd must not give the fleet two serving masters. Two candidates (real
chronyd -x, real agents --elect, announce interval 0.5 s) on loopback
127.0.50.0/24, announce port 37470.

- The master's chronyd stopped for ~4 s, then (after a master is back) the
  follower's: both election views polled every 50 ms; never both fresh
  running agents' views saying serving (a stalled agent's last view is its
  claim: its chronyd keeps the local reference); a master again after, with
  fresh views (written within the last second).
  (Before the fix the election's chronyd calls waited 1 s, 2 s...: the
  stalled master stopped announcing, the other aged it out and served, and
  the stalled one came back still serving: 1-2 s of two masters.)
The clocks are this machine's (chronyd -x, rejoin_step = none)."""

import os
import signal
import tempfile
import time
import unittest

import election_node
from election_node import ElectionNode
from fctest import main, wait_for

KEY = "5a11" * 16
C1_ADDR, C2_ADDR = "127.0.50.11", "127.0.50.12"
PORT = 37470
FRESH_S = 1.0		# a view written within two announce intervals
STOP_S = 4.0


def Node(tmp, name, addr, peer, priority1):
    return ElectionNode(tmp, name, addr, [peer], priority1, [peer], PORT, "fs-")


class StoppedChronyd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-field-stall-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        self.c1 = Node(self.tmp, "c1", C1_ADDR, C2_ADDR, 1)
        self.c2 = Node(self.tmp, "c2", C2_ADDR, C1_ADDR, 2)
        self.nodes = [self.c1, self.c2]
        self.stopped = None

    def tearDown(self):
        self.cont()
        for n in self.nodes:
            n.stop()

    def cont(self):
        if self.stopped:
            os.kill(self.stopped.chronyd.proc.pid, signal.SIGCONT)
            self.stopped = None

    def dump(self):
        return election_node.dump(self.nodes)

    def fresh_view(self, n):
        try:
            age = time.time() - os.stat(n.state).st_mtime
        except OSError:
            return None
        v = n.view()
        return v if v and age <= FRESH_S else None

    def one_master(self):
        """The name of the single serving node that the other follows, or None."""
        v1, v2 = self.fresh_view(self.c1), self.fresh_view(self.c2)
        if not v1 or not v2 or v1["serving"] == v2["serving"]:
            return None
        m = "c1" if v1["serving"] else "c2"
        return m if v1["master"] == m and v2["master"] == m else None

    def live_view(self, n):
        """The view of a running agent, read now. A stalled agent's view is
        not fresh, but it is still its claim: its chronyd keeps the local
        reference on and serves as soon as it runs again."""
        return n.view() if n.proc and n.proc.poll() is None else None

    def watch(self, seconds, what):
        """Poll both views every 50 ms: never both serving."""
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            v1, v2 = self.live_view(self.c1), self.live_view(self.c2)
            if v1 and v2:
                self.assertFalse(v1["serving"] and v2["serving"],
                                 "%s: two candidates serving at once\n%s" % (what, self.dump()))
            time.sleep(0.05)

    def stall(self, node, what):
        os.kill(node.chronyd.proc.pid, signal.SIGSTOP)
        self.stopped = node
        self.watch(STOP_S, what + " (chronyd stopped)")
        self.cont()
        self.watch(1.5, what + " (chronyd resumed)")
        self.assertTrue(wait_for(lambda: self.one_master() and
                                 all(n.view_is("serving") or n.view_is("following") for n in self.nodes),
                                 15), "%s: no master after\n%s" % (what, self.dump()))
        self.watch(1.0, what + " (after)")

    def test_sigstop_master_then_follower(self):
        t_start = time.monotonic()
        for n in self.nodes:
            n.start_chronyd()
        self.c1.start_agent(assume_valid=True)
        self.assertTrue(wait_for(lambda: self.c1.view_is("serving", "c1"), 8), self.dump())
        self.c2.start_agent(assume_valid=True)
        self.assertTrue(wait_for(lambda: self.c2.view_is("following", "c1") and
                                 self.one_master() == "c1", 15), self.dump())
        self.stall(self.c1, "master c1's chronyd")
        master = self.one_master()
        follower = self.c2 if master == "c1" else self.c1
        self.stall(follower, "follower %s's chronyd" % follower.name)
        print("SIGSTOP'ed chronyd of the master, then of the follower: never two serving; "
              "master at the end %s (test took %.1f s)" % (self.one_master(),
                                                          time.monotonic() - t_start))


    def test_sigstop_agent(self):
        """The serving agent itself stopped for ~4 s (a debugger, a wedged
        SD card), then continued: it keeps running (--elect used to leave
        on the EINTR of SIGCONT), and once it runs again it never claims to
        serve beside the candidate that took over (fresh views only: while
        stopped, it cannot say anything)."""
        for n in self.nodes:
            n.start_chronyd()
        self.c1.start_agent(assume_valid=True)
        self.assertTrue(wait_for(lambda: self.c1.view_is("serving", "c1"), 8), self.dump())
        self.c2.start_agent(assume_valid=True)
        self.assertTrue(wait_for(lambda: self.one_master() == "c1", 15), self.dump())
        os.kill(self.c1.proc.pid, signal.SIGSTOP)
        time.sleep(STOP_S)
        os.kill(self.c1.proc.pid, signal.SIGCONT)
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            v1, v2 = self.fresh_view(self.c1), self.fresh_view(self.c2)
            if v1 and v2 and os.stat(self.c1.state).st_mtime > time.time() - 1.0:
                self.assertFalse(v1["serving"] and v2["serving"],
                                 "two serving after the agent's SIGCONT\n" + self.dump())
            time.sleep(0.05)
        self.assertIsNone(self.c1.proc.poll(), "the agent left after SIGSTOP/SIGCONT\n" + self.dump())
        self.assertTrue(wait_for(lambda: self.one_master() is not None, 15), self.dump())
        print("agent SIGSTOP'ed for %.0f s: still running, master after %s" % (STOP_S, self.one_master()))


if __name__ == "__main__":
    main()
