#!/usr/bin/env python3
"""Issue 16's measurement: do the headsets' LEDs change in the same video
frame? Every headset of a simulated fleet (real chronyd on its own virtual
clock) runs the LED program at 24 fps after a set-up delay drawn per node
(0.2-2 s, a Pi Zero W's imports and hardware set-up), started three ways
(frame_node.py): (a) the field's `date` polling loop and a time.time()-
anchored timer, (b) `--at T -- program`, (c) `--at T --arm` + frames().
Each LED change is stamped with CLOCK_MONOTONIC, which the simulator leaves
real, i.e. true time common to all nodes. The fleet frame skew of frame k
is max - min of its stamps across headsets; printed: p50 / p99 / max over
the run, and frames skipped (never shown) summed over headsets. For (c),
whose instants are known, also the clock-only skew: each stamp minus how
late the node's own clock says it woke, i.e. the clocks' disagreement
without this shared machine's wake-up latency (a node's own CPU has none
of its neighbours' load).

    frame_skew.py --profile lan --seconds 120 [--methods abc] [--out DIR] [--net N]
                  [--settle S]
    frame_skew.py --from DIR      (tabulate an earlier run)
"""
import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402

FPS = 24
SETTLE_S = 30     # from the fleet's start to the first T: chronyd converges
SETUP_S = (0.2, 2.0)
NAMES = {"a": "(a) date loop + own timer", "b": "(b) --at T -- program",
         "c": "(c) --at T --arm + frames()", "r": "(c) with --rt (SCHED_FIFO 50)"}


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def plan(methods, seconds, t0, settle=SETTLE_S):
    """{method: T}: T every seconds + 10 s after settle s (set-up <= 2 s,
    the launch 4 s before T)."""
    return {m: t0 + settle + i * int(seconds + 10) for i, m in enumerate(methods)}


def prepare(sc, methods, seconds, seed, settle=SETTLE_S):
    t0 = int(time.time())
    ts = plan(methods, seconds, t0, settle)
    rng = random.Random(seed)
    setups = {}
    for n in sc["nodes"]:
        if n["role"] != "headset":
            continue
        setups[n["name"]] = round(rng.uniform(*SETUP_S), 3)
        n["command"] = [sys.executable, "{source}/tests/sim/frame_node.py", "--dir", "{dir}",
                        "--sock", "{sock}", "--build", "{build}", "--source", "{source}",
                        "--plan", ",".join("%s:%d" % (m, ts[m]) for m in methods),
                        "--setup", str(setups[n["name"]]), "--seconds", str(seconds)]
    sc["duration"] = max(ts.values()) - t0 + seconds + 8
    return ts, setups


def read_led(path):
    """{frame index: monotonic ns} of one headset's run."""
    frames = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, mono, _ = line.split()
                frames[int(k)] = int(mono)
    return frames


def read_led_on_time(path, t):
    """{frame index: monotonic ns minus how late the node's own clock says
    the change came after T + k / 24}: when each node's clock read the
    frame's instant, i.e. the clocks' disagreement without the wake-up
    latency of this shared machine (method c only: its instants are known)."""
    frames = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, mono, rt = (int(x) for x in line.split())
                frames[k] = mono - (rt - (t * 10**9 + k * 10**9 // FPS))
    return frames


def skews_ms(runs, total):
    if not runs:
        return []
    common = set(range(total))
    for fr in runs.values():
        common &= set(fr)
    return [(max(fr[k] for fr in runs.values()) - min(fr[k] for fr in runs.values())) / 1e6
            for k in sorted(common)]


def analyse(out, methods, seconds, headsets, plan_t):
    total = int(seconds * FPS)
    res = {}
    for m in methods:
        runs = {h: read_led(os.path.join(out, "nodes", h, "led-%s.log" % m)) for h in headsets}
        missing = sorted(h for h, fr in runs.items() if not fr)  # did not run at all
        runs = {h: fr for h, fr in runs.items() if fr}
        skews = skews_ms(runs, total)
        clock = []
        if m in ("c", "r"):
            clock = skews_ms({h: read_led_on_time(os.path.join(out, "nodes", h, "led-%s.log" % m),
                                                  plan_t[m]) for h in runs}, total)
        res[m] = dict(frames=total, headsets=len(runs), missing=missing, compared=len(skews),
                      skipped=sum(total - len(fr) for fr in runs.values()),
                      p50_ms=percentile(skews, 50), p99_ms=percentile(skews, 99),
                      max_ms=max(skews) if skews else None,
                      clock_p50_ms=percentile(clock, 50), clock_p99_ms=percentile(clock, 99),
                      clock_max_ms=max(clock) if clock else None)
    return res


def table(results):
    f = (lambda v: "%.3f" % v if v is not None else "-")
    lines = ["| profile | start | frames compared | LED skew p50 / p99 / max (ms) | "
             "clock-only skew p50 / p99 / max (ms) | skipped frames |",
             "|---|---|---|---|---|---|"]
    notes = []
    for prof, res in results.items():
        for m, r in res.items():
            lines.append("| %s | %s | %d | %s / %s / %s | %s / %s / %s | %d |" % (
                prof, NAMES[m], r["compared"], f(r["p50_ms"]), f(r["p99_ms"]), f(r["max_ms"]),
                f(r.get("clock_p50_ms")), f(r.get("clock_p99_ms")), f(r.get("clock_max_ms")),
                r["skipped"]))
            if r.get("missing"):
                notes.append("%s %s: headsets that never ran: %s" % (prof, m, r["missing"]))
    return "\n".join(lines + notes)


def run(profile, methods, seconds, out, scenario="frames", seed=16, net=None, settle=SETTLE_S):
    sc = fleetsim.load_scenario(os.path.join(HERE, "scenarios", scenario + ".toml"),
                                profile=profile)
    ts, setups = prepare(sc, methods, seconds, seed, settle)
    s, _ = fleetsim.run_scenario(sc, out, net=net, quiet=True)
    headsets = sorted(setups)
    res = analyse(out, methods, seconds, headsets, ts)
    with open(os.path.join(out, "frames.json"), "w") as f:
        json.dump(dict(profile=profile, plan=ts, setups=setups, seconds=seconds, results=res,
                       escaped=s["escaped"], real_clock_unchanged=s["real_clock_unchanged"]),
                  f, indent=1)
    return res, s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="append", help="lan, wifi (default both)")
    ap.add_argument("--seconds", type=float, default=120.0, help="blinking time per method")
    ap.add_argument("--methods", default="abc")
    ap.add_argument("--out", default="/tmp/fleetclock-frames")
    ap.add_argument("--from", dest="from_dir")
    ap.add_argument("--net", type=int, help="the simulator's address block (fleetsim --net)")
    ap.add_argument("--settle", type=float, default=SETTLE_S,
                    help="seconds from the fleet's start to the first T (chronyd converges)")
    a = ap.parse_args()
    profiles = a.profile or ["lan", "wifi"]
    results = {}
    for p in profiles:
        d = os.path.join(a.from_dir or a.out, "frames-" + p)
        if a.from_dir:
            with open(os.path.join(d, "frames.json")) as f:
                j = json.load(f)
            results[p] = analyse(d, sorted(j["plan"]), j.get("seconds", a.seconds),
                                 sorted(j["setups"]), j["plan"])
            continue
        if os.geteuid() != 0:
            print("SKIP: needs root")
            return 77
        results[p], s = run(p, a.methods, a.seconds, d, net=a.net, settle=int(a.settle))
        print("%s done (escaped: %s, real clock unchanged: %s)"
              % (p, s["escaped"] or "none", s["real_clock_unchanged"]), flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
