#!/usr/bin/env python3
"""Issue 7 in the fleet simulator, short CI versions:

    test_election_sim.py field-report     the field report replayed with
                                          fleetclock's election
                                          (scenarios/election-field-report-ci.toml)
    test_election_sim.py upstream-insane  the upstream router to 1970, to +3 h,
                                          back (scenarios/election-upstream-insane-ci.toml)
    test_election_sim.py partition        announce loss and partitions between the
                                          master and the failover
                                          (scenarios/election-partition-ci.toml)
    test_election_sim.py forged           a rogue candidate with the wrong key
                                          claiming priority1 0
                                          (scenarios/election-forged-ci.toml)
    test_election_sim.py rtc-master       scenario 2: the master with a DS1307,
                                          restored from it at boot
                                          (scenarios/election-rtc-master-ci.toml)

Checks the issue's targets: headsets within the 5 ms budget in every phase
after the start (wifi), no candidate ever serves time (normal leap) that is
minutes off, the failover serves within the announce timeout + a round of
each master kill, no process escaped its node's clock, the real clock
untouched. The plain-chrony baseline of the same timeline is run by
election_compare.py (figures in docs/election.md)."""
import configparser
import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import election_compare as ec  # noqa: E402
import fleetsim  # noqa: E402


# A failover must happen long before free-running headsets leave the budget (minutes at
# their residual frequency error); 10 s on a 1 s announce interval. The design figure
# (3 intervals) is printed and measured by election_compare.py, not asserted.
FAILOVER_S = 10.0


class ElectionSim(unittest.TestCase):
    def run_checked(self, name, net, headsets):
        """Run, then the targets common to every scenario."""
        path = os.path.join(HERE, "scenarios", name + ".toml")
        out = tempfile.mkdtemp(prefix="fleetclock-election-sim-")
        sc, s, rows = ec.run(path, out, net)
        self.rows = rows
        self.assertEqual(s["escaped"], {}, "processes escaped their node's clock")
        self.assertTrue(s["real_clock_unchanged"])
        ph = ec.metrics(sc, s, rows)
        for m in ph:
            self.assertGreater(m["n_headset_samples"], headsets * (m["end"] - m["start"] - 2), m)
        for m in ph[1:]:
            self.assertLess(m["headset_max_ms"], sc["budget_ms"], m)
            # never serve a clock that is wrong by more than the budget
            self.assertLess(m["served_wrong_max_ms"], sc["budget_ms"], m)
        print(ec.table(ph, ph))
        return sc, s, out

    def agent_log(self, out, node):
        with open(os.path.join(out, "nodes", node, "command.out"), errors="replace") as f:
            return f.read()

    def test_upstream_insane(self):
        sc, s, out = self.run_checked("election-upstream-insane-ci", 24, 6)
        for node in ("master", "failover"):
            log = self.agent_log(out, node)
            self.assertRegex(log, r"upstream \S+ is -1700000000\.\d+s from this clock: taken OFFLINE")
            self.assertIn("agrees again", log)
            # +3 h while quarantined: never back online in between
            self.assertEqual(log.count("taken OFFLINE"), 1, log)

    def test_field_report(self):
        sc, s, out = self.run_checked("election-field-report-ci", 22, 8)
        ft = ec.failover_times(out, s["events"], ec.T0[sc["name"]])
        self.assertEqual(len(ft), 2, ft)
        for t in ft:
            self.assertIsNotNone(t, "the failover never served after a master kill")
            # the design's target is 3 announce intervals (+ one round's chronyd
            # commands) after the master's last announce: printed below, measured
            # in docs/election.md; asserted only that it serves within FAILOVER_S
            # (the headsets' budget above is the property)
            self.assertLess(t, FAILOVER_S, "failover serving %.2f s after the kill" % t)
        print("failover serving after each master kill: %s s" % ["%.2f" % t for t in ft])

    def test_partition(self):
        sc, s, out = self.run_checked("election-partition-ci", 28, 8)
        t0 = ec.T0[sc["name"]]
        per_phase, both = ec.double_serving(out, sc, s, t0)
        print("two candidates serving: %s s per phase, intervals %s" % (per_phase, both))
        heals = [e["at"] for e in s["events"] if e.get("action") == "link-set"
                 and e["label"].startswith("heal")]
        cuts = [e["at"] for e in s["events"] if e["label"].startswith("partition")]
        self.assertEqual(len(heals), 2)
        # while cut the failover loses the master and serves too: the
        # partition really cut the announces
        self.assertTrue(any(x <= cuts[0] + 6 and y >= heals[0] for x, y in both), both)
        for h in heals:
            for x, y in both:
                if y > h:
                    self.assertLessEqual(y - max(x, h), 3 * 1.0,
                                         "two serving %.1f-%.1f s, healed at %s s" % (x, y, h))
        # the master rebooted +17 min while cut: nobody to measure, never
        # serves; after the heal it measures the failover through the relay
        master = ec.serving_intervals(out, "master", s["events"], t0, sc["duration"])
        back = [e["at"] for e in s["events"] if e["action"] == "restart"][0]
        self.assertFalse([iv for iv in master if iv[1] > back], master)
        log = self.agent_log(out, "master").split("listening, master none")[-1]
        self.assertRegex(log, r"rejoin-measure, master failover")
        self.assertRegex(log, r"following, master failover")
        # stepped back once: not twice (chronyd's makestep and the agent's
        # step racing would leave it 17 minutes off the other way first)
        _, rows, _ = fleetsim.read_dir(out)
        errs = [r["true_error"] for r in rows if r["node"] == "master" and r["t"] > back + 1]
        jumps = [b - a for a, b in zip(errs, errs[1:]) if abs(b - a) > 1.0]
        self.assertEqual(len(jumps), 1, jumps)
        self.assertLess(abs(errs[-1]), sc["budget_ms"] / 1e3)

    def test_forged(self):
        sc, s, out = self.run_checked("election-forged-ci", 30, 6)
        ft = ec.failover_times(out, s["events"], ec.T0[sc["name"]])
        self.assertTrue(ft and ft[0] is not None and ft[0] < 3 * 1.0 + 1.5, ft)
        rogue = self.election_view(out, "rogue")
        # the forger really claimed to be the best and served (its own view)
        self.assertEqual(rogue["self"]["priority1"], 0)
        self.assertTrue(rogue["serving"], rogue)
        for node in ("master", "failover"):
            log = self.agent_log(out, node)
            self.assertNotIn("master rogue", log)
            self.assertIn("master master", log)
            view = self.election_view(out, node)
            self.assertNotIn("rogue", [c["name"] for c in view["candidates"]])
            # one announce a second since this agent started (the master
            # restarted at 32 s), each counted as unsigned
            self.assertGreater(view["announces"]["unsigned"], 20, view["announces"])
            self.assertGreater(view["announces"]["ok"], 20, view["announces"])

    def election_view(self, out, node):
        with open(os.path.join(out, "nodes", node, "election.json")) as f:
            return json.load(f)
    def test_rtc_master(self):
        """Scenario 2: the master keeps a DS1307 (emulated, 30 ppm); back
        from a power loss with its clock 17 minutes wrong, it is restored
        from the RTC with the drift taken out, is class rtc, finds the
        failover in budget and rejoins after the SHORT hold-off."""
        sc, s, out = self.run_checked("election-rtc-master-ci", 26, 8)
        t0 = ec.T0[sc["name"]]
        ft = ec.failover_times(out, s["events"], t0)
        self.assertEqual(len(ft), 1, ft)
        self.assertIsNotNone(ft[0], "the failover never served after the master's power loss")
        self.assertLess(ft[0], FAILOVER_S, "failover serving %.2f s after the kill" % ft[0])
        node = os.path.join(out, "nodes", "master")
        with open(os.path.join(node, "boot.out"), errors="replace") as f:
            boot = f.read()
        back = next(e for e in sc["events"] if e["action"] == "restart" and e["node"] == "master")
        self.assertIn("drift taken out", boot)
        m = re.search(r"System clock set .*\n.*\(step ([-+][0-9.]+)s\)", boot)
        self.assertIsNotNone(m, boot)
        self.assertAlmostEqual(float(m.group(1)), -back["offset"], delta=0.05, msg=boot)
        log = self.agent_log(out, "master")
        self.assertIn("election: RTC at boot: restored (", log)
        conf = configparser.ConfigParser()
        conf.read(os.path.join(node, "agent.conf"))
        holdoff = conf.getfloat("election", "holdoff")
        holdoff_valid = conf.getfloat("election", "holdoff_valid")
        interval = conf.getfloat("election", "interval")
        self.assertLess(holdoff_valid + 2 * interval, holdoff, "the hold-offs cannot be told apart")
        rj = ec.rejoins(out, s["events"], t0)
        self.assertEqual(len(rj), 1, rj)
        r = rj[0]
        print("master after its restart: %s" % r)
        self.assertEqual(r["first_class"], "rtc", log)
        self.assertFalse(r["stepped"], "the restored clock was stepped again:\n" + log)
        self.assertIsNotNone(r["holdoff_s"], "never eligible again:\n" + log)
        self.assertGreaterEqual(r["holdoff_s"], holdoff_valid - interval, r)
        self.assertLessEqual(r["holdoff_s"], holdoff_valid + 2 * interval, r)
        # The simulator's truth: the restored clock agrees with the fleet's
        # time (the failover's), and the drift learned is the RTC's rate
        # against the master's clock (both rates from the scenario, not
        # from the code under test).
        rtc = ec.rtc_restore(out, sc, self.rows)
        print(ec.rtc_text("election", rtc))
        self.assertLess(abs(rtc["master_error_ms"] - rtc["failover_error_ms"]), sc["budget_ms"], rtc)
        with open(os.path.join(node, "ds1307.state")) as f:
            emu_ppm = float(re.search(r"^ppm=(\S+)$", f.read(), re.M).group(1))
        m = next(n for n in sc["nodes"] if n["name"] == "master")
        # the master's clock: its oscillator, corrected by the frequency its
        # chronyd read from the driftfile (it serves: nothing changes that)
        rate_m = (1 + m["drift"] * 1e-6) * (1 - m.get("driftfile_ppm", 0.0) * 1e-6)
        want = ((1 + emu_ppm * 1e-6) / rate_m - 1) * 1e6
        self.assertTrue(rtc["drift_valid"], rtc)
        self.assertLess(abs(rtc["drift_ppm"] - want), 3 * rtc["drift_unc_ppm"] + 1.0,
                        "drift %+.2f +- %.2f ppm, want %+.2f" % (rtc["drift_ppm"], rtc["drift_unc_ppm"], want))


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
    import fctest  # noqa: E402
    if os.geteuid() != 0:
        fctest.skip_all("needs root (chronyd binds port 123)")
    os.environ.setdefault("FLEETCLOCK_SIM_PREFIX", "127.7")
    fleetsim.PREFIX = os.environ["FLEETCLOCK_SIM_PREFIX"]
    tests = {"field-report": "test_field_report", "upstream-insane": "test_upstream_insane",
             "partition": "test_partition", "forged": "test_forged",
             "rtc-master": "test_rtc_master"}
    argv = [sys.argv[0]] + ["ElectionSim." + tests[a] for a in sys.argv[1:] if a in tests]
    fctest.main(argv=argv)
