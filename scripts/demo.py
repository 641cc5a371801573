"""The README's demo (until the fleet simulator replaces it): a chronyd
server and a client whose clock is 17 minutes ahead and 100 ppm fast
(libfaketime), with `fleetclock-agent --status` watching the client
converge. Both chronyd run with -x: this machine's clock is never touched."""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "harness"))
from chronyd_harness import ChronyInstance  # noqa: E402

AGENT = os.path.join(os.environ.get("FLEETCLOCK_BUILD", "build"), "agent", "fleetclock-agent")


def status(sock):
    r = subprocess.run([AGENT, "--socket", sock, "--status", "--json"], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=30, help="seconds to watch (default 30)")
    args = ap.parse_args()
    print("Starting a chronyd server (127.0.2.1, local stratum 8) and a client whose clock is")
    print("17 minutes ahead and 100 ppm fast (faketime '+17m x1.0001') ...\n")
    with ChronyInstance("demo-server", "127.0.2.1", local_stratum=8) as srv, \
         ChronyInstance("demo-client", "127.0.2.2", servers=[srv.addr], serve=False,
                        faketime="+17m x1.0001") as cli:
        print("   t  synced  source offset (measured)   frequency   max error   state")
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < args.duration:
                d = status(cli.socket)
                if d:
                    src = d["sources"][0] if d["sources"] else None
                    meas = "%+20.6f s" % src["measured_offset"] if src and src["last_rx"] is not None else "%22s" % "-"
                    print("%4.0fs  %-6s  %s   %7.3f ppm  %9.6f s  %s" % (
                        time.monotonic() - t0, "yes" if d["synchronised"] else "no", meas,
                        d["tracking"]["freq_ppm"], d["max_error"], src["state"] if src else "-"))
                time.sleep(1)
        except KeyboardInterrupt:
            print("\ninterrupted")
        print("\nchronyd -x measures and serves but never adjusts a clock, so 'System time' below")
        print("keeps the 17 minutes a real node would step or slew away; the source offset and")
        print("the 100 ppm frequency are what chronyd learned.")
        print("\nThe client's view now (fleetclock-agent --status):\n")
        subprocess.run([AGENT, "--socket", cli.socket, "--status"])
    print("\nStopped both chronyd instances.")


if __name__ == "__main__":
    main()
