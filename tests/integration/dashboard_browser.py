#!/usr/bin/env python3
"""Integration test: the collector's dashboard in headless Chromium. After
the page's script ran, the table has one row per host, and the host over
the budget and the stale host are shown red: their rows carry the "bad"
class, and the screenshot holds the red row background."""
import os
import re
import shutil
import tempfile
import time
import unittest

from browser import CHROMIUM, chromium, png_pixels
from collector_harness import Collector, make_doc
from fctest import main

PORT = 8477
ROW_RED = (0xff, 0xd6, 0xd6)       # tr.bad td background in dashboard.html


@unittest.skipIf(CHROMIUM is None, "chromium is not installed (scripts/deps.sh installs it)")
class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-dash-")
        cls.c = Collector(cls.tmp, port=PORT, extra="stale_after_s = 3\nbudget_ms = 5\n").start()
        assert cls.c.post(make_doc("dash-stale", offset=0.0001))[0] == 204
        time.sleep(3.5)

    def setUp(self):
        """Fresh reports from every host but dash-stale, just before rendering."""
        for host, off in (("dash-a", 0.0005), ("dash-b", -0.0012), ("dash-over", 0.009),
                          ("dash-c", 0.0021)):
            self.assertEqual(self.c.post(make_doc(host, offset=off))[0], 204)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_rows_and_red(self):
        r = chromium("http://127.0.4.1:%d/" % PORT, "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        rows = re.findall(r'<tr class="([^"]*)" data-host="([^"]*)" data-state="([^"]*)"', r.stdout)
        by_host = {h: (cls, state) for cls, h, state in rows}
        self.assertEqual(sorted(by_host), ["dash-a", "dash-b", "dash-c", "dash-over",
                                           "dash-stale"])
        self.assertEqual(by_host["dash-over"], ("host bad", "over budget"))
        self.assertEqual(by_host["dash-stale"], ("host bad", "stale"))
        for h in ("dash-a", "dash-b", "dash-c"):
            self.assertEqual(by_host[h], ("host", "ready"))
        self.assertIn("OVER_BUDGET", r.stdout)

    def test_screenshot_shows_red_rows(self):
        shot = os.path.join(self.tmp, "dash.png")
        r = chromium("http://127.0.4.1:%d/" % PORT, "--screenshot=" + shot)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        w, h, px = png_pixels(shot)
        red_lines = [y for y in range(h) if sum(1 for p in px[y] if p == ROW_RED) > w // 3]
        self.assertTrue(red_lines, "no red row background in the screenshot")
        # two red rows (over budget, stale), each ~25 px high (1 px borders between rows)
        bands = 1 + sum(1 for a, b in zip(red_lines, red_lines[1:]) if b - a > 1)
        self.assertGreaterEqual(len(red_lines), 40)
        self.assertLessEqual(len(red_lines), 70)
        self.assertEqual(bands, 2, red_lines)


if __name__ == "__main__":
    main()
