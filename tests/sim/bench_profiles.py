#!/usr/bin/env python3
"""Simulator benchmark: the 13-node baseline fleet on each link profile
(lan, wifi, bad-wifi). Prints one markdown table: convergence time, headset
steady true error p50/p99, fleet spread p99, chronyd CPU, with the wifi and
bad-wifi figures also as ratios to the lan run of the same invocation.

    python3 tests/sim/bench_profiles.py [--seconds 180] [--out DIR]
    python3 tests/sim/bench_profiles.py --from DIR   (tabulate earlier runs:
                                                      DIR/baseline-PROFILE/)
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402

PROFILES = ("lan", "wifi", "bad-wifi")


def fmt(v, f="%.3f"):
    return f % v if v is not None else "-"


def table(results):
    lan = results.get("lan", {}).get("fleet", {})
    lines = ["| profile | converged (s) | headset p50 (ms) | headset p99 (ms) | worst headset p99 (ms)"
             " | spread p99 (ms) | bracketed | chronyd CPU (% of a core, 13 nodes) | p99 / lan |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in PROFILES:
        if p not in results:
            continue
        s = results[p]
        fl = s["fleet"]
        heads = [n for n in s["nodes"].values() if n["role"] == "headset"]
        worst = max((n["steady_p99_ms"] for n in heads if n["steady_p99_ms"] is not None),
                    default=None)
        br = [n["bracket_fraction"] for n in heads if n["bracket_fraction"] is not None]
        ratio = (fl["headset_steady_p99_ms"] / lan["headset_steady_p99_ms"]
                 if lan.get("headset_steady_p99_ms") and fl["headset_steady_p99_ms"] else None)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p, fmt(fl["converged_s"], "%.0f"), fmt(fl["headset_steady_p50_ms"]),
            fmt(fl["headset_steady_p99_ms"]), fmt(worst),
            fmt(fl["headset_spread_steady_p99_ms"]),
            ("%.0f %%" % (100 * min(br))) if br else "-",
            fmt(s["cpu"]["chronyd_cpu_percent_of_one_core"], "%.2f"), fmt(ratio, "%.1f x")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=float(os.environ.get(
        "FLEETCLOCK_BENCH_SECONDS", 180)))
    ap.add_argument("--out", default="/tmp/fleetclock-bench-sim")
    ap.add_argument("--from", dest="from_dir")
    a = ap.parse_args()
    results = {}
    for p in PROFILES:
        if a.from_dir:
            path = os.path.join(a.from_dir, "baseline-" + p, "summary.json")
            if os.path.exists(path):
                with open(path) as f:
                    results[p] = json.load(f)
            continue
        if os.geteuid() != 0:
            print("SKIP: needs root")
            return 77
        sc = fleetsim.load_scenario(os.path.join(HERE, "scenarios", "baseline-%s.toml" % p),
                                    a.seconds)
        results[p], _ = fleetsim.run_scenario(sc, os.path.join(a.out, "baseline-" + p),
                                              quiet=True)
        print("%s done" % p, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
