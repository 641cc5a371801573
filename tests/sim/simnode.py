"""simnode.py - one simulated node: a virtual clock (state file + the
LD_PRELOAD library) and a real, unmodified chronyd disciplining it.

Safety: every chronyd started here runs WITHOUT -x, under the preload, with
CAP_SYS_TIME removed from its bounding set (setpriv), so if the preload ever
failed to load, chronyd would die instead of touching the machine's clock.
Processes are only ever killed by the PID recorded when they were started.

Python 3 stdlib only.
"""
import ctypes
import fcntl
import mmap
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import time

SOURCE = os.environ.get("FLEETCLOCK_SOURCE",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("FLEETCLOCK_BUILD", os.path.join(SOURCE, "build"))
PRELOAD = os.path.join(BUILD, "tests", "sim", "libfleetclock-vclock.so")
VCLOCK_CTL = os.path.join(BUILD, "tests", "sim", "fleetclock-vclock")
CHRONYD = "/usr/sbin/chronyd"
STATE_ENV = "FLEETCLOCK_VCLOCK_STATE"

# --- addresses ----------------------------------------------------------------
# The simulator lives in 127.6.0.0/16. Several test runs may go on at once on
# one machine (one per worktree), so each process claims a block of 16 third
# octets with a file lock held until it exits, and builds its addresses in it.
SLOT_DIR = "/tmp/fleetclock-sim-slots"
SLOT_WIDTH = 16
_slot = None


def claim_slot():
    """First third octet of this process's block of 127.6.0.0/16 (claimed
    on first use); RuntimeError when all 16 blocks are taken."""
    global _slot
    if _slot is not None:
        return _slot[0]
    os.makedirs(SLOT_DIR, exist_ok=True)
    # Blocks 0-3 (127.6.0-63.x) were used by fixed addresses in earlier
    # versions that other checkouts may still run: start above them.
    for k in range(4, 256 // SLOT_WIDTH):
        fd = os.open(os.path.join(SLOT_DIR, "slot%02d.lock" % k), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _slot = (k * SLOT_WIDTH, fd)
        return _slot[0]
    raise RuntimeError("all %d simulator address blocks of 127.6.64-255.x are in use (%s)" %
                       (256 // SLOT_WIDTH - 4, SLOT_DIR))


def sim_addr(block, host):
    """127.6.X.host with X = this process's first third octet + block (0..15)."""
    if not 0 <= block < SLOT_WIDTH:
        raise ValueError("block %d outside 0..%d" % (block, SLOT_WIDTH - 1))
    return "127.6.%d.%d" % (claim_slot() + block, host)


# Mirror of struct vclock_state (tests/sim/vclock_state.h), version 2.
_STATE_FMT = "<6Iqqdddqqqqqqqii3Qqqq6Q"
_STATE_FIELDS = ("magic", "version", "size", "lock", "seq", "step_gen",
                 "anchor_real_ns", "anchor_virt_ns", "rate_m1", "drift_ppm", "wander_ppm",
                 "tick_us", "freq", "offset", "constant", "maxerror_us", "maxerror_real_ns",
                 "esterror_us", "status", "tai", "n_adjtimex", "n_adjust", "n_steps",
                 "created_real_ns", "raw_anchor_real_ns", "raw_anchor_virt_ns")
_STATE_SIZE = struct.calcsize(_STATE_FMT)
assert _STATE_SIZE == 224


class VClock:
    """The state file of one node's virtual clock, read with the seqlock."""

    def __init__(self, path):
        self.path = path
        self._map = None

    def create(self, offset_s=0.0, drift_ppm=0.0, wander_ppm=0.0):
        subprocess.run([VCLOCK_CTL, "create", self.path, repr(offset_s), repr(drift_ppm),
                        repr(wander_ppm)], check=True)

    def ctl(self, cmd, value):
        """step|set|drift|wander through the CLI (takes the writer lock)."""
        subprocess.run([VCLOCK_CTL, cmd, self.path, repr(value)], check=True)

    def read(self):
        if self._map is None:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), _STATE_SIZE, prot=mmap.PROT_READ)
        for _ in range(10000):
            s1 = struct.unpack_from("<I", self._map, 16)[0]
            if s1 & 1:
                continue
            vals = struct.unpack_from(_STATE_FMT, self._map, 0)
            if struct.unpack_from("<I", self._map, 16)[0] == s1:
                d = dict(zip(_STATE_FIELDS, vals))
                if d["magic"] != 0x4b4c4356 or d["version"] != 2 or d["size"] != _STATE_SIZE:
                    raise RuntimeError("%s: not a version 2 vclock state" % self.path)
                return d
        raise RuntimeError("%s: writer stuck" % self.path)

    def true_error(self, real_ns=None):
        """Virtual minus real time, in seconds (the node's exact error)."""
        st = self.read()
        if real_ns is None:
            real_ns = time.time_ns()
        dr = real_ns - st["anchor_real_ns"]
        virt = st["anchor_virt_ns"] + dr + round(dr * st["rate_m1"])
        return (virt - real_ns) / 1e9

    def close(self):
        if self._map is not None:
            self._map.close()
            self._map = None


def node_env(state_path, base=None):
    """Environment that puts a process on a node's virtual clock."""
    env = dict(os.environ if base is None else base)
    env["LD_PRELOAD"] = PRELOAD
    env[STATE_ENV] = state_path
    return env


# --- chronyd's command socket (cmdmon v6, facts in shared/docs) -----------

def _cm_float(x):
    exp = x >> 25
    if exp >= 64:
        exp -= 128
    coef = x & 0x1ffffff
    if coef >= 1 << 24:
        coef -= 1 << 25
    return coef * 2.0 ** (exp - 25)


def cmdmon(sock_path, command, body, req_len, rpy_type, timeout=0.5, prefix="sim"):
    """One cmdmon request over chronyd's Unix socket (two attempts, each bounded by
    timeout): the reply body after the 28-byte header, or None. PREFIX names the client
    socket (PREFIX.PID.sock beside chronyd's) so that two users in one process differ."""
    client = os.path.join(os.path.dirname(sock_path), "%s.%d.sock" % (prefix, os.getpid()))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if os.path.exists(client):
            os.unlink(client)
        s.bind(client)
        os.chmod(client, 0o666)
        s.settimeout(timeout)
        for attempt in range(2):
            seq = random.getrandbits(32)
            req = struct.pack(">BBBBHHIII", 6, 1, 0, 0, command, attempt, seq, 0, 0) + body
            req += bytes(req_len - len(req))
            try:
                s.sendto(req, sock_path)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    rep = s.recv(1024)
                    if len(rep) < 28:
                        continue
                    v, pt, _, _, cmd, rtype, status = struct.unpack_from(">BBBBHHH", rep, 0)
                    if v != 6 or pt != 2 or cmd != command or \
                            struct.unpack_from(">I", rep, 16)[0] != seq:
                        continue
                    return rep[28:] if status == 0 and rtype == rpy_type else None
            except (socket.timeout, FileNotFoundError, ConnectionRefusedError, OSError):
                continue
        return None
    finally:
        s.close()
        try:
            os.unlink(client)
        except FileNotFoundError:
            pass


def cmdmon_tracking(sock_path, timeout=1.0):
    """TRACKING over the Unix socket: dict or None when chronyd does not answer."""
    body = cmdmon(sock_path, 33, b"", 104, 5, timeout)
    if body is None or len(body) < 76:
        return None
    ref_id, = struct.unpack_from(">I", body, 0)
    stratum, leap = struct.unpack_from(">HH", body, 24)
    fl = [_cm_float(x) for x in struct.unpack_from(">9I", body, 40)]
    keys = ("current_correction", "last_offset", "rms_offset", "freq_ppm",
            "resid_freq_ppm", "skew_ppm", "root_delay", "root_dispersion",
            "last_update_interval")
    d = dict(zip(keys, fl))
    d.update(ref_id=ref_id, stratum=stratum, leap=leap)
    return d


# --- the real clock of the machine, read-only ------------------------------

class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("pad", ctypes.c_int * 11)]


def real_clock_state():
    """adjtimex(modes=0) on the REAL clock (read-only; refuses to run under
    the preload, where it would read a virtual clock)."""
    if STATE_ENV in os.environ:
        raise RuntimeError("real_clock_state() called under the vclock preload")
    tx = _Timex()
    tx.modes = 0
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    r = libc.adjtimex(ctypes.byref(tx))
    if r < 0:
        raise OSError(ctypes.get_errno(), "adjtimex(0) on the real clock")
    return {"freq": tx.freq, "tick": tx.tick, "status": tx.status, "offset": tx.offset,
            "constant": tx.constant}


# --- process tree and the escape self-check --------------------------------

def descendants(pid):
    """pid and all its descendants (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _clock_of(pid, real_state):
    """(comm, reason) when pid is not on the clock of real_state, None when
    it is or has exited."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return None  # exited meanwhile
    if "libfleetclock-vclock.so" not in maps:
        return comm, "no vclock preload"
    if real_state not in maps:
        return comm, "maps another node's clock"
    return None


def escaped_processes(root_pids, state_path, settle=0.2):
    """Processes of a node (roots and descendants) that do not map the
    node's vclock state file: they run on another clock. List of
    (pid, comm, reason). A process caught in execve() has not mapped its
    preloads yet: suspects are looked at again after `settle` seconds."""
    real_state = os.path.realpath(state_path)
    suspects = [pid for root in root_pids for pid in descendants(root)
                if _clock_of(pid, real_state)]
    if suspects and settle:
        time.sleep(settle)
    bad = []
    for pid in suspects:
        r = _clock_of(pid, real_state)
        if r:
            bad.append((pid,) + r)
    return bad


# --- a node ----------------------------------------------------------------

class SimNode:
    """A simulated node: its virtual clock and its chronyd (and, optionally,
    more commands on the same clock)."""

    def __init__(self, name, addr, workdir, servers=(), offset=0.0, drift=0.0, wander=0.0,
                 serve=False, local_stratum=None, allow="127.6.0.0/16", poll=-2,
                 makestep="1 3", extra_conf="", log=("tracking", "measurements", "statistics"),
                 chronyd=True, driftfile_ppm=None):
        self.name = name
        self.addr = addr
        self.dir = os.path.join(workdir, name)
        self.servers = list(servers)  # (addr, port, options)
        self.offset, self.drift, self.wander = offset, drift, wander
        self.serve, self.local_stratum, self.allow = serve, local_stratum, allow
        self.poll, self.makestep, self.extra_conf, self.log = poll, makestep, extra_conf, log
        self.state_path = os.path.join(self.dir, "vclock.state")
        self.sock = os.path.join(self.dir, "run", "chronyd.sock")
        self.clock = VClock(self.state_path)
        self.proc = None
        self.run_chronyd = chronyd  # False: a host on this clock without chronyd
        # chronyd's driftfile at the first start: the frequency it learned
        # earlier, None = none. chronyd 4.3 needs +10 for a virtual clock
        # 10 ppm fast (drift = 10): measured, that node kept 0.000 ms for 40 s.
        self.driftfile_ppm = driftfile_ppm
        self.extra = []  # other processes on this node's clock (Popen)

    def conf_text(self):
        lines = ["# simulated node %s (generated by tests/sim/simnode.py)" % self.name,
                 "bindaddress %s" % self.addr, "bindacqaddress %s" % self.addr,
                 "port %d" % (123 if self.serve else 0), "cmdport 0",
                 "bindcmdaddress %s" % self.sock,
                 "pidfile %s" % os.path.join(self.dir, "chronyd.pid"),
                 "driftfile %s" % os.path.join(self.dir, "drift")]
        if self.makestep:
            lines.append("makestep %s" % self.makestep)
        for addr, port, opts in self.servers:
            lines.append("server %s port %d iburst minpoll %d maxpoll %d %s" %
                         (addr, port, self.poll, self.poll, opts))
        if self.serve:
            lines.append("allow %s" % self.allow)
        if self.local_stratum is not None:
            lines.append("local stratum %d" % self.local_stratum)
        if self.log:
            lines += ["logdir %s" % os.path.join(self.dir, "log"), "log %s" % " ".join(self.log)]
        if self.extra_conf:
            lines.append(self.extra_conf)
        return "\n".join(lines) + "\n"

    def prepare(self, fresh_clock=True):
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        run = os.path.join(self.dir, "run")
        os.makedirs(run, exist_ok=True)
        # chronyd -u root: the socket dir must belong to root, 0770 or stricter.
        os.chown(run, 0, 0)
        os.chmod(run, 0o770)
        with open(os.path.join(self.dir, "chrony.conf"), "w") as f:
            f.write(self.conf_text())
        drift = os.path.join(self.dir, "drift")
        if fresh_clock and self.driftfile_ppm is not None:
            with open(drift, "w") as f:
                f.write("%.6f 0.100000\n" % self.driftfile_ppm)
        elif fresh_clock and os.path.exists(drift):
            os.unlink(drift)
        if fresh_clock or not os.path.exists(self.state_path):
            self.clock.close()
            self.clock.create(self.offset, self.drift, self.wander)

    def chronyd_argv(self):
        return ["setpriv", "--bounding-set", "-sys_time", CHRONYD, "-u", "root", "-d",
                "-f", os.path.join(self.dir, "chrony.conf")]

    def start(self, fresh_clock=True, preload=True):
        for f in (PRELOAD, VCLOCK_CTL) if preload else (VCLOCK_CTL,):
            if not os.path.exists(f):
                raise RuntimeError("%s missing: build first (meson setup build && ninja -C build)"
                                   " or set FLEETCLOCK_BUILD" % f)
        self.prepare(fresh_clock)
        if not self.run_chronyd:
            return self
        env = node_env(self.state_path) if preload else dict(os.environ)
        if not preload:
            env.pop("LD_PRELOAD", None)
            env.pop(STATE_ENV, None)
        self._logf = open(os.path.join(self.dir, "chronyd.out"), "ab")
        self.proc = subprocess.Popen(self.chronyd_argv(), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def run_on_clock(self, argv, **kw):
        """Start another command on this node's clock (agent, test helper)."""
        kw.setdefault("env", node_env(self.state_path))
        p = subprocess.Popen(argv, **kw)
        self.extra.append(p)
        return p

    def wait_ready(self, timeout=10.0):
        if not self.run_chronyd:
            return self
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s: chronyd exited with %s: %s" %
                                   (self.name, self.proc.returncode, self.output()[-600:]))
            if os.path.exists(self.sock) and cmdmon_tracking(self.sock, 0.3) is not None:
                return self
            time.sleep(0.05)
        raise RuntimeError("%s: chronyd not ready after %.0f s" % (self.name, timeout))

    def output(self):
        try:
            with open(os.path.join(self.dir, "chronyd.out"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tracking(self):
        if not self.run_chronyd:
            return None
        return cmdmon_tracking(self.sock, 0.5)

    def alive(self):
        if not self.run_chronyd:
            return any(p.poll() is None for p in self.extra)
        return self.proc is not None and self.proc.poll() is None

    def stop_extra(self, sig=signal.SIGTERM, timeout=5.0):
        """Stop the extra commands only (e.g. the agent), not chronyd."""
        for p in self.extra:
            if p.poll() is None:
                p.send_signal(sig)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(2)
        self.extra = []

    def pids(self):
        ps = [p.pid for p in [self.proc] + self.extra if p is not None and p.poll() is None]
        return ps

    def escaped(self):
        return escaped_processes(self.pids(), self.state_path)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        self.stop_extra(sig, timeout)
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(sig)  # by the PID we recorded, never by name
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(2)
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None

    def cleanup(self):
        self.clock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
