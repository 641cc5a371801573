"""fleetclock: the start gate and frame clock of a program started by
``fleetclock-agent --at T --arm [LEAD] -- CMD`` (see docs/start.md).

Python 3.9+, standard library only: the waits are ``clock_nanosleep(
CLOCK_REALTIME, TIMER_ABSTIME)`` through ctypes, i.e. absolute deadlines the
kernel re-evaluates when the clock is stepped, and that a slewed clock
reaches at the right instant.

    import fleetclock
    import numpy, my_led_library        # the slow part: before the gate
    led = my_led_library.open()
    for frame in fleetclock.frames(1 / 24):   # waits for T first
        led.set(frame.index % 2)

Environment (set by the agent): FLEETCLOCK_START_AT_NS (T, ns since the
epoch), FLEETCLOCK_START_AT (T, RFC 3339), FLEETCLOCK_READY_FD (the pipe
on which "ready NS" and "go NS STEPS" tell the agent the slack it had).
"""
import ctypes
import errno
import fractions
import os
import time

__all__ = ["StartError", "start_at", "ready", "wait_start", "wait_until", "frames", "Frame",
           "Frames", "now_ns"]

START_AT_NS_ENV = "FLEETCLOCK_START_AT_NS"
READY_FD_ENV = "FLEETCLOCK_READY_FD"
CLOCK_REALTIME = 0
TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29
RT_SPIN_NS = 1_000_000  # the busy-poll before T at a real-time policy (the agent's --rt)


class StartError(RuntimeError):
    """The start instant is missing or malformed, or the wait failed."""


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


# The process's global namespace, not libc's handle: an LD_PRELOAD'ed clock
# (the fleet simulator's virtual clock, libfaketime) is found first, as it
# is by C programs.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.clock_nanosleep.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Timespec),
                                  ctypes.POINTER(_Timespec)]
_libc.clock_nanosleep.restype = ctypes.c_int
_state = {"ready": False, "go": False}


def now_ns():
    """CLOCK_REALTIME in ns."""
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def _set_slack():
    # 1 ns timer slack: the kernel does not batch our wake-ups 50 us late.
    try:
        _libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                    ctypes.c_ulong(0))
    except AttributeError:
        pass


def sleep_until_ns(deadline_ns):
    """Sleep until CLOCK_REALTIME reads deadline_ns (absolute: follows
    slews and steps). Returns CLOCK_REALTIME on waking, never earlier than
    the deadline (a wake-up before it, after a step back under a time
    emulation, sleeps again)."""
    ts = _Timespec(deadline_ns // 1_000_000_000, deadline_ns % 1_000_000_000)
    while True:
        rc = _libc.clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, ctypes.byref(ts), None)
        if rc not in (0, errno.EINTR):
            raise StartError("clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME): %s"
                             % os.strerror(rc))
        now = now_ns()
        if rc == 0 and now >= deadline_ns:
            return now


def start_at():
    """T in ns since the epoch, from FLEETCLOCK_START_AT_NS. StartError with
    a clear sentence when it is unset or malformed."""
    v = os.environ.get(START_AT_NS_ENV)
    if v is None:
        raise StartError("%s is not set: start this program with "
                         "fleetclock-agent --at TIME --arm -- CMD (or set it to the start "
                         "instant in ns since the epoch)" % START_AT_NS_ENV)
    if not v.isdigit() or int(v) <= 0:
        raise StartError("%s=%r is not a number of nanoseconds since the epoch"
                         % (START_AT_NS_ENV, v))
    return int(v)


def _tell_agent(line):
    fd = os.environ.get(READY_FD_ENV)
    if not fd or not fd.isdigit():
        return False
    try:
        os.write(int(fd), line.encode())
    except OSError:
        return False
    return True


def ready():
    """Tell the agent "ready" now (once). False when there is no agent."""
    if _state["ready"]:
        return True
    _state["ready"] = _tell_agent("ready %d\n" % now_ns())
    return _state["ready"]


def _realtime_policy():
    try:
        return os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR)
    except (AttributeError, OSError):
        return False


def wait_until(at_ns):
    """Wait until at_ns (ns since the epoch); returns how late (ns, >= 0).
    At a real-time policy (the agent's --rt) the last RT_SPIN_NS are a
    busy-poll of the clock, as the agent's own --at does: nothing else gets
    the CPU then, and the release is microseconds after at_ns. At normal
    priority a spinning task loses the CPU to woken tasks, so it sleeps."""
    _set_slack()
    if not _realtime_policy():
        return sleep_until_ns(at_ns) - at_ns
    now = sleep_until_ns(at_ns - RT_SPIN_NS) if now_ns() < at_ns - RT_SPIN_NS else now_ns()
    spin_end = time.monotonic_ns() + RT_SPIN_NS + 1_000_000_000  # bounded: a stepped clock
    while now < at_ns and time.monotonic_ns() < spin_end:
        now = now_ns()
    if now < at_ns:
        now = sleep_until_ns(at_ns)
    return now - at_ns


def wait_start():
    """Ready, then wait until T and tell the agent "go". Returns T (ns).
    When T is past already it returns at once: the agent reports the
    late start."""
    at = start_at()
    ready()
    woke = at + wait_until(at)
    if not _state["go"]:
        _state["go"] = True
        if _tell_agent("go %d 0\n" % woke):
            try:
                os.close(int(os.environ[READY_FD_ENV]))
            except OSError:
                pass
            # the number may be reused by the next open(): children must
            # not write to it
            os.environ.pop(READY_FD_ENV, None)
    return at


class Frame:
    """One frame: its index k and its instant at_ns = start + k * period."""
    __slots__ = ("index", "at_ns", "late_ns")

    def __init__(self, index, at_ns, late_ns):
        self.index, self.at_ns, self.late_ns = index, at_ns, late_ns

    @property
    def at(self):
        """The frame's instant, seconds since the epoch (float)."""
        return self.at_ns / 1e9

    def __repr__(self):
        return "Frame(index=%d, at_ns=%d, late_ns=%d)" % (self.index, self.at_ns, self.late_ns)


class Frames:
    """Iterator over the frames start + k * period (see frames())."""

    def __init__(self, period, start_ns, late=None, clock=now_ns, sleep_until=sleep_until_ns):
        self.period = fractions.Fraction(period).limit_denominator(1_000_000)
        if self.period <= 0:
            raise ValueError("period must be > 0 s, not %r" % (period,))
        self.period_ns = self.period * 1_000_000_000
        self.start_ns = int(start_ns)
        self.late_ns = int(self.period_ns / 2 if late is None else late * 1e9)
        self.next = 0
        self.skipped = 0
        self._clock, self._sleep_until = clock, sleep_until

    def time_ns(self, k):
        """The instant of frame k (exact: no rounding error accumulates)."""
        return self.start_ns + int(k * self.period_ns)

    def pick(self, now):
        """The frame to wait for at now: the next one, or the first still at
        most late_ns past (the ones before are skipped and counted)."""
        k = self.next
        if now - self.time_ns(k) > self.late_ns:
            k = max(k, int((now - self.late_ns - self.start_ns) / self.period_ns))
            while now - self.time_ns(k) > self.late_ns:
                k += 1
        self.skipped += k - self.next
        self.next = k + 1
        return k

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            k = self.pick(self._clock())
            at = self.time_ns(k)
            woke = self._sleep_until(at)
            if woke - at <= self.late_ns:
                return Frame(k, at, woke - at)
            self.skipped += 1  # stepped forward, or descheduled past it


def frames(period, start=None, late=None):
    """A frame clock: yields Frame(index, at_ns) for the absolute instants
    start + k * period (period in s; 1/24 is exact), sleeping to each with
    an absolute CLOCK_REALTIME deadline. A frame it is late for by more than
    `late` s (default period / 2) is skipped and counted in .skipped
    instead of shifting every later frame. start (ns since the epoch)
    defaults to T: then the first frame waits on the gate (wait_start)."""
    if start is None:
        start = wait_start()
    _set_slack()
    return Frames(period, start, late)
