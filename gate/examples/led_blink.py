#!/usr/bin/env python3
"""An LED program written the way docs/start.md recommends (the hardware is
a stand-in). Start it on every node with

    fleetclock-agent --at 2026-11-21T20:00:10Z --arm -- ./led_blink.py --seconds 60

1. everything slow first: imports, opening and setting up the hardware;
2. then the frame clock: fleetclock.frames() tells the agent "ready",
   waits on the gate until the start instant T, and yields the absolute
   instants T + k / 24 s; the LED changes on each, by the frame's index
   (never by counting our own wake-ups), so a late frame is skipped, not
   shifted, and every node shows the same frame at the same instant.

The stand-in LED writes "INDEX MONOTONIC_NS REALTIME_NS" per change to
$FLEETCLOCK_LED_LOG (the simulator compares those across nodes), and
--setup S sleeps S seconds in place of a slow import and hardware set-up.
"""
import argparse
import os
import sys
import time

import fleetclock


class StandInLed:
    """Stands in for the LED driver: records when it was switched."""

    def __init__(self, log_path):
        self.fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) \
            if log_path else -1

    def set(self, index, on):
        if self.fd >= 0:
            os.write(self.fd, b"%d %d %d\n" % (index, time.monotonic_ns(), time.time_ns()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to blink")
    ap.add_argument("--setup", type=float, default=0.0, help="simulated set-up time (s)")
    a = ap.parse_args()
    time.sleep(a.setup)                      # stands in for imports and hardware set-up
    led = StandInLed(os.environ.get("FLEETCLOCK_LED_LOG"))
    try:
        clock = fleetclock.frames(1 / a.fps)  # ready -> gate -> T
    except fleetclock.StartError as e:
        print("led_blink: %s" % e, file=sys.stderr)
        return 2
    last = int(a.seconds * a.fps)
    for frame in clock:
        if frame.index >= last:
            break
        led.set(frame.index, frame.index % 2 == 0)
    print("led_blink: %d frames, %d skipped" % (last, clock.skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
