#!/usr/bin/env python3
"""bench_at - start error of `fleetclock-agent --at` against the field
report's bash loop, measured in one run.

Each variant starts tests/bench/at_probe N times (default 50) at a target a
little in the future; at_probe reads CLOCK_REALTIME first thing in main and
prints start - target. Variants:
  at            fleetclock-agent --at T -- at_probe T
  at-rt         the same with --rt (skipped when SCHED_FIFO is not permitted)
  at-static-probe  --at with a statically linked at_probe (no dynamic loader)
  at-report     --at with --report (the report is written between wake and exec)
  bash-loop     the field report's loop: while [ SS -gt "$(date +%S)" ];
                do sleep 0.05; done; at_probe T  (T a whole second, the
                next one or two rather than :10, to keep the run short)
  wait-until    sh -c 'fleetclock-agent --wait-until T && exec at_probe T'
  in-process:*  at_probe --wait MODE T (no exec: the wait alone); default is
                what --at uses (timerfd, then clock_nanosleep), rt:spin1000us
                what --at --rt uses (SCHED_FIFO, + a 1 ms busy-poll)
Prints p50/p99/max (and min: a start before the target is a bug) per
variant and the bash loop's p50 divided by each, and checks the issue's
targets: --at p99 <= 1 ms and >= 20x better than the bash loop's p50,
in-process p99 <= 0.2 ms. Exit 0 always unless a variant fails to run
(targets are reported, not asserted: this machine may be noisy).

  FLEETCLOCK_BUILD=build tests/bench/bench_at.py [N [VARIANT...]]
  BENCH_AT_N=5 meson test -C build --benchmark at --verbose   (a quick look)
"""
import math
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("FLEETCLOCK_BUILD", "build")
AGENT = os.path.join(BUILD, "agent", "fleetclock-agent")
PROBE = os.path.join(BUILD, "tests", "bench", "at_probe")
PROBE_STATIC = os.path.join(BUILD, "tests", "bench", "at_probe_static")
LEAD = 0.15  # s between launching a variant and its target


def run_probe(argv, target):
    """Run argv (which ends with at_probe), return its start error (s), or
    None when it did not finish within 10 s (a stalled machine)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0 or "error_s=" not in out.stdout:
        raise RuntimeError("%s: exit %d: %s%s" % (" ".join(argv), out.returncode,
                                                  out.stdout, out.stderr))
    return float(out.stdout.split("error_s=")[1].split()[0])


def agent_argv(conf, *args):
    return [AGENT, "-c", conf, "--force"] + list(args)


def variants(conf):
    """(name, make_argv(target_text) or None, whole_second_target)."""
    def at(t):
        return agent_argv(conf, "--at", t, "--", PROBE, t)

    def at_static(t):
        return agent_argv(conf, "--at", t, "--", PROBE_STATIC, t)

    def at_report(t):
        return agent_argv(conf, "--report", os.devnull, "--at", t, "--", PROBE, t)

    def at_rt(t):
        return agent_argv(conf, "--rt", "--at", t, "--", PROBE, t)

    def wait_until(t):
        return ["sh", "-c", '"$0" -c "$1" --force --wait-until "$2" && exec "$3" "$2"',
                AGENT, conf, t, PROBE]

    def bash_loop(t):
        ss = "%02d" % (int(float(t)) % 60)
        return ["bash", "-c", 'while [ "%s" -gt "$(date +%%S)" ]; do sleep 0.05; done; '
                'exec "$0" "$1"' % ss, PROBE, t]

    out = [("bash-loop", bash_loop, True), ("at", at, False), ("at-rt", at_rt, False),
           ("wait-until", wait_until, False), ("at-static-probe", at_static, False),
           ("at-report", at_report, False)]
    for mode in ("default", "spin1000us", "rt:default", "rt:spin1000us", "nanosleep",
                 "slack50us", "timerfd"):
        out.append(("in-process:" + mode,
                    lambda t, m=mode: [PROBE, "--wait", m, t], False))
    return out


def next_target(whole_second):
    now = time.time()
    if not whole_second:
        return "%.6f" % (now + LEAD)
    t = math.ceil(now + 0.3)
    if t % 60 < 2:  # the loop compares seconds of the minute: no wrap
        time.sleep(t + 2 - now)
        return next_target(True)
    return "%d" % t


def rt_permitted(conf):
    t = "%.6f" % (time.time() + 0.05)
    r = subprocess.run(agent_argv(conf, "--rt", "--wait-until", t), capture_output=True,
                       text=True, timeout=10)
    return r.returncode == 0, r.stderr.strip()


def load():
    """Load average and CPU pressure: the benchmark's context."""
    out = open("/proc/loadavg").read().split()[:3]
    try:
        out.append("cpu pressure " + open("/proc/pressure/cpu").readline().split()[1])
    except OSError:
        pass
    return " ".join(out)


def pct(sorted_v, p):
    return sorted_v[min(len(sorted_v) - 1, int(math.ceil(p / 100.0 * len(sorted_v))) - 1)]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_AT_N", "50"))
    only = sys.argv[2:]
    results, timeouts = {}, {}
    load0 = load()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[agent]\nlate_tolerance_ms = 1000\n")
        conf.flush()
        rt_ok, rt_why = rt_permitted(conf.name)
        for name, make, whole in variants(conf.name):
            if only and name not in only and name != "bash-loop":
                continue
            if name == "at-static-probe" and not os.path.exists(PROBE_STATIC):
                print("at-static-probe: skipped: %s not built" % PROBE_STATIC)
                continue
            if name == "at-rt" and not rt_ok:
                print("at-rt: skipped: %s" % rt_why)
                continue
            errs = []
            for _ in range(min(n, 50) if name == "bash-loop" else n):  # ~1.3 s each
                t = next_target(whole)
                e = run_probe(make(t), t)
                if e is None:
                    timeouts[name] = timeouts.get(name, 0) + 1
                else:
                    errs.append(e)
                time.sleep(0.02)
            results[name] = sorted(errs)
            print("%-22s done (%d starts)" % (name, len(errs)), file=sys.stderr)
    print("\nmachine load: before %s; after %s" % (load0, load()))
    for name, k in timeouts.items():
        print("%s: %d starts did not finish within 10 s (left out)" % (name, k))
    base = pct(results["bash-loop"], 50)
    print("start error (start - target), %d starts each (bash-loop %d); "
          "ratio = bash-loop p50 / this" % (n, len(results["bash-loop"])))
    print("%-22s %8s %8s %8s %8s %8s %6s %8s %8s" % ("variant", "min ms", "p50 ms", "p90 ms",
                                                   "p99 ms", "max ms", ">1ms", "x(p50)",
                                                   "x(p99)"))
    for name, v in results.items():
        p50, p99 = pct(v, 50), pct(v, 99)
        print("%-22s %8.3f %8.3f %8.3f %8.3f %8.3f %6d %8.1f %8.1f" % (
            name, v[0] * 1e3, p50 * 1e3, pct(v, 90) * 1e3, p99 * 1e3, v[-1] * 1e3,
            sum(1 for e in v if e > 1e-3), base / p50 if p50 > 0 else float("inf"),
            base / p99 if p99 > 0 else float("inf")))
    print("\ntargets (issue 8): --at p99 <= 1 ms and >= 20x better than the bash loop's p50; "
          "in-process p99 <= 0.2 ms")
    for name, limit in (("at", 1e-3), ("at-rt", 1e-3), ("in-process:default", 2e-4),
                        ("in-process:rt:spin1000us", 2e-4)):
        if name not in results or not results[name]:
            continue
        p99 = pct(results[name], 99)
        line = "  %-26s p99 %.3f ms: %s" % (name, p99 * 1e3, "met" if p99 <= limit else "NOT MET")
        if not name.startswith("in-process"):
            line += "; bash-loop p50 / p99 = %.1f: %s" % (base / p99,
                                                         "met" if base / p99 >= 20 else "NOT MET")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
