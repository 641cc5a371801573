"""ds1307_state - read and write the DS1307 emulator's state file from tests.

Independent of the C code under test: BCD and calendar here come from
Python's time module. The file is key=value lines (see docs/rtc.md); the
emulator locks it with flock, and so do these helpers.

Virtual time = real time + skip_ns; the RTC runs on virtual time at
(1 + ppm/1e6) and processes under the preload see virtual time.
"""

import calendar
import fcntl
import math
import os
import time

NS = 1_000_000_000


def bcd(v):
    return ((v // 10) << 4) | (v % 10)


def unbcd(b):
    if (b & 0x0F) > 9 or (b >> 4) > 9:
        raise ValueError("not BCD: 0x%02x" % b)
    return (b >> 4) * 10 + (b & 0x0F)


def clock_regs(epoch, mode_12h=False, halted=False):
    """Registers 0x00-0x06 for whole second epoch."""
    tm = time.gmtime(epoch)
    if mode_12h:
        h12 = tm.tm_hour % 12 or 12
        hours = 0x40 | (0x20 if tm.tm_hour >= 12 else 0) | bcd(h12)
    else:
        hours = bcd(tm.tm_hour)
    return [bcd(tm.tm_sec) | (0x80 if halted else 0), bcd(tm.tm_min), hours,
            tm.tm_wday + 1, bcd(tm.tm_mday), bcd(tm.tm_mon), bcd(tm.tm_year % 100)]


def regs_epoch(r):
    """Seconds since 1970 of registers 0x00-0x06 (raises on garbage / CH)."""
    if r[0] & 0x80:
        raise ValueError("CH set")
    if r[2] & 0x40:
        h = unbcd(r[2] & 0x1F) % 12 + (12 if r[2] & 0x20 else 0)
    else:
        h = unbcd(r[2] & 0x3F)
    return calendar.timegm((2000 + unbcd(r[6]), unbcd(r[5]), unbcd(r[4]), h,
                            unbcd(r[1]), unbcd(r[0] & 0x7F), 0, 0, 0))


def parse(text):
    st = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        st[k] = v
    st["regs"] = bytearray.fromhex(st["regs"])
    for k in ("anchor_ns", "phase_ns", "skip_ns", "driver", "fault_after", "bus_khz"):
        if k in st:
            st[k] = int(st[k])
    st["ppm"] = float(st.get("ppm", 0))
    return st


def dump(st):
    lines = ["# DS1307 emulator state (written by ds1307_state.py)",
             "regs=" + bytes(st["regs"]).hex()]
    for k in ("anchor_ns", "phase_ns", "ppm", "skip_ns", "driver", "fault", "fault_after",
              "bus_khz", "bus", "rtc"):
        if k in st:
            lines.append("%s=%s" % (k, st[k]))
    return "\n".join(lines) + "\n"


def read(path):
    with open(path) as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        return parse(f.read())


def update(path, fn):
    """Apply fn(state dict) under the lock and write the result back."""
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        st = parse(f.read())
        fn(st)
        f.seek(0)
        f.truncate()
        f.write(dump(st))


def virtual_now_ns(st):
    return time.time_ns() + st.get("skip_ns", 0)


def create(path, offset=0.0, ppm=0.0, skip_ns=0, mode_12h=False, halted=False, driver=0,
           bus="/dev/i2c-1", rtc="/dev/rtc0", fault="none", fault_after=0):
    """A running DS1307 whose time is virtual time + offset (s)."""
    v = time.time_ns() + skip_ns
    rtc_ns = v + int(round(offset * NS))
    whole = rtc_ns // NS
    regs = bytearray(64)
    regs[0:7] = bytes(clock_regs(whole, mode_12h, halted))
    regs[7] = 0x03
    st = {"regs": regs, "anchor_ns": v, "phase_ns": rtc_ns - whole * NS, "ppm": ppm,
          "skip_ns": skip_ns, "driver": driver, "fault": fault, "fault_after": fault_after,
          "bus_khz": 100, "bus": bus, "rtc": rtc}
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(dump(st))
    os.replace(tmp, path)
    return st


def true_offset(st, v_ns=None):
    """The RTC minus virtual time (s) at virtual time v_ns (default: now)."""
    if v_ns is None:
        v_ns = virtual_now_ns(st)
    e = regs_epoch(st["regs"][0:7])
    dt = v_ns - st["anchor_ns"]
    rtc_ns = e * NS + st["phase_ns"] + dt + dt * st["ppm"] * 1e-6
    return (rtc_ns - v_ns) / NS


def skip(path, seconds):
    """Let `seconds` of virtual time pass at once (for RTC and preloaded processes)."""
    def fn(st):
        st["skip_ns"] += int(round(seconds * NS))
    update(path, fn)
