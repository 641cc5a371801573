#!/usr/bin/env python3
"""One headset of the frame-skew scenario (frame_skew.py), run by the fleet
simulator as the node's command, on the node's virtual clock. For each
start method, at the agreed instant T (epoch seconds, as every node's own
clock reads it), run the LED program with this node's set-up delay:

  a  the field's way: poll `date +%s` every 50 ms until T, then the
     program with its own time.time()-anchored timer (tests/sim/led_naive.py)
  b  fleetclock-agent --at T -- the same program
  c  fleetclock-agent --at T --arm -- gate/examples/led_blink.py (frames())
  r  c with --rt (the program inherits SCHED_FIFO 50)

Each run's LED changes go to DIR/led-M.log, its output to DIR/run-M.out.
"""
import argparse
import os
import subprocess
import sys
import time

LAUNCH_BEFORE_S = 4.0  # every method is launched this long before its T


def commands(m, t, a, conf):
    py = sys.executable
    naive = [py, os.path.join(a.source, "tests", "sim", "led_naive.py"), "--setup",
             str(a.setup), "--seconds", str(a.seconds)]
    agent = [os.path.join(a.build, "agent", "fleetclock-agent"), "-c", conf, "--force",
             "--report", os.path.join(a.dir, "starts.jsonl"), "--late-ok", "--at", str(t)]
    if m == "a":
        return ["sh", "-c", 'while [ "$(date +%%s)" -lt %d ]; do sleep 0.05; done; exec "$@"'
                % t, "sh"] + naive
    if m == "b":
        return agent + ["--"] + naive
    rt = ["--rt"] if m == "r" else []  # r: c at SCHED_FIFO 50, inherited by the program
    return agent + rt + ["--arm", "--", py, os.path.join(a.source, "gate", "examples", "led_blink.py"),
                    "--setup", str(a.setup), "--seconds", str(a.seconds)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sock", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--plan", required=True, help="M:T,M:T (method, epoch seconds)")
    ap.add_argument("--setup", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()
    conf = os.path.join(a.dir, "frames-agent.conf")
    with open(conf, "w") as f:
        f.write("[chrony]\nsocket = %s\ntransport = unix\ntimeout_ms = 300\n" % a.sock)
    env = dict(os.environ, PYTHONPATH=os.path.join(a.source, "gate"))
    for item in a.plan.split(","):
        m, t = item.split(":")
        t = int(t)
        while True:  # in short steps: chronyd may step the clock meanwhile
            left = t - LAUNCH_BEFORE_S - time.time()
            if left <= 0:
                break
            time.sleep(min(0.5, left))
        with open(os.path.join(a.dir, "run-%s.out" % m), "wb") as out:
            subprocess.run(commands(m, t, a, conf), env=dict(env, FLEETCLOCK_LED_LOG=os.path.join(
                a.dir, "led-%s.log" % m)), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                timeout=a.seconds + 30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
