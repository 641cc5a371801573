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


NO_SKIP_VAR = "FLEETCLOCK_NO_SKIP"
SKIP_EXIT = 77  # meson's SKIP


def no_skip():
    """True where every test must run (CI sets FLEETCLOCK_NO_SKIP=1): a skip
    there is a failure of the environment, not a pass."""
    return os.environ.get(NO_SKIP_VAR, "") not in ("", "0")


def exit_status(run, failed, skipped, strict):
    """The exit status of a test file: 1 when a test failed or none ran (a
    wrong name on the command line), 77 (meson's SKIP) when every test that
    ran was skipped, 0 otherwise; under strict (FLEETCLOCK_NO_SKIP) a skip
    is a failure."""
    if failed:
        return 1
    if skipped:  # (a skip in setUpClass is not counted in run)
        return 1 if strict else (SKIP_EXIT if skipped >= run else 0)
    return 1 if run == 0 else 0


def skip_all(reason, prog=None):
    """The whole file cannot run here: say why and exit 77, or, under
    FLEETCLOCK_NO_SKIP=1, exit 1 with the reason."""
    name = prog or os.path.basename(sys.argv[0])
    if no_skip():
        print("%s: FAIL: skipped where every test must run (%s=1): %s" % (name, NO_SKIP_VAR, reason))
        sys.exit(1)
    print("%s: SKIP: %s" % (name, reason))
    sys.exit(SKIP_EXIT)


def main(argv=None, suite=None):
    """Run the tests (unittest.main's selection from argv, or suite), list
    every skipped test with its reason, close with one 'N passed, N failed,
    N skipped' line and exit with exit_status()."""
    if suite is not None:
        res = unittest.TextTestRunner(verbosity=2).run(suite)
    else:
        res = unittest.main(argv=argv, exit=False, verbosity=2).result
    strict = no_skip()
    name = os.path.basename(sys.argv[0])
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    for test, reason in res.skipped:
        if strict:
            print("%s: FAIL: %s skipped where every test must run (%s=1): %s"
                  % (name, test.id(), NO_SKIP_VAR, reason))
        else:
            print("%s: SKIPPED %s: %s" % (name, test.id(), reason))
    print("%s: %d passed, %d failed, %d skipped" % (name, res.testsRun - failed - skipped,
          failed, skipped))
    sys.stdout.flush()
    sys.exit(exit_status(res.testsRun, failed, skipped, strict))
