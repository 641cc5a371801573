#!/usr/bin/env python3
"""Issue 7's scenarios with fleetclock's election and with the plain-chrony
configuration, side by side.

    sudo FLEETCLOCK_SIM_PREFIX=127.7 python3 tests/sim/election_compare.py \\
        [--out DIR] [SCENARIO BASELINE]

Defaults: scenarios/election-field-report-ci.toml and
scenarios/election-field-report-baseline-ci.toml. Per phase: the worst
|true error| of any headset and of the failover, the fleet spread, the
worst |true error| of a candidate while it served valid-looking time
(leap normal), and the seconds without any candidate serving (no alive
master/failover with a normal leap status). Also the election's failover
times, read from the agents' logs. Prints a Markdown table (for docs).

The candidates' figure is their *system clock's* true error while their
chronyd answers with a normal leap status; chronyd serves its corrected
time (system clock + the correction still to slew), which can be closer."""
import argparse
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleetsim  # noqa: E402

CANDIDATES = ("master", "failover")
T0 = {}

_fleet_start = fleetsim.Fleet.start


def _start_and_note_t0(self):
    """The runner's time origin on CLOCK_MONOTONIC, to line up the agents'
    log lines (which carry CLOCK_MONOTONIC) with the scenario's events."""
    _fleet_start(self)
    T0[self.sc["name"]] = self.t0


fleetsim.Fleet.start = _start_and_note_t0


def phases(sc, s):
    return [(p["start_s"], p["end_s"], p["label"]) for p in s["phases"]]


def metrics(sc, s, rows):
    """Per phase: dict of the figures listed in the module docstring."""
    out = []
    by_t = {}
    for r in rows:
        # rows from run_scenario hold numbers, rows read back from
        # samples.csv strings: normalise
        alive = str(r["alive"]) in ("1", "True")
        r = dict(r, alive="1" if alive else "0",
                 leap=str(int(float(r["leap"]))) if alive and r["leap"] not in ("", None) else "",
                 true_error=float(r["true_error"]) if r["true_error"] not in ("", None) else 0.0)
        by_t.setdefault(round(float(r["t"])), []).append(r)
    for start, end, label in phases(sc, s):
        m = {"label": label, "start": start, "end": end, "headset_max_ms": 0.0,
             "failover_max_ms": 0.0, "spread_max_ms": 0.0, "served_wrong_max_ms": 0.0,
             "no_master_s": 0, "n_headset_samples": 0}
        for t in sorted(by_t):
            if not start <= t < end:
                continue
            hs = [abs(float(r["true_error"])) for r in by_t[t]
                  if r["role"] == "headset" and r["alive"] == "1"]
            signed = [float(r["true_error"]) for r in by_t[t]
                      if r["role"] == "headset" and r["alive"] == "1"]
            m["n_headset_samples"] += len(hs)
            if hs:
                m["headset_max_ms"] = max(m["headset_max_ms"], max(hs) * 1e3)
                m["spread_max_ms"] = max(m["spread_max_ms"], (max(signed) - min(signed)) * 1e3)
            serving = False
            for r in by_t[t]:
                if r["node"] == "failover" and r["alive"] == "1":
                    m["failover_max_ms"] = max(m["failover_max_ms"], abs(float(r["true_error"])) * 1e3)
                if r["node"] in CANDIDATES and r["alive"] == "1" and r["leap"] == "0":
                    serving = True
                    m["served_wrong_max_ms"] = max(m["served_wrong_max_ms"],
                                                   abs(float(r["true_error"])) * 1e3)
            m["no_master_s"] += 0 if serving else 1
        out.append(m)
    return out


def failover_times(out_dir, events, t0):
    """Seconds from each 'kill' of the master to the failover's agent
    logging 'serving' (agents log CLOCK_MONOTONIC, like the runner)."""
    path = os.path.join(out_dir, "nodes", "failover", "command.out")
    if not os.path.exists(path):
        return []
    serving = []
    with open(path, errors="replace") as f:
        for line in f:
            mm = re.search(r"election: serving, .*\[mono ([0-9.]+)\]", line)
            if mm:
                serving.append(float(mm.group(1)))
    kills = [t0 + e["at"] for e in events if e.get("action") == "kill" and e.get("node") == "master"]
    res = []
    for k in kills:
        after = [t - k for t in serving if t >= k]
        res.append(min(after) if after else None)
    return res


def serving_intervals(out_dir, node, events, t0, duration):
    """[(start, end)] in scenario seconds during which NODE's agent was
    serving, from its log's state changes ('election: STATE, master ...
    [mono T]'); a kill/stop/restart of the node ends its agent."""
    path = os.path.join(out_dir, "nodes", node, "command.out")
    if not os.path.exists(path):
        return []
    ends = sorted(e["at"] for e in events if e.get("node") == node
                  and e.get("action") in ("kill", "stop", "restart"))
    res, since = [], None
    with open(path, errors="replace") as f:
        for line in f:
            mm = re.search(r"election: ([a-z-]+), master .*\[mono ([0-9.]+)\]", line)
            if not mm:
                continue
            t = float(mm.group(2)) - t0
            if since is not None:
                # the agent was killed in between: its serving ended then
                cut = [x for x in ends if since < x <= t]
                res.append((since, cut[0] if cut else t))
                since = None
            if mm.group(1) == "serving":
                since = t
    if since is not None:
        cut = [x for x in ends if x > since]
        res.append((since, cut[0] if cut else float(duration)))
    return res


def overlaps(a, b):
    """Intersections of two lists of intervals."""
    return [(max(x0, y0), min(x1, y1)) for x0, x1 in a for y0, y1 in b if max(x0, y0) < min(x1, y1)]


def double_serving(out_dir, sc, s, t0, nodes=CANDIDATES):
    """Per phase: seconds during which two candidates' agents both served,
    and the intervals themselves."""
    iv = {n: serving_intervals(out_dir, n, s.get("events", []), t0, sc["duration"]) for n in nodes}
    both = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            both += overlaps(iv[a], iv[b])
    per_phase = []
    for start, end, label in phases(sc, s):
        per_phase.append(sum(max(0.0, min(y, end) - max(x, start)) for x, y in both))
    return per_phase, sorted(both)


def announce_counters(out_dir, node):
    """The announce verdict counters of NODE's last election view."""
    try:
        with open(os.path.join(out_dir, "nodes", node, "election.json")) as f:
            return json.load(f)["announces"]
    except (OSError, ValueError, KeyError):
        return None


def decided_masters(out_dir, node):
    """Every master NODE's agent named in a decision, from its log."""
    path = os.path.join(out_dir, "nodes", node, "command.out")
    if not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        return sorted(set(re.findall(r"election: [a-z-]+, master (\S+) ", f.read())) - {"none"})


def agent_lines(out_dir, node):
    """(mono, state, own class, line) of the node's election transitions."""
    path = os.path.join(out_dir, "nodes", node, "command.out")
    res = []
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                mm = re.search(r"election: ([a-z-]+), master .*?(?:, own class (\S+))? "
                               r"\[mono ([0-9.]+)\]", line)
                if mm:
                    res.append((float(mm.group(3)), mm.group(1), mm.group(2), line.strip()))
    return res


def rejoins(out_dir, events, t0, node="master"):
    """Per restart of node: dict with the seconds from the restart to its
    agent's rejoin measurement (measure_s), to serving or following again
    (eligible_s), the hold-off between them (holdoff_s), its own class in
    its first round (first_class), and whether anything stepped its clock
    after the restart (stepped)."""
    lines = agent_lines(out_dir, node)
    path = os.path.join(out_dir, "nodes", node, "command.out")
    text = ""
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            text = f.read()
    starts = [t0 + e["at"] for e in events if e.get("action") == "restart" and e.get("node") == node]
    res = []
    for i, st in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        mine = [x for x in lines if st <= x[0] < end]
        r = dict(first_class=mine[0][2] if mine else None, measure_s=None, eligible_s=None,
                 holdoff_s=None)
        meas = [x[0] for x in mine if x[1] == "rejoin-measure"]
        done = [x[0] for x in mine if x[1] in ("following", "serving") and meas and x[0] > meas[0]]
        if meas:
            r["measure_s"] = meas[0] - st
        if done:
            r["eligible_s"] = done[0] - st
            r["holdoff_s"] = done[0] - meas[0]
        res.append(r)
    steps = re.findall(r"rejoin: stepped|MAKESTEP|this clock was stepped by", text)
    for r in res:
        r["stepped"] = bool(steps)
    return res


def rtc_restore(out_dir, sc, rows, node="master", peer="failover"):
    """What the boot restore of node from its (emulated) RTC gave, from the
    simulator's truth: the RTC's own error at the restore (what a restore
    without drift correction sets), the node's clock error after it and
    the peer's then, the drift record. None without an RTC."""
    boot = os.path.join(out_dir, "nodes", node, "boot.out")
    emu_state = os.path.join(out_dir, "nodes", node, "ds1307.state")
    if not (os.path.exists(boot) and os.path.exists(emu_state)):
        return None
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "emu"))
    import ds1307_state  # noqa: E402
    with open(boot, errors="replace") as f:
        text = f.read()
    sets = re.findall(r"System clock set (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", text)
    corr = re.findall(r"Correction +(.*)", text)
    if not sets:
        return None
    import calendar
    day, frac = sets[-1].split(".")
    v = calendar.timegm(time.strptime(day, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)
    r = dict(rtc_error_ms=ds1307_state.true_offset(ds1307_state.read(emu_state), int(v * 1e9)) * 1e3,
             correction=corr[-1].strip() if corr else "", drift_taken_out="drift taken out" in text)
    restarts = [e["at"] for e in sc["events"] if e.get("action") == "restart" and e.get("node") == node]
    after = sorted((x for x in rows if x["node"] in (node, peer)
                    and str(x["alive"]) in ("1", "True") and restarts and float(x["t"]) > restarts[-1]),
                   key=lambda x: float(x["t"]))
    for name in (node, peer):
        first = next((x for x in after if x["node"] == name), None)
        r[name + "_error_ms"] = float(first["true_error"]) * 1e3 if first else None
    st = os.path.join(out_dir, "nodes", node, "rtc.json")
    if os.path.exists(st):
        with open(st) as f:
            rec = json.load(f).get("record", {})
        r.update(drift_ppm=rec.get("drift_ppm"), drift_unc_ppm=rec.get("drift_unc_ppm"),
                 drift_valid=bool(rec.get("flags", 0) & 2))
    return r


def rtc_text(label, r):
    if not r:
        return "%s: no RTC restore" % label
    f = lambda v: "-" if v is None else "%+.3f" % v  # noqa: E731
    d = ""
    if r.get("drift_ppm") is not None:
        d = "; drift record %+.2f +- %.2f ppm (%s)" % (r["drift_ppm"], r["drift_unc_ppm"],
                                                   "valid" if r["drift_valid"] else "not valid")
    return ("%s: the RTC was %s ms from true time at the restore; correction %s; master then %s ms, "
            "failover %s ms from true time%s" % (label, f(r["rtc_error_ms"]), r["correction"] or "-",
                                                f(r["master_error_ms"]), f(r["failover_error_ms"]), d))


def fmt(v):
    return "%.3f" % v if v < 1000 else "%.0f" % v


def table(ours, base):
    lines = ["| phase | headsets max abs. error (ms): election / plain | failover max (ms) | "
             "spread max (ms) | worst candidate clock error with normal leap (ms) | s without a candidate serving |",
             "|---|---|---|---|---|---|"]
    for a, b in zip(ours, base):
        lines.append("| %d-%d s %s | %s / %s | %s / %s | %s / %s | %s / %s | %d / %d |" % (
            a["start"], a["end"], a["label"].replace("|", "\\|"), fmt(a["headset_max_ms"]), fmt(b["headset_max_ms"]),
            fmt(a["failover_max_ms"]), fmt(b["failover_max_ms"]), fmt(a["spread_max_ms"]),
            fmt(b["spread_max_ms"]), fmt(a["served_wrong_max_ms"]), fmt(b["served_wrong_max_ms"]),
            a["no_master_s"], b["no_master_s"]))
    return "\n".join(lines)


def run(path, out, net, profile=None):
    sc = fleetsim.load_scenario(path, profile=profile)
    s, rows = fleetsim.run_scenario(sc, out, net=net, quiet=True)
    return sc, s, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?",
                    default=os.path.join(HERE, "scenarios", "election-field-report-ci.toml"))
    ap.add_argument("baseline", nargs="?",
                    default=os.path.join(HERE, "scenarios", "election-field-report-baseline-ci.toml"))
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="fleetclock-election-"))
    ap.add_argument("--net", type=int, default=20)
    ap.add_argument("--profile", help="the headsets' link profile instead of the scenario's "
                    "(lan, wifi, bad-wifi): the same timeline on another network")
    ap.add_argument("--read", nargs=2, metavar=("OURS_DIR", "BASE_DIR"),
                    help="only analyse two finished fleetsim runs (e.g. run at once on two nets)")
    a = ap.parse_args()
    res = {}
    for key, path in (("ours", a.scenario), ("base", a.baseline)):
        if a.read:
            out = a.read[0 if key == "ours" else 1]
            sc, s, rows = read_run(out)
        else:
            out = os.path.join(a.out, key)
            sc, s, rows = run(path, out, a.net, a.profile)
        res[key] = (sc, s, rows, out)
        print("%s: %s (%s)" % (key, sc["name"], out), flush=True)
    ours = metrics(*res["ours"][:3])
    base = metrics(*res["base"][:3])
    print(table(ours, base))
    sc = res["ours"][0]
    target = 1.0 if sc["profile"] == "lan" else sc["budget_ms"]
    worst = max(m["headset_max_ms"] for m in ours[1:])
    wrong = max(m["served_wrong_max_ms"] for m in ours[1:])
    print("\nelection, after the start phase: headsets max |true error| %.3f ms (target <= %g ms on "
          "%s: %s); worst clock served with a normal leap %.3f ms"
          % (worst, target, sc["profile"], "met" if worst <= target else "NOT met", wrong))
    ft = failover_times(res["ours"][3], res["ours"][1].get("events", []), T0[res["ours"][0]["name"]])
    if ft:
        print("\nelection: failover serving %s s after each master kill (announce timeout 3 s)"
              % ", ".join("%.1f" % t if t is not None else "never" for t in ft))
    sc, s, rows, out = res["ours"]
    per_phase, both = double_serving(out, sc, s, T0[sc["name"]])
    print("election: seconds with two candidates serving, per phase: %s (intervals %s)"
          % (" / ".join("%.1f" % x for x in per_phase),
             ", ".join("%.1f-%.1f" % iv for iv in both) or "none"))
    for node in CANDIDATES:
        print("election: %s: announces %s; masters named in its decisions: %s"
              % (node, announce_counters(out, node), ", ".join(decided_masters(out, node))))
    for i, r in enumerate(rejoins(out, s.get("events", []), T0[sc["name"]])):
        f = lambda v: "-" if v is None else "%.1f" % v  # noqa: E731
        print("election: master restart %d: own class %s in its first round; measured the "
              "failover %s s after the restart, serving/following again after %s s (hold-off %s s)%s"
              % (i + 1, r["first_class"], f(r["measure_s"]), f(r["eligible_s"]), f(r["holdoff_s"]),
                 "; its clock was stepped after the restart" if r["stepped"] else ""))
    for key, label in (("ours", "election"), ("base", "plain")):
        if rtc_restore(res[key][3], res[key][0], res[key][2]):
            print(rtc_text(label, rtc_restore(res[key][3], res[key][0], res[key][2])))
    return 0


def read_run(out):
    """scenario, summary and rows of a finished run (its time origin into T0)."""
    sc, rows, _ = fleetsim.read_dir(out)
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    T0[sc["name"]] = s.get("t0_monotonic")
    return sc, s, rows


if __name__ == "__main__":
    sys.exit(main())
