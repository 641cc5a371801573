"""chronyd_harness - start and stop real chronyd instances for tests.

Each instance runs `chronyd -x -n -f CONF` (never touching this machine's
clock) in a private directory under /tmp owned by _chrony with mode 0770
(chronyd refuses a command socket in a directory anyone else may enter).
It serves NTP on its own loopback address, optionally under libfaketime with
its own clock offset and rate, and is always cleaned up: stop() on exit of a
`with` block, and an atexit hook for anything left running.

    with ChronyInstance("server", "127.0.2.1", local_stratum=8) as srv, \\
         ChronyInstance("client", "127.0.2.2", servers=[srv.addr],
                        faketime="+17m x1.0001") as cli:
        cli.wait_synced()
        print(cli.chronyc("tracking"))
"""

import atexit
import glob
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"
LIBFAKETIME = (glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + [None])[0]


def faketime_env(spec, base=None):
    """Environment putting a process on libfaketime's clock `spec`
    ("+17m x1.0001"). The library is preloaded directly: the faketime
    wrapper's named semaphores collide when PIDs are reused after a kill
    ("sem_open: File exists")."""
    if LIBFAKETIME is None:
        raise HarnessError("libfaketime not found: apt-get install faketime")
    env = dict(os.environ if base is None else base)
    env["LD_PRELOAD"] = LIBFAKETIME
    env["FAKETIME"] = spec
    env["DONT_FAKE_MONOTONIC"] = "1"
    return env
CHRONYC = shutil.which("chronyc") or "/usr/bin/chronyc"
_running = []


def _cleanup_all():
    for inst in list(_running):
        inst.stop()


atexit.register(_cleanup_all)


class HarnessError(Exception):
    pass


class ChronyInstance:
    """One chronyd. addr: its own loopback address (127.X.Y.Z).

    servers: addresses of NTP servers (instances) it follows.
    local_stratum: serve its own clock at that stratum (a master).
    faketime: libfaketime spec, e.g. "+17m x1.0001" (offset and rate).
    cmdport: 0 = Unix socket only; N = also a UDP command port on addr.
    serve: answer NTP clients on addr:123 (needed for servers).
    """

    def __init__(self, name, addr, servers=(), local_stratum=None, faketime=None,
                 cmdport=0, serve=True, minpoll=-2, maxpoll=-1, makestep="1 3",
                 extra_conf=""):
        self.name = name
        self.addr = addr
        self.servers = list(servers)
        self.local_stratum = local_stratum
        self.faketime = faketime
        self.cmdport = cmdport
        self.serve = serve
        self.minpoll = minpoll
        self.maxpoll = maxpoll
        self.makestep = makestep
        self.extra_conf = extra_conf
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="fc-chronyd-%s-" % name)
        user = pwd.getpwnam("_chrony")
        os.chown(self.dir, user.pw_uid, grp.getgrnam("_chrony").gr_gid)
        os.chmod(self.dir, 0o770)
        self.socket = os.path.join(self.dir, "chronyd.sock")
        self.conf = os.path.join(self.dir, "chrony.conf")
        self.logfile = os.path.join(self.dir, "chronyd.log")

    def config_text(self):
        lines = [
            "# written by chronyd_harness for test instance %s" % self.name,
            "pidfile %s/chronyd.pid" % self.dir,
            "driftfile %s/drift" % self.dir,
            "bindcmdaddress %s" % self.socket,
            "cmdport %d" % self.cmdport,
            "bindacqaddress %s" % self.addr,
            "makestep %s" % self.makestep,
        ]
        if self.cmdport:
            lines += ["bindcmdaddress %s" % self.addr, "cmdallow 127.0.0.0/8"]
        if self.serve:
            lines += ["port 123", "bindaddress %s" % self.addr, "allow 127.0.0.0/8"]
        else:
            lines += ["port 0"]
        for s in self.servers:
            lines.append("server %s iburst minpoll %d maxpoll %d" % (s, self.minpoll, self.maxpoll))
        if self.local_stratum is not None:
            lines.append("local stratum %d" % self.local_stratum)
        if self.extra_conf:
            lines.append(self.extra_conf)
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        cmd = [CHRONYD, "-x", "-n", "-f", self.conf]
        env = faketime_env(self.faketime) if self.faketime else None
        log = open(self.logfile, "w")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        log.close()
        _running.append(self)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        """Wait until chronyd answers on its command socket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("chronyd %s exited with %s:\n%s"
                                   % (self.name, self.proc.returncode, self.log()))
            if os.path.exists(self.socket):
                r = subprocess.run([CHRONYC, "-h", self.socket, "-c", "tracking"],
                                   capture_output=True, text=True, timeout=5)
                if r.returncode == 0:
                    return
            time.sleep(0.05)
        raise HarnessError("chronyd %s not ready after %.0f s:\n%s"
                           % (self.name, timeout, self.log()))

    def chronyc(self, *args, check=True):
        """Run chronyc against this instance (tests use it as an oracle only)."""
        r = subprocess.run([CHRONYC, "-h", self.socket, "-n"] + list(args),
                           capture_output=True, text=True, timeout=10)
        if check and r.returncode != 0:
            raise HarnessError("chronyc %s on %s failed: %s" % (args, self.name, r.stderr))
        return r.stdout

    def tracking_csv(self):
        return self.chronyc("-c", "tracking").strip().split(",")

    def wait_synced(self, timeout=30.0, min_updates=1):
        """Wait until chronyd has a selected source (leap status normal and a
        reference other than LOCAL)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.tracking_csv()
            # ref id, name, stratum, ..., leap status is the last field
            if f[0] not in ("00000000", "7F7F0101") and f[-1] == "Normal":
                return f
            time.sleep(0.1)
        raise HarnessError("chronyd %s not synchronised after %.0f s:\n%s"
                           % (self.name, timeout, self.chronyc("tracking")))

    def log(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self in _running:
            _running.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
