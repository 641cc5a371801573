"""Benchmark (issue 2): the agent's chronyd client against chronyc.

(a) whole process: `fleetclock-agent --status --json` vs the shell
    collector's way, `chronyc -c tracking; chronyc -c sources;
    chronyc -c sourcestats`, interleaved, same chronyd;
(b) in process: one snapshot (tracking + every source + sourcestats) vs one
    `chronyc -c tracking` process.
Targets: (a) ratio > 1 (the agent faster); (b) snapshot < 1/10 of a chronyc call.
Prints medians and ratios; exits 0 (figures are read, not asserted)."""

import os
import statistics
import subprocess
import sys
import time

from chronyd_harness import ChronyInstance, CHRONYC
from fctest import AGENT, BUILD

N = int(os.environ.get("BENCH_N", "200"))


def timed(cmds):
    t0 = time.perf_counter()
    for c in cmds:
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main():
    libs = subprocess.run(["ldd", AGENT], capture_output=True, text=True).stdout
    print("fleetclock-agent links libcurl: %s" % ("yes" if "libcurl" in libs else "no"))
    with ChronyInstance("b-srv1", "127.0.2.21", local_stratum=8) as s1, \
         ChronyInstance("b-srv2", "127.0.2.22", local_stratum=9) as s2, \
         ChronyInstance("b-cli", "127.0.2.23", servers=[s1.addr, s2.addr], serve=False) as cli:
        cli.wait_synced()
        sock = cli.socket
        agent_cmd = [[AGENT, "--socket", sock, "--status", "--json"]]
        chronyc3 = [[CHRONYC, "-h", sock, "-c", w] for w in ("tracking", "sources", "sourcestats")]
        chronyc1 = [[CHRONYC, "-h", sock, "-c", "tracking"]]
        a, b, c1 = [], [], []
        for _ in range(5):  # warm up caches
            timed(agent_cmd), timed(chronyc3)
        for _ in range(N):
            a.append(timed(agent_cmd))
            b.append(timed(chronyc3))
            c1.append(timed(chronyc1))
        snap = subprocess.run([os.path.join(BUILD, "tests", "bench", "bench_snapshot"), sock, str(N * 5)],
                              capture_output=True, text=True, check=True).stdout.split()
    ma, mb, mc = (statistics.median(x) * 1e3 for x in (a, b, c1))
    snap_us, snap_p90, nsrc = float(snap[1]), float(snap[2]), int(snap[3])
    print("(a) whole process, %d interleaved runs, medians:" % N)
    print("    fleetclock-agent --status --json      %8.3f ms" % ma)
    print("    chronyc -c tracking/sources/stats     %8.3f ms" % mb)
    print("    ratio chronyc x3 / agent              %8.2f   (target > 1)" % (mb / ma))
    print("(b) in process, %d snapshots of tracking + %d sources + sourcestats:" % (N * 5, nsrc))
    print("    snapshot median / p90                 %8.1f / %.1f us" % (snap_us, snap_p90))
    print("    one chronyc -c tracking (median)      %8.1f us" % (mc * 1e3))
    print("    snapshot / chronyc call               %8.3f   (target < 0.1)" % (snap_us / (mc * 1e3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
