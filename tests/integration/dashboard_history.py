#!/usr/bin/env python3
"""Integration test (issue 20): the dashboard's history in headless Chromium.

A collector on 127.0.54.1:8990 gets twelve minutes of reports from three
headsets that follow one master (the relative bound in their reports) and
two candidates whose election view changes master half-way. After the
page's script ran, the history section has drawn every host, the master
strip shows the change, the spread bound is relative where it applies and
stays within the budget that the absolute bound exceeds, a shorter window
holds fewer reports, and the screenshot holds the spread bound's line."""
import os
import shutil
import tempfile
import time
import unittest

from collector_harness import Collector, election_view, make_doc  # noqa: E402
from browser import CHROMIUM, chromium, png_pixels, section_data  # noqa: E402
from fctest import main  # noqa: E402

ADDR, PORT = "127.0.54.1", 8990
ORANGE = (0xff, 0x7f, 0x0e)          # the spread bound's line in dashboard.html
SPAN, STEP = 720, 20                 # twelve minutes of reports, one per 20 s


def history_doc(host, sent_at, k):
    """A headset following master 127.0.54.10 (relative 3.2-3.4 ms, absolute
    9.2-9.4 ms), or a candidate (bound ~0.25 ms) whose election view says
    hd-obs for the first half, hd-fo after."""
    late = sent_at > time.time() - SPAN / 2
    if host.startswith("hd-h"):
        off = 0.0002 + 0.0001 * k
        d = make_doc(host, sent_at=sent_at, offset=off, root_delay=0.012, root_dispersion=0.003)
        d["chrony"]["selected"] = {"address": "127.0.54.10", "root_delay_s": 0.010,
                                   "root_dispersion_s": 0.001, "peer_delay_s": 0.002,
                                   "peer_dispersion_s": 0.0015}
        d["relative_error_s"] = off + 0.003
        return d
    d = make_doc(host, sent_at=sent_at, offset=0.00005, role="failover")
    serving = (host == "hd-fo") == late
    d["election"] = election_view(host, state="serving" if serving else "following",
                                  serving=serving, master="hd-fo" if late else "hd-obs")
    return d



@unittest.skipIf(CHROMIUM is None, "chromium is not installed (scripts/deps.sh installs it)")
class DashboardHistory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fc-dash-hist-")
        cls.c = Collector(cls.tmp, port=PORT, addr=ADDR,
                          extra="stale_after_s = 60\nbudget_ms = 10\n").start()
        now = time.time()
        hosts = ["hd-h1", "hd-h2", "hd-h3", "hd-obs", "hd-fo"]
        for t in range(SPAN, -1, -STEP):
            for k, h in enumerate(hosts):
                code = cls.c.post(history_doc(h, now - t, k))[0]
                assert code == 204, (h, t, code)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def render(self, window, *args):
        return chromium("http://%s:%d/?window=%d" % (ADDR, PORT, window), *args)

    def test_history_section(self):
        r = self.render(900, "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        s = section_data(r.stdout, "history")
        self.assertIsNotNone(s, "no history section")
        self.assertEqual(s["state"], "ready", s)
        self.assertEqual(s["hosts"], "5")
        self.assertEqual(int(s["points"]), 5 * (SPAN // STEP + 1))
        self.assertEqual(s["masters"], "hd-obs,hd-fo")
        # headset pairs relative, pairs with a candidate absolute
        self.assertEqual(s["bound-kinds"], "absolute,relative")
        # largest pair: headset h3 (absolute 9.4 ms) + a candidate (0.25 ms), within
        # 10 ms; the absolute spread bound (9.4 + 9.3 ms) would be over it
        self.assertAlmostEqual(float(s["max-spread-bound-ms"]), 9.65, delta=0.01)
        self.assertEqual(s["bins-over-budget"], "0")
        # the live view says the same
        self.assertIn("relative", r.stdout)

    def test_window_selects(self):
        r = self.render(300, "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        s = section_data(r.stdout, "history")
        self.assertEqual(s["window"], "300")
        # five minutes hold 15 or 16 of each host's reports (one per 20 s)
        self.assertIn(int(s["points"]), (5 * 15, 5 * 16), s)
        self.assertEqual(s["masters"], "hd-fo")

    def test_screenshot_has_the_bound(self):
        shot = os.path.join(self.tmp, "hist.png")
        r = self.render(900, "--screenshot=" + shot, "--window-size=1000,1500")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        w, h, px = png_pixels(shot)
        orange = sum(1 for row in px for p in row if p == ORANGE)
        self.assertGreater(orange, 300, "the spread bound's line is not drawn")


if __name__ == "__main__":
    main()
