"""ElectionNode - one master candidate for the election tests: its chronyd
(-x, this machine's clock) and its agent running the election in the
foreground (--elect), with the test's own announce port and name prefix."""

import json
import os
import subprocess

from chronyd_harness import ChronyInstance
from fctest import AGENT


class ElectionNode:
    def __init__(self, tmp, name, addr, peers, priority1, servers, port, prefix, extra=""):
        self.name, self.addr, self.tmp = name, addr, tmp
        self.servers, self.priority1, self.peers, self.extra = servers, priority1, peers, extra
        self.port, self.prefix = port, prefix
        self.chronyd = self.proc = self.log = None
        self.state = os.path.join(tmp, name + ".json")
        self.conf = os.path.join(tmp, name + ".conf")

    def start_chronyd(self):
        self.chronyd = ChronyInstance(self.prefix + self.name, self.addr, servers=self.servers).start()

    def start_agent(self, assume_valid):
        """Write the agent's config (key in TMP/fleet.key) and start --elect."""
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\n[agent]\nhost = %s\nrole = failover\nbudget_ms = 5\n"
                    "[election]\nenabled = yes\npriority1 = %d\ninterval = 0.5\n"
                    "key_file = %s/fleet.key\ngroup =\nport = %d\nbind = %s\npeers = %s\n"
                    "holdoff = 5\nholdoff_valid = 2\nrejoin_step = none\nstate_file = %s\n"
                    "assume_valid = %s\n%s"
                    % (self.chronyd.socket, self.name, self.priority1, self.tmp, self.port, self.addr,
                       ",".join("%s:%d" % (p, self.port) for p in self.peers), self.state,
                       "yes" if assume_valid else "no", self.extra))
        if self.log:
            self.log.close()
        self.log = open(os.path.join(self.tmp, self.name + ".log"), "a")
        self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "--elect", "120"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def kill_agent(self):
        """SIGKILL the agent; its view file goes too (a dead agent's view must
        not be read as current)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        if os.path.exists(self.state):
            os.unlink(self.state)

    def stop(self):
        self.kill_agent()
        if self.chronyd:
            self.chronyd.stop()
            self.chronyd = None
        if self.log:
            self.log.close()
            self.log = None

    def view(self):
        try:
            with open(self.state) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def view_is(self, state, master=None):
        v = self.view()
        return v if v and v["state"] == state and (master is None or v["master"] == master) else None

    def refid(self):
        return self.chronyd.tracking_csv()[0]


def dump(nodes):
    """Each node's election view and the tail of its agent's log, for a failure message."""
    out = []
    for n in nodes:
        out.append("--- %s view: %s" % (n.name, json.dumps(n.view())))
        try:
            with open(os.path.join(n.tmp, n.name + ".log")) as f:
                out.append(f.read()[-3000:])
        except OSError:
            pass
    return "\n".join(out)
