#!/usr/bin/env python3
"""Short CI versions of the fleet simulator's scenarios (issue 6).

    test_fleetsim.py baseline        all up, wifi: headsets converge under
                                     the budget, chronyd's estimate brackets
                                     the true error, no process escaped, the
                                     real clock untouched, outputs written
    test_fleetsim.py upstream-kill   holdover: after the upstream dies the
                                     master keeps serving, the headsets stay
                                     within the budget and the master's error
                                     bound grows
    test_fleetsim.py command         a node's extra command (the agent's
                                     slot) runs on the node's virtual clock
    test_fleetsim.py format          scenario files are validated
    test_fleetsim.py analysis        the summary's arithmetic
    test_fleetsim.py events          link events and per-node link parameters
    test_fleetsim.py peer-links      candidates' announces and NTP through relays
"""
import os
import socket
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402


def scenario(name):
    return fleetsim.load_scenario(os.path.join(HERE, "scenarios", name + ".toml"))


class FleetsimTest(unittest.TestCase):
    def run_sc(self, name):
        sc = scenario(name)
        out = tempfile.mkdtemp(prefix="fleetclock-fleetsim-")
        s, rows = fleetsim.run_scenario(sc, out, quiet=True)
        self.out = out
        return sc, s, rows

    def common(self, sc, s, rows):
        self.assertEqual(s["escaped"], {}, "processes escaped their node's clock")
        self.assertTrue(s["real_clock_unchanged"])
        for f in ("samples.csv", "events.csv", "summary.json", "summary.txt"):
            self.assertTrue(os.path.getsize(os.path.join(self.out, f)) > 0, f)
        per_node = {}
        for r in rows:
            per_node[r["node"]] = per_node.get(r["node"], 0) + 1
        for n in sc["nodes"]:
            self.assertGreaterEqual(per_node[n["name"]], sc["duration"] - 3, n["name"])

    def test_baseline(self):
        sc, s, rows = self.run_sc("baseline-ci")
        self.common(sc, s, rows)
        budget = sc["budget_ms"]
        for name, n in s["nodes"].items():
            if n["role"] != "headset":
                continue
            self.assertIsNotNone(n["converge_s"], name + " never converged")
            self.assertLess(n["converge_s"], 25, name)
            self.assertLess(n["steady_p99_ms"], budget, name)
            self.assertGreaterEqual(n["bracket_fraction"], 0.8, name)
        self.assertLess(s["fleet"]["headset_spread_steady_p99_ms"], 2 * budget)
        # the headsets really started wrong: the test would see a failure
        first = [r for r in rows if r["t"] == 0 and r["role"] == "headset"]
        self.assertTrue(any(abs(r["true_error"]) > 0.1 for r in first))

    def test_upstream_kill(self):
        sc, s, rows = self.run_sc("upstream-kill-ci")
        self.common(sc, s, rows)
        kill = sc["events"][0]["at"]
        budget = sc["budget_ms"] / 1e3
        after = [r for r in rows if r["t"] > kill + 1]
        self.assertTrue(all(not r["alive"] for r in after if r["node"] == "upstream"))
        master = [r for r in after if r["node"] == "master"]
        self.assertTrue(all(r["alive"] and r["leap"] != fleetsim.LEAP_UNSYNC for r in master),
                        "master lost synchronisation status in holdover")
        before = [r for r in rows if r["node"] == "master" and kill - 5 < r["t"] <= kill]
        self.assertGreater(master[-1]["bound"], before[-1]["bound"],
                           "master's error bound did not grow in holdover")
        for r in after:
            if r["role"] == "headset":
                self.assertLess(abs(r["true_error"]), budget, "%s at %s" % (r["node"], r["t"]))
                self.assertEqual(r["ref"], "master")

    def test_command(self):
        """A node's extra command (the agent's or collector's slot) runs on the
        node's clock, with or without chronyd, and can be stopped/started."""
        d = tempfile.mkdtemp(prefix="fleetclock-cmd-")
        path = os.path.join(d, "cmd.toml")
        loop = ("while true; do date +%s.%N > $PROBE_OUT.tmp; mv $PROBE_OUT.tmp $PROBE_OUT; "
                "sleep 0.1; done")
        libm = "/lib/x86_64-linux-gnu/libm.so.6"
        with open(path, "w") as f:
            f.write('name = "cmd"\nduration = 6\n'
                    '[[node]]\nname = "up"\nrole = "upstream"\nlocal_stratum = 1\n'
                    'env = { PROBE_OUT = "{dir}/probe" }\n'
                    'command = ["sh", "-c", "%s"]\n'
                    '[[node]]\nname = "collector"\nrole = "collector"\nchronyd = false\n'
                    'offset = 250.0\n'
                    'env = { PROBE_OUT = "{dir}/probe", LD_PRELOAD = "%s" }\n'
                    'command = ["sh", "-c", "%s"]\n'
                    '[[node]]\nname = "rogue"\nrole = "agent"\nchronyd = false\n'
                    'command = ["env", "-u", "LD_PRELOAD", "sleep", "30"]\n'
                    % (loop, libm, loop))
        sc = fleetsim.load_scenario(path)
        fleet = fleetsim.Fleet(sc, os.path.join(d, "out"), quiet=True)

        def probe(node):
            p = os.path.join(node.dir, "probe")
            for _ in range(50):
                if os.path.exists(p):
                    with open(p) as f:
                        return float(f.read())
                time.sleep(0.1)
            self.fail("%s: command wrote nothing" % node.name)

        try:
            fleet.start()
            up, col = fleet.nodes["up"], fleet.nodes["collector"]
            self.assertIsNone(col.proc)
            self.assertTrue(col.alive())
            time.sleep(0.3)
            self.assertEqual(up.escaped() + col.escaped(), [])
            # no server: the collector host stays 250 s ahead, and so does its command
            self.assertAlmostEqual(probe(col) - time.time(), 250.0, delta=1.0)
            self.assertAlmostEqual(col.clock.true_error(), 250.0, delta=0.01)
            self.assertAlmostEqual(probe(up) - time.time(), 0.0, delta=1.0)
            # the self-check reports the process that left the clock (sleep
            # started without the preload), and only that one
            fleet.check_escapes()
            rogue = fleet.nodes["rogue"].extra[0].pid
            self.assertEqual({n: [b[:1] + b[2:] for b in v] for n, v in fleet.escapes.items() if v},
                             {"rogue": [(rogue, "no vclock preload")]})
            fleet.apply(dict(at=1, action="command-stop", node="collector"))
            self.assertFalse(col.alive())
            self.assertTrue(up.alive())
            os.unlink(os.path.join(col.dir, "probe"))
            fleet.apply(dict(at=2, action="command-start", node="collector"))
            self.assertTrue(col.alive())
            self.assertAlmostEqual(probe(col) - time.time(), 250.0, delta=1.0)
        finally:
            fleet.stop()

    def test_analysis(self):
        """The summary's arithmetic on hand-made samples."""
        ct = fleetsim.converge_time
        seq = [(0, 1.0), (1, 0.01), (2, 0.001), (3, -0.02), (4, 0.001), (5, -0.001)]
        self.assertEqual(ct(seq, 0.005, 0, 10), 4)      # last excursion at t=3
        self.assertEqual(ct(seq, 0.005, 2, 3), 0)       # within [2, 3): fine from the start
        self.assertIsNone(ct([(0, 1.0)], 0.005, 0, 10))  # never converged
        self.assertEqual(fleetsim.phases(100, [(30, "kill", "u", "up gone")]),
                         [(0.0, 30, "start"), (30, 100.0, "up gone")])
        self.assertAlmostEqual(fleetsim.percentile(list(range(1, 101)), 99), 99.01)
        sc = {"name": "t", "profile": "wifi", "budget_ms": 5.0, "duration": 10,
              "nodes": [{"name": "u", "role": "upstream"}, {"name": "a", "role": "headset"},
                        {"name": "b", "role": "headset"}]}
        rows = []
        for t in range(10):
            a = 0.5 if t < 3 else 0.002  # a converges at t = 3
            for n, e in (("u", 0.0), ("a", a), ("b", -0.001)):
                rows.append(dict(t=float(t), node=n, role="x", alive=1, true_error=e,
                                 est_error=0.0, bound=0.0015, leap=0, stratum=2, ref=""))
        s = fleetsim.analyse(rows, sc, [])
        self.assertEqual(s["nodes"]["a"]["converge_s"], 3)
        self.assertEqual(s["fleet"]["converged_s"], 3)
        self.assertAlmostEqual(s["fleet"]["headset_spread_steady_p99_ms"], 3.0)
        self.assertAlmostEqual(s["nodes"]["b"]["steady_p99_ms"], 1.0)
        # bound 1.5 ms brackets b (1 ms) always, a only once converged... never (2 ms)
        self.assertEqual(s["nodes"]["b"]["bracket_fraction"], 1.0)
        self.assertEqual(s["nodes"]["a"]["bracket_fraction"], 0.0)
        self.assertAlmostEqual(s["phases"][0]["headset_max_abs_ms"], 500.0)

    def test_events(self):
        """Link events act on the right relays (fleet built, chronyd not started)."""
        d = tempfile.mkdtemp(prefix="fleetclock-ev-")
        path = os.path.join(d, "ev.toml")
        with open(path, "w") as f:
            f.write('[[node]]\nname = "a"\nrole = "upstream"\n'
                    '[[node]]\nname = "b"\nrole = "master"\nservers = ["a"]\n'
                    '[[node]]\nname = "c"\nservers = ["a", "b"]\n'
                    'link_params = { loss = 0.5, outages = [[10, 20]] }\n')
        sc = fleetsim.load_scenario(path)
        fleet = fleetsim.Fleet(sc, os.path.join(d, "out"), quiet=True)
        try:
            fleet.build()
            links = fleet.emu.links
            self.assertEqual(sorted(links), ["b->a", "c->a", "c->b"])
            self.assertEqual(links["c->a"].p["loss"], 0.5)
            self.assertEqual(links["c->b"].p["outages"], [[10, 20]])
            self.assertEqual(links["b->a"].p["loss"], 0.01)  # plain wifi

            def down():
                return sorted(n for n, ln in links.items() if ln.down)
            fleet.apply(dict(at=1, action="partition", nodes=["a"]))
            self.assertEqual(down(), ["b->a", "c->a"])
            fleet.apply(dict(at=2, action="heal"))
            self.assertEqual(down(), [])
            fleet.apply(dict(at=3, action="link-down", node="b"))
            self.assertEqual(down(), ["b->a", "c->b"])
            fleet.apply(dict(at=4, action="link-up", node="b"))
            self.assertEqual(down(), [])
        finally:
            fleet.stop()

    def test_peer_links(self):
        """`peers`: a candidate hears each peer at the peer's one relay
        address (the one every node reaches it at), for its announces and for
        its NTP; link-set acts between a group."""
        d = tempfile.mkdtemp(prefix="fleetclock-peers-")
        path = os.path.join(d, "peers.toml")
        with open(path, "w") as f:
            f.write('[[node]]\nname = "m"\nrole = "master"\nlink = "lan"\nservers = ["f"]\n'
                    'peers = ["f", "r"]\n'
                    '[[node]]\nname = "f"\nrole = "failover"\nlink = "lan"\nservers = ["m"]\n'
                    'peers = ["m"]\n'
                    '[[node]]\nname = "r"\nrole = "rogue"\nlink = "ideal"\npeers = ["m"]\n'
                    '[[node]]\nname = "h"\nservers = ["m", "f"]\n')
        sc = fleetsim.load_scenario(path)
        fleet = fleetsim.Fleet(sc, os.path.join(d, "out"), quiet=True)
        try:
            fleet.build()
            links = fleet.emu.links
            self.assertEqual(sorted(links), ["f->m", "f=>m announce", "h->f", "h->m", "m->f",
                                             "m->r", "m=>f announce", "m=>r announce",
                                             "r->m", "r=>m announce"])
            ip = {n: ln.listen[0] for n, ln in links.items()}
            addr = {n: node.addr for n, node in fleet.nodes.items()}
            # one address per server, shared by every client's link to it
            self.assertEqual(ip["h->m"], ip["f->m"])
            self.assertEqual(ip["h->m"], ip["r->m"])
            self.assertNotEqual(ip["h->m"], ip["h->f"])
            self.assertEqual(links["h->m"].listen, (ip["h->m"], 123))
            # f's announces to m arrive from the address m measures f at
            self.assertEqual(links["f=>m announce"].back.getsockname()[0], ip["m->f"])
            self.assertEqual(links["f=>m announce"].target, (addr["m"], 3191))
            self.assertEqual(links["m->f"].target, (addr["f"], 123))
            self.assertEqual(sorted(fleet.announce_to["m"]),
                             sorted(["%s:3191" % ip["m=>f announce"],
                                     "%s:3191" % ip["m=>r announce"]]))
            self.assertEqual(fleet.announce_to["r"], ["%s:3191" % ip["r=>m announce"]])
            self.assertEqual(fleet.announce_to["f"], ["%s:3191" % ip["f=>m announce"]])
            # only chronyd sources from `servers`: m has f's relay, not r's
            self.assertEqual([a for a, _, _ in fleet.nodes["m"].servers], [ip["m->f"]])
            self.assertEqual([a for a, _, _ in fleet.nodes["h"].servers], [ip["h->m"], ip["h->f"]])

            def down():
                return sorted(n for n, ln in links.items() if ln.down)
            fleet.apply(dict(at=1, action="link-set", nodes=["m", "f"], down=True, loss=0.4))
            self.assertEqual(down(), ["f->m", "f=>m announce", "m->f", "m=>f announce"])
            self.assertEqual(links["m=>f announce"].p["loss"], 0.4)
            self.assertEqual(links["h->m"].p["loss"], 0.01)
            self.assertEqual(links["m=>r announce"].p["loss"], 0.0)
            fleet.apply(dict(at=2, action="link-set", nodes=["m", "f"], down=False, loss=0.0))
            self.assertEqual(down(), [])
            self.assertEqual(links["f=>m announce"].p["loss"], 0.0)
            # a packet: r -> m's relay -> m, seen from the relay m measures r through
            fleet.emu.start()
            rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rx.bind((addr["m"], 3191))
                rx.settimeout(2.0)
                tx.bind((addr["r"], 0))
                tx.sendto(b"announce", links["r=>m announce"].listen)
                data, src = rx.recvfrom(100)
                self.assertEqual((data, src[0]), (b"announce", ip["m->r"]))
                # NTP: h -> m's one address, port 123 -> m, through h's own link
                rx.close()
                rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                rx.bind((addr["m"], 123))
                rx.settimeout(2.0)
                tx.close()
                tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                tx.bind((addr["h"], 0))
                tx.sendto(b"ntp", (ip["h->m"], 123))
                data, src = rx.recvfrom(100)
                self.assertEqual((data, src[0]), (b"ntp", ip["h->m"]))
                self.assertEqual(links["h->m"].stats["fwd"], 1)
            finally:
                rx.close()
                tx.close()
        finally:
            fleet.stop()

    def test_format(self):
        bad = os.path.join(tempfile.mkdtemp(prefix="fleetclock-fmt-"), "bad.toml")
        for text in ('[[node]]\nname = "a"\ncolour = "red"\n',
                     '[[node]]\nname = "a"\nservers = ["nobody"]\n',
                     '[[node]]\nname = "a"\n[[event]]\nat = 1\naction = "explode"\nnode = "a"\n',
                     '[[node]]\nname = "a"\noffset = "lots"\n',
                     '[[node]]\nname = "a"\nlink = "5g"\n',
                     '[[node]]\nname = "a"\nlink_params = { lag = 1 }\n'):
            with open(bad, "w") as f:
                f.write(text)
            with self.assertRaises(ValueError, msg=text):
                fleetsim.load_scenario(bad)
        sc = scenario("baseline-wifi")
        self.assertEqual(len(sc["nodes"]), 13)
        h = [n for n in sc["nodes"] if n["role"] == "headset"]
        self.assertEqual(len({n["offset"] for n in h}), 10)  # drawn per headset
        self.assertTrue(all(-2.0 <= n["offset"] <= 2.0 for n in h))


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    which = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
    if which not in ("format", "analysis") and os.geteuid() != 0:
        fctest.skip_all("needs root")
    names = {"baseline": "test_baseline", "upstream-kill": "test_upstream_kill",
             "format": "test_format", "command": "test_command", "analysis": "test_analysis",
             "events": "test_events",
             "peer-links": "test_peer_links"}
    argv = [sys.argv[0]] + (["FleetsimTest." + names[which]] if which else [])
    fctest.main(argv=argv)
