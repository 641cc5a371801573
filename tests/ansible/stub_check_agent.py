#!/usr/bin/env python3
"""TEST FIXTURE, used only while the real fleetclock-agent has no --check: stands in for
fleetclock-agent --check [--fix] [--json] (verdict from the real agent's --status --json:
synchronised and max_error within [agent] budget_ms) and passes every other action to
the real agent given in FLEETCLOCK_REAL_AGENT (default /usr/local/sbin/fleetclock-agent)."""
import json
import os
import subprocess
import sys

REAL = os.environ.get("FLEETCLOCK_REAL_AGENT", "/usr/local/sbin/fleetclock-agent")
args = sys.argv[1:]
if "--check" not in args:
    os.execv(REAL, [REAL] + args)
conf = args[args.index("--config") + 1] if "--config" in args else "/etc/fleetclock/agent.conf"
budget_ms = 5.0
for line in open(conf):
    if line.startswith("budget_ms"):
        budget_ms = float(line.split("=")[1])
fixed = []
if "--fix" in args and subprocess.run([REAL, "--config", conf, "--makestep"],
                                      capture_output=True).returncode == 0:
    fixed.append("makestep")
r = subprocess.run([REAL, "--config", conf, "--status", "--json"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stderr.strip(), file=sys.stderr)
    sys.exit(2)
st = json.loads(r.stdout)
checks = [{"name": "synchronised", "status": "ok" if st["synchronised"] else "fail",
           "value": st["synchronised"], "message": "source %s" % st["tracking"].get("address")},
          {"name": "max_error", "status": "ok" if st["max_error"] * 1e3 <= budget_ms else "fail",
           "value": st["max_error"] * 1e3, "threshold": budget_ms,
           "message": "%.3f ms (budget %g ms)" % (st["max_error"] * 1e3, budget_ms)}]
ready = all(c["status"] == "ok" for c in checks)
print(json.dumps({"ready": ready, "checks": checks, "fixed": fixed}))
sys.exit(0 if ready else 1)
