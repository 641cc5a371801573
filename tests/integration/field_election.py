"""Field faults of the election (issue 14), against real chronyd instances
and real agents (--elect) on loopback 127.0.44.0/24, announce port 37420.

- A recorded announce of an earlier session of the live master, replayed
  to a candidate that follows the master's current session: refused as
  replayed; the master is not aged out and never two candidates serve.
  (Before the fix the old session displaced the live one, whose next
  announces were judged replayed: the follower aged the master out and
  served next to it.)
The clocks are this machine's (chronyd -x, rejoin_step = none)."""

import os
import socket
import tempfile
import threading
import time
import unittest

from chronyd_harness import ChronyInstance
import election_node
from election_node import ElectionNode
from fctest import AGENT, main, wait_for

import subprocess

KEY = "5e1e" * 16
M_ADDR, F_ADDR, RELAY_ADDR, REPLAY_ADDR = "127.0.44.11", "127.0.44.12", "127.0.44.61", "127.0.44.62"
PORT = 37420


def Node(tmp, name, addr, peers, priority1, servers):
    """A master candidate on this test's announce port (tests/harness/election_node.py)."""
    return ElectionNode(tmp, name, addr, peers, priority1, servers, PORT, "fe-", "window = 30\n")


class RecordingRelay(threading.Thread):
    """Forwards M's announces to F, or (cut) only records them."""

    def __init__(self, listen, target):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(listen)
        self.sock.settimeout(0.1)
        self.target, self.cut, self.stopped = target, True, False
        self.recorded = []

    def run(self):
        while not self.stopped:
            try:
                data, _ = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if self.cut:
                self.recorded.append(data)
            else:
                self.sock.sendto(data, self.target)

    def stop(self):
        self.stopped = True
        self.join(2)
        self.sock.close()


class ReplayedSession(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-field-election-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        self.relay = RecordingRelay((RELAY_ADDR, PORT), (F_ADDR, PORT))
        self.relay.start()
        self.m = Node(self.tmp, "m", M_ADDR, [RELAY_ADDR], 1, [F_ADDR])
        self.f = Node(self.tmp, "f", F_ADDR, [M_ADDR], 2, [M_ADDR])
        self.nodes = [self.m, self.f]

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        self.relay.stop()

    def dump(self):
        return election_node.dump(self.nodes)

    def test_old_session_replayed_to_follower(self):
        t_start = time.monotonic()
        for n in self.nodes:
            n.start_chronyd()
        # M's first session: recorded by the relay, never heard by F.
        self.m.start_agent(assume_valid=True)
        self.assertTrue(wait_for(lambda: self.m.view_is("serving", "m"), 8), self.dump())
        self.assertTrue(wait_for(lambda: len(self.relay.recorded) >= 4, 5), self.dump())
        self.m.kill_agent()
        old_session = list(self.relay.recorded)
        # M's live session, heard by F, which starts unproven and rejoins.
        self.relay.cut = False
        self.m.start_agent(assume_valid=True)
        self.f.start_agent(assume_valid=False)
        self.assertTrue(wait_for(lambda: self.m.view_is("serving", "m"), 8), self.dump())
        self.assertTrue(wait_for(lambda: self.f.view_is("following", "m"), 12), self.dump())
        replayed_before = self.f.view()["announces"]["replayed"]
        # The recording replayed to F (within F's window) while M announces.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((REPLAY_ADDR, 0))
        for data in old_session:
            s.sendto(data, (F_ADDR, PORT))
            time.sleep(0.05)
        s.close()
        # Several announce timeouts (3 x 0.5 s): F keeps following M, never
        # serves, and counts the recording as replayed.
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end:
            v, vm = self.f.view(), self.m.view()
            if v:
                self.assertFalse(v["serving"], "F served next to M: %s\n%s" % (v, self.dump()))
                self.assertEqual(v["master"], "m", self.dump())
            if vm:
                self.assertTrue(vm["serving"], self.dump())
            time.sleep(0.05)
        self.assertGreaterEqual(self.f.view()["announces"]["replayed"] - replayed_before,
                                len(old_session), self.dump())
        print("replayed old session: %d announces refused; F followed M throughout "
              "(test took %.1f s)" % (len(old_session), time.monotonic() - t_start))


if __name__ == "__main__":
    main()
