"""fctest - small helpers shared by the Python integration tests."""

import json
import os
import subprocess
import sys
import time
import unittest

BUILD = os.environ.get("FLEETCLOCK_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("FLEETCLOCK_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(BUILD, "agent", "fleetclock-agent")


def agent(*args, timeout=60, user=None, env=None, faketime=None):
    """Run fleetclock-agent; returns CompletedProcess (text). faketime: run it
    on the same faked clock as a chronyd started with that spec."""
    cmd = [AGENT] + list(args)
    if faketime is not None:
        from chronyd_harness import faketime_env
        env = faketime_env(faketime, env)
    if user is not None:
        cmd = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def agent_json(*args, **kw):
    r = agent(*args, **kw)
    if r.returncode != 0:
        raise AssertionError("fleetclock-agent %s failed (%d): %s" % (args, r.returncode, r.stderr))
    return json.loads(r.stdout)


def wait_for(pred, timeout, step=0.1, what=None):
    """Poll pred() until it returns a true value and return that value. On
    timeout: raise AssertionError naming `what` when given, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    if what is not None:
        raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
    return None


def main():
    """unittest.main, with a closing 'N passed, N failed' line."""
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    skipped = len(res.skipped)
    print("%s: %d passed, %d failed, %d skipped" % (os.path.basename(sys.argv[0]),
          res.testsRun - failed - skipped, failed, skipped))
    sys.exit(1 if failed or res.testsRun == 0 else 0)
