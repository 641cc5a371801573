#!/usr/bin/env python3
"""Integration test (issue 20): the simulator's true errors beside the
dashboard's history, in headless Chromium — the demo's path only.

A collector on 127.0.60.2:9042 holds five minutes of reports from three
headsets that follow one master; the demo's truth feed (tests/sim/
truth_feed.py, the code scripts/demo runs) on 127.0.60.2:9043 serves their
true errors. With `?truth=URL` the page draws them (dashed, labelled
simulator truth), and the spread bound held the true spread in every bin;
without it the page fetches nothing of the kind and says nothing of truth;
with a feed that is down the history is drawn all the same."""
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sim"))
from collector_harness import Collector, make_doc  # noqa: E402
from browser import CHROMIUM, chromium, png_pixels, section_data  # noqa: E402
from fctest import main  # noqa: E402
from truth_feed import TruthFeed  # noqa: E402

ADDR, PORT, TRUTH_PORT = "127.0.60.2", 9042, 9043
GREEN = (0x00, 0xa0, 0x00)          # the true spread's line in dashboard.html
SPAN, STEP = 300, 10
HOSTS = ["tr-h1", "tr-h2", "tr-h3"]
TRUE = {"tr-h1": 0.0015, "tr-h2": -0.0015, "tr-h3": 0.003}   # true spread 4.5 ms


def report(host, sent_at, k):
    d = make_doc(host, sent_at=sent_at, offset=0.0002 * k, root_delay=0.008,
                 root_dispersion=0.001)
    d["chrony"]["selected"] = {"address": "127.0.60.30", "root_delay_s": 0.004,
                               "root_dispersion_s": 0.0005, "peer_delay_s": 0.004,
                               "peer_dispersion_s": 0.0005}
    d["relative_error_s"] = 0.0002 * k + 0.0045
    return d



@unittest.skipIf(CHROMIUM is None, "chromium is not installed (scripts/deps.sh installs it)")
class DashboardTruth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-dash-truth-")
        cls.c = Collector(cls.tmp, port=PORT, addr=ADDR,
                          extra="stale_after_s = 60\nbudget_ms = 10\n").start()
        cls.feed = TruthFeed(ADDR, TRUTH_PORT).start()
        now = time.time()
        for t in range(SPAN, -1, -STEP):
            for k, h in enumerate(HOSTS):
                assert cls.c.post(report(h, now - t, k))[0] == 204
                cls.feed.add(now - t, h, TRUE[h])
        cls.feed.add(now, "upstream", 0.0)  # a node that does not report: not drawn

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        cls.c.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def url(self, truth, window=900):
        return "http://%s:%d/?window=%d%s" % (ADDR, PORT, window, "&truth=" + truth if truth else "")

    def test_truth_beside_history(self):
        r = chromium(self.url(self.feed.url), "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        s = section_data(r.stdout, "history")
        self.assertEqual((s["state"], s.get("truth")), ("ready", "ok"), s)
        self.assertEqual(int(s["truth-points"]), 3 * (SPAN // STEP + 1), s)
        self.assertAlmostEqual(float(s["max-true-spread-ms"]), 4.5, delta=0.001)
        self.assertGreater(int(s["truth-bins"]), 0)
        self.assertEqual(s["truth-bins-contained"], s["truth-bins"], s)
        # labelled as simulator truth, never as a measurement
        self.assertRegex(r.stdout, re.compile(r'<span id="hist-truth">.*SIMULATOR TRUTH', re.S))
        self.assertIn(self.feed.url, r.stdout)

    def test_without_truth(self):
        r = chromium(self.url(None), "--dump-dom")
        s = section_data(r.stdout, "history")
        self.assertEqual(s["state"], "ready", s)
        self.assertNotIn("truth", s)
        self.assertNotIn("truth-points", s)
        self.assertRegex(r.stdout, r'<span id="hist-truth" hidden')

    def test_feed_down(self):
        r = chromium(self.url("http://%s:%d/truth.json" % (ADDR, TRUTH_PORT + 1)), "--dump-dom")
        s = section_data(r.stdout, "history")
        self.assertEqual(s["state"], "ready", s)
        self.assertTrue(s["truth"].startswith("unavailable"), s)
        self.assertEqual(s["hosts"], "3")

    def test_screenshot_has_the_true_spread(self):
        shot = os.path.join(self.tmp, "truth.png")
        r = chromium(self.url(self.feed.url, 300), "--screenshot=" + shot, "--window-size=1000,1500")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        w, h, px = png_pixels(shot)
        # the dashed line beyond the legend's swatch (~130 pixels of it)
        green = sum(1 for row in px for p in row if p == GREEN)
        self.assertGreater(green, 250, "the true spread's line is not drawn")


if __name__ == "__main__":
    main()
