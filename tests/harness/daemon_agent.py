"""daemon_agent - one fleetclock-agent --daemon reporting to a collector,
with its own config, spool and log; optionally a master candidate
([election] enabled, its view in STATE_FILE).

    a = DaemonAgent(tmp, "pi-01", chronyd.socket, "http://127.0.4.1:8470/api/v1/status",
                    spool=tmp + "/spool-pi-01").start()
"""
import os
import subprocess

from fctest import AGENT


def election_conf(addr, port, peers, priority1, key_file, state_file, interval):
    """The [election] section of a candidate (rejoin_step = none: the clocks
    are this machine's)."""
    return ("[election]\nenabled = yes\npriority1 = %d\ninterval = %s\nkey_file = %s\ngroup =\n"
            "port = %d\nbind = %s\npeers = %s\nrejoin_step = none\nassume_valid = yes\n"
            "state_file = %s\n"
            % (priority1, interval, key_file, port, addr,
               ",".join("%s:%d" % (p, port) for p in peers), state_file))


class DaemonAgent:
    def __init__(self, workdir, host, socket_path, url, spool, role="headset", interval=1.0,
                 chrony_timeout_ms=200, token="t0ken", extra=""):
        self.host, self.spool = host, spool
        self.conf = os.path.join(workdir, host + ".conf")
        self.logpath = os.path.join(workdir, host + ".log")
        with open(self.conf, "w") as f:
            f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = %d\n"
                    "[agent]\nhost = %s\nrole = %s\n[rtc]\ndevice = none\n"
                    "[collector]\nurl = %s\ntoken = %s\ninterval_s = %s\n"
                    "connect_timeout_ms = 300\ntimeout_ms = 1000\nspool_dir = %s\n"
                    "backoff_max_s = 0.5\n%s"
                    % (socket_path, chrony_timeout_ms, host, role, url, token, interval,
                       spool, extra))
        os.chmod(self.conf, 0o600)
        self.proc = None

    def start(self):
        with open(self.logpath, "a") as logf:
            self.proc = subprocess.Popen([AGENT, "-c", self.conf, "-v", "--daemon"],
                                         stdout=logf, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=9):
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self):
        """SIGTERM (the daemon's orderly stop), SIGKILL after 10 s."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def status(self, timeout):
        """One --status against the same chronyd; (returncode or None when it
        did not answer within timeout, seconds taken is up to the caller)."""
        try:
            return subprocess.run([AGENT, "-c", self.conf, "--status"], capture_output=True,
                                  text=True, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return None

    def spooled(self):
        try:
            return sorted(f for f in os.listdir(self.spool) if f.endswith(".json"))
        except OSError:
            return []

    def logtext(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except OSError:
            return ""
