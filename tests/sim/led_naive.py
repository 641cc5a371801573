#!/usr/bin/env python3
"""The field report's LED loop (issue 16), for comparison only: after its
set-up, it anchors a timer to its own time.time() and sleeps relative
intervals, so every frame inherits the node's start-up delay. Do NOT write
programs like this: see gate/examples/led_blink.py and docs/start.md.

Writes "INDEX MONOTONIC_NS REALTIME_NS" per LED change to
$FLEETCLOCK_LED_LOG, like the example."""
import argparse
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("--fps", type=float, default=24.0)
ap.add_argument("--seconds", type=float, default=10.0)
ap.add_argument("--setup", type=float, default=0.0)
a = ap.parse_args()
time.sleep(a.setup)  # imports and hardware set-up
fd = os.open(os.environ["FLEETCLOCK_LED_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
start = time.time()
for k in range(int(a.seconds * a.fps)):
    delay = start + k / a.fps - time.time()
    if delay > 0:
        time.sleep(delay)
    os.write(fd, b"%d %d %d\n" % (k, time.monotonic_ns(), time.time_ns()))
