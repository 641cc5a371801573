#!/usr/bin/env python3
"""The link emulator (tests/sim/linkemu.py): delay and asymmetry per
direction, loss rate, outages, and the wifi profile's delay range. One-way
delays are measured on this machine's clock by the two ends themselves."""
import os
import socket
import statistics
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linkemu import LinkEmu, profile  # noqa: E402
from simnode import sim_addr  # noqa: E402

SERVER = (sim_addr(2, 1), 9100)


class Echo:
    """UDP echo server noting when each request arrived."""

    def __init__(self, addr):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(addr)
        self.s.settimeout(0.2)
        self.arrivals = {}
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                data, src = self.s.recvfrom(2048)
            except socket.timeout:
                continue
            self.arrivals[data] = time.monotonic()
            self.s.sendto(data, src)

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()


class LinkEmuTest(unittest.TestCase):
    def setUp(self):
        self.echo = Echo(SERVER)
        self.emu = LinkEmu(seed=7)
        self.cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cli.bind((sim_addr(2, 3), 0))
        self.cli.settimeout(0.3)

    def tearDown(self):
        self.emu.stop()
        self.echo.close()
        self.cli.close()

    def ping(self, listen, n, gap=0.002):
        """Send n numbered packets; return [(fwd_s, back_s) or None]."""
        sent, got = {}, {}

        def receive():
            end = time.monotonic() + n * gap + 1.0
            while time.monotonic() < end and len(got) < n:
                try:
                    data, _ = self.cli.recvfrom(2048)
                except socket.timeout:
                    continue
                got[data] = time.monotonic()

        rx = threading.Thread(target=receive)
        rx.start()
        for i in range(n):
            data = b"%d" % i
            sent[data] = time.monotonic()
            self.cli.sendto(data, listen)
            time.sleep(gap)
        rx.join()
        out = []
        for data, t_send in sent.items():
            if data in got and data in self.echo.arrivals:
                t_arr = self.echo.arrivals[data]
                out.append((t_arr - t_send, got[data] - t_arr))
            else:
                out.append(None)
        return out

    def test_delay_and_asymmetry(self):
        listen = (sim_addr(2, 2), 9101)
        self.emu.add("a", listen, SERVER, profile("ideal", delay_ms=20.0, asym=0.5))
        self.emu.start()
        res = [r for r in self.ping(listen, 20, gap=0.01) if r]
        self.assertEqual(len(res), 20)
        fwd = statistics.median(r[0] for r in res)
        back = statistics.median(r[1] for r in res)
        # 20 ms * 1.5 and * 0.5: never much earlier (3 ms of timestamping), later by
        # whatever this shared machine's scheduler adds; the asymmetry holds either way
        self.assertGreater(fwd, 0.030 - 0.003, res)
        self.assertLess(fwd, 0.030 + 0.030, res)
        self.assertGreater(back, 0.010 - 0.003, res)
        self.assertLess(back, 0.010 + 0.030, res)
        self.assertGreater(fwd - back, 0.010, res)

    def test_loss_rate(self):
        listen = (sim_addr(2, 2), 9102)
        self.emu.add("l", listen, SERVER, profile("ideal", loss=0.3))
        self.emu.start()
        res = self.ping(listen, 400, gap=0.0005)
        lost = sum(1 for r in res if r is None) / len(res)
        # a round trip survives two independent 30 % losses: 1 - 0.7^2 = 0.51 lost
        self.assertAlmostEqual(lost, 0.51, delta=0.08)

    def test_outage_and_partition(self):
        listen = (sim_addr(2, 2), 9103)
        p = profile("ideal", outages=[(0.0, 0.5)])
        self.emu.add("o", listen, SERVER, p)
        self.emu.start()
        self.assertTrue(all(r is None for r in self.ping(listen, 10)))
        time.sleep(0.5)
        self.assertTrue(all(r is not None for r in self.ping(listen, 10)))
        self.emu.set_down("o", True)
        self.assertTrue(all(r is None for r in self.ping(listen, 10)))
        self.emu.set_down("o", False)
        self.assertTrue(all(r is not None for r in self.ping(listen, 10)))

    def test_wifi_profile_range(self):
        listen = (sim_addr(2, 2), 9104)
        self.emu.add("w", listen, SERVER, profile("wifi"))
        self.emu.start()
        res = self.ping(listen, 300, gap=0.002)
        ok = [r for r in res if r]
        one_way = [d for r in ok for d in r]
        self.assertGreater(min(one_way), 0.0019)
        # 30 ms at most, plus this machine's scheduling noise on a few packets
        self.assertLess(sorted(one_way)[int(len(one_way) * 0.97)], 0.031)
        self.assertLess(max(one_way), 0.080)
        self.assertGreater(statistics.median(one_way), 0.003)
        lost = 1 - len(ok) / len(res)
        self.assertLess(lost, 0.08)  # about 2 %, 300 samples

    def test_shared_address(self):
        """Links that name their client share one address and port: each
        client's packets take its own link (here one is down), replies come
        back from that address, a stranger's packets go nowhere."""
        listen = (sim_addr(2, 2), 9105)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind((sim_addr(2, 4), 0))
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind((sim_addr(2, 5), 0))
        try:
            self.emu.add("mine", listen, SERVER, profile("ideal"), client=sim_addr(2, 3))
            self.emu.add("other", listen, SERVER, profile("ideal"), client=sim_addr(2, 4))
            with self.assertRaises(ValueError):
                self.emu.add("again", listen, SERVER, profile("ideal"), client=sim_addr(2, 3))
            self.emu.set_down("other", True)
            self.emu.start()
            self.cli.sendto(b"mine", listen)
            data, src = self.cli.recvfrom(100)
            self.assertEqual((data, src), (b"mine", listen))
            other.sendto(b"other", listen)
            stranger.sendto(b"stranger", listen)
            self.assertTrue(all(r is not None for r in self.ping(listen, 5)))
            self.assertNotIn(b"other", self.echo.arrivals)
            self.assertNotIn(b"stranger", self.echo.arrivals)
            self.assertEqual(self.emu.links["other"].stats["dropped_down"], 1)
            self.assertEqual(self.emu.unknown_client, 1)
        finally:
            other.close()
            stranger.close()

    def test_unknown_profile(self):
        with self.assertRaises(ValueError):
            profile("carrier-pigeon")
        with self.assertRaises(ValueError):
            profile("wifi", lag=3)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    fctest.main()
