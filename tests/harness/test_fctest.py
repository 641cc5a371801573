"""The harness's report tells the truth: a test file run through fctest.main
exits 0 when its tests passed, 77 (meson's SKIP) when every test was
skipped, 1 on a failure or when nothing ran, and under FLEETCLOCK_NO_SKIP=1
(CI) a skip is a failure naming its reason. Each case is a small test file
run as its own python3 process, as meson runs the real ones."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HARNESS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HARNESS)
import fctest  # noqa: E402

HEAD = "import os, sys, unittest\nimport fctest\n\n"

FILES = {
    "passes": """
        class T(unittest.TestCase):
            def test_a(self): pass
            def test_b(self): pass
        fctest.main()
        """,
    "some_skipped": """
        class T(unittest.TestCase):
            def test_a(self): pass
            def test_b(self): self.skipTest("no frobnicator here")
        fctest.main()
        """,
    "all_skipped": """
        @unittest.skipIf(True, "chromium is not installed")
        class T(unittest.TestCase):
            def test_a(self): pass
            def test_b(self): pass
        fctest.main()
        """,
    "class_setup_skipped": """
        class T(unittest.TestCase):
            @classmethod
            def setUpClass(cls): raise unittest.SkipTest("no tmpfs")
            def test_a(self): pass
        fctest.main()
        """,
    "fails": """
        class T(unittest.TestCase):
            def test_a(self): self.skipTest("no frobnicator here")
            def test_b(self): self.fail("wrong")
        fctest.main()
        """,
    "runs_nothing": """
        class T(unittest.TestCase):
            def test_a(self): pass
        fctest.main(argv=[sys.argv[0], "T.test_nonexistent"])
        """,
    "skip_all": """
        if True:
            fctest.skip_all("needs root")
        print("not reached")
        """,
    "suite": """
        class T(unittest.TestCase):
            def test_a(self): self.skipTest("no openssl")
        fctest.main(suite=unittest.defaultTestLoader.loadTestsFromTestCase(T))
        """,
}


class Harness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="fleetclock-fctest-")
        for name, body in FILES.items():
            with open(os.path.join(cls.tmp.name, name + ".py"), "w") as f:
                f.write(HEAD + textwrap.dedent(body))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_file(self, name, strict=False):
        env = dict(os.environ, PYTHONPATH=HARNESS)
        env.pop(fctest.NO_SKIP_VAR, None)
        if strict:
            env[fctest.NO_SKIP_VAR] = "1"
        r = subprocess.run([sys.executable, os.path.join(self.tmp.name, name + ".py")],
                           capture_output=True, text=True, timeout=60, env=env)
        return r.returncode, r.stdout

    def test_passed_is_0(self):
        rc, out = self.run_file("passes")
        self.assertEqual(rc, 0, out)
        self.assertIn("passes.py: 2 passed, 0 failed, 0 skipped", out)

    def test_partial_skip_passes_and_is_listed_with_its_reason(self):
        rc, out = self.run_file("some_skipped")
        self.assertEqual(rc, 0, out)
        self.assertIn("some_skipped.py: SKIPPED __main__.T.test_b: no frobnicator here", out)
        self.assertIn("some_skipped.py: 1 passed, 0 failed, 1 skipped", out)

    def test_all_skipped_is_77(self):
        rc, out = self.run_file("all_skipped")
        self.assertEqual(rc, 77, out)
        self.assertIn("0 passed, 0 failed, 2 skipped", out)
        rc, out = self.run_file("class_setup_skipped")
        self.assertEqual(rc, 77, out)
        rc, out = self.run_file("suite")
        self.assertEqual(rc, 77, out)

    def test_skip_all_is_77_with_the_reason(self):
        rc, out = self.run_file("skip_all")
        self.assertEqual(rc, 77, out)
        self.assertIn("skip_all.py: SKIP: needs root", out)
        self.assertNotIn("not reached", out)

    def test_failure_or_nothing_run_is_1(self):
        rc, out = self.run_file("fails")
        self.assertEqual(rc, 1, out)
        self.assertIn("0 passed, 1 failed, 1 skipped", out)
        rc, out = self.run_file("runs_nothing")
        self.assertEqual(rc, 1, out)

    def test_no_skip_turns_every_skip_into_a_failure_with_its_reason(self):
        for name, reason in (("some_skipped", "no frobnicator here"),
                             ("all_skipped", "chromium is not installed"),
                             ("class_setup_skipped", "no tmpfs"), ("suite", "no openssl"),
                             ("skip_all", "needs root")):
            rc, out = self.run_file(name, strict=True)
            self.assertEqual(rc, 1, "%s: %s" % (name, out))
            self.assertRegex(out, r"FAIL: .*FLEETCLOCK_NO_SKIP=1\): " + reason, name)
        rc, out = self.run_file("passes", strict=True)
        self.assertEqual(rc, 0, out)

    def test_exit_status_table(self):
        for run, failed, skipped, strict, want in (
                (3, 0, 0, False, 0), (3, 1, 0, False, 1), (3, 1, 3, False, 1),
                (3, 0, 1, False, 0), (3, 0, 3, False, 77), (0, 0, 1, False, 77),
                (0, 0, 0, False, 1), (3, 0, 1, True, 1), (3, 0, 3, True, 1),
                (3, 0, 0, True, 0)):
            self.assertEqual(fctest.exit_status(run, failed, skipped, strict), want,
                             (run, failed, skipped, strict))


def load_test_report():
    """scripts/test_report.py, scripts/test's bookkeeping, as a module."""
    import importlib.util
    path = os.path.join(HARNESS, "..", "..", "scripts", "test_report.py")
    spec = importlib.util.spec_from_file_location("test_report", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Report(unittest.TestCase):
    """scripts/test's count and skip list from meson's testlog.json records."""

    def test_counts_and_lists_skips_with_their_reasons(self):
        tr = load_test_report()
        recs = [{"name": "a", "result": "OK", "stdout": "a.py: 3 passed, 0 failed, 0 skipped\n"},
                {"name": "b", "result": "OK",
                 "stdout": "b.py: SKIPPED __main__.T.test_x: no openssl\nb.py: 2 passed\n"},
                {"name": "c", "result": "SKIP", "stdout": "c.py: SKIP: needs root\n"},
                {"name": "d", "result": "SKIP", "stdout": ""},
                {"name": "e", "result": "FAIL", "stdout": "e.py: SKIPPED x: y\n"},
                {"name": "h", "result": "FAIL", "stdout": "h.py: FAIL: skipped where every test "
                 "must run (FLEETCLOCK_NO_SKIP=1): needs root\n"},
                {"name": "f", "result": "TIMEOUT"}, {"name": "g", "result": "EXPECTEDFAIL"}]
        with tempfile.TemporaryDirectory() as d:
            log, skips = os.path.join(d, "testlog.json"), os.path.join(d, "skips")
            with open(log, "w") as f:
                f.write("\n".join(json.dumps(r) for r in recs) + "\nnot json\n")
            r = subprocess.run([sys.executable, tr.__file__, "count", skips, log,
                                os.path.join(d, "missing.json")],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["3", "3", "2"])
            listed = open(skips).read()
        self.assertIn("b: partly skipped (counted as passed)\n    b.py: SKIPPED __main__.T.test_x: no openssl", listed)
        self.assertIn("c: skipped\n    c.py: SKIP: needs root", listed)
        self.assertIn("d: skipped\n    (no reason printed)", listed)
        self.assertNotIn("e:", listed)
        self.assertIn("h: failed: skipped where every test must run\n    h.py: FAIL: skipped", listed)

    def test_coverage_is_summed_per_top_directory(self):
        tr = load_test_report()
        files = [{"filename": "agent/a.c", "line_covered": 1, "line_total": 4},
                 {"filename": "agent/sub/b.c", "line_covered": 3, "line_total": 4},
                 {"filename": "common/c.c", "line_covered": 0, "line_total": 0}]
        self.assertEqual(tr.per_directory(files), {"agent/": [4, 8], "common/": [0, 0]})
        self.assertEqual(tr.pct(4, 8), " 50.0 %")


if __name__ == "__main__":
    fctest.main()
