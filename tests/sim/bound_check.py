#!/usr/bin/env python3
"""bound_check.py - the spread bounds against the simulator's true clocks.

Runs short fleetsim scenarios and, every second, reads each node's true
error (its virtual clock) and what its chronyd says (TRACKING, and NTPDATA of
the selected source), then computes over the headsets (issue 20,
docs/spread-bound.md):

  true spread     max - min of the headsets' true errors
  absolute bound  today's: the sum of the two largest |offset| + root delay/2 +
                  root dispersion
  relative bound  the largest pair bound: relative_a + relative_b for two
                  followers of one master, absolute_a + absolute_b otherwise
                  (the arithmetic of common/report/spread_bound.c, mirrored below)
  floor           the largest own-hop delay_a/2 + delay_b/2 of a relative pair (the
                  unobservable asymmetry of the hops; no honest bound beats it)

and prints, per scenario, containment (bound >= true spread, per sample and
per pair of headsets) and tightness (bound / true spread, bound / floor:
median and p99) of both bounds.

    sudo python3 tests/sim/bound_check.py --net 64 [--duration S] [SCENARIO ...]
    sudo python3 tests/sim/bound_check.py --ci   # CI: short, containment asserted

SCENARIO is a name of tests/sim/scenarios/*.toml, optionally with :PROFILE
(baseline-wifi:lan). Exit 0 when containment is 100 % everywhere (the
property), 1 otherwise, 2 on a setup problem, 77 when not root.
"""
import argparse
import fcntl
import json
import math
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetsim  # noqa: E402
import simnode  # noqa: E402
from simnode import SOURCE, _cm_float  # noqa: E402

SCENARIOS = os.path.join(SOURCE, "tests", "sim", "scenarios")
DEFAULT = ["baseline-lan", "baseline-wifi", "baseline-bad-wifi", "election-partition-ci"]
# CI: the election scenario holds every case (wifi headsets, a master change,
# a master killed and back 17 minutes wrong) in 92 s
CI = ["election-partition-ci"]
CMD_TRACKING, CMD_NTP_DATA = 33, 57
RPY_TRACKING, RPY_NTP_DATA = 5, 16
LEAP_UNSYNC = 3
REFID_LOCAL = 0x7F7F0101


# --- chronyd's command socket ------------------------------------------------

def cmdmon(sock_path, command, body, req_len, rpy_type, timeout=0.5):
    """One cmdmon request (simnode.cmdmon) with this tool's own client socket name."""
    return simnode.cmdmon(sock_path, command, body, req_len, rpy_type, timeout, prefix="bc")


def reply_usable(leap, stratum):
    """The source's last reply can be taken apart (agent/selected_source.c):
    a synchronised server (leap not unsync, stratum 1-15). An unsynchronised
    one (a master back without valid time) sends root values that chronyd
    did not use."""
    return leap != LEAP_UNSYNC and 1 <= stratum <= 15


def read_node(sock_path):
    """TRACKING and, for an NTP reference, NTPDATA of it: a dict or None."""
    b = cmdmon(sock_path, CMD_TRACKING, b"", 104, RPY_TRACKING)
    if not b or len(b) < 76:
        return None
    ref_id, = struct.unpack_from(">I", b, 0)
    ip, family = b[4:20], struct.unpack_from(">H", b, 20)[0]
    stratum, leap = struct.unpack_from(">HH", b, 24)
    fl = [_cm_float(x) for x in struct.unpack_from(">9I", b, 40)]
    d = dict(offset=-fl[0], root_delay=fl[6], root_dispersion=fl[7], leap=leap,
             stratum=stratum, synced=leap != LEAP_UNSYNC and ref_id not in (0, REFID_LOCAL),
             master=None)
    if family == 1 and ref_id != REFID_LOCAL:
        nd = cmdmon(sock_path, CMD_NTP_DATA, ip + struct.pack(">HH", family, 0), 152,
                    RPY_NTP_DATA)
        if nd and len(nd) >= 94:
            get = [_cm_float(x) for x in struct.unpack_from(">2I", nd, 48)]
            peer = [_cm_float(x) for x in struct.unpack_from(">2I", nd, 76)]
            nd_leap, nd_stratum = nd[42], nd[45]
            flags, = struct.unpack_from(">H", nd, 92)
            d.update(nd_leap=nd_leap, nd_stratum=nd_stratum, nd_flags=flags)
            if reply_usable(nd_leap, nd_stratum):
                d.update(master=socket.inet_ntoa(ip[:4]), m_root_delay=get[0],
                         m_root_dispersion=get[1], hop_delay=peer[0], hop_dispersion=peer[1])
    return d


# --- the arithmetic of common/report/spread_bound.c ---------------------------------

def absolute(n):
    return abs(n["offset"]) + n["root_delay"] / 2 + n["root_dispersion"]


def relative(n):
    """The bound relative to the master, or None (falls back)."""
    if not n["synced"] or not n.get("master") or n.get("master_changed"):
        return None
    a = absolute(n)
    shared = n["m_root_delay"] / 2 + n["m_root_dispersion"]
    own = abs(n["offset"]) + n["hop_delay"] / 2 + n["hop_dispersion"]
    return min(max(a - shared, own), a)


def floor(n):
    """The own hop's delay / 2 inside the root delay chronyd used."""
    return max(n["root_delay"] - n["m_root_delay"], 0.0) / 2


def pair(a, b):
    """(bound, kind, floor) of |clock_a - clock_b|."""
    ra, rb = relative(a), relative(b)
    if ra is not None and rb is not None and a["master"] == b["master"]:
        return ra + rb, "relative", floor(a) + floor(b)
    return absolute(a) + absolute(b), "absolute", None


# Exploration (not in the C code): leave out the SMALLEST shared part
# (master's root delay / 2 + root dispersion) seen in the node's samples of
# the same master over the last WINDOW_S, instead of the last reply's with
# the own-hop guard. Honest only if chronyd's root values came from a reply
# the window saw or one with a larger shared part: the agent does not see
# every reply, so it is measured here, not assumed.
WINDOW_S = 30.0


def relative_window(n):
    if not n["synced"] or not n.get("master") or n.get("master_changed") or \
            n.get("shared_min") is None:
        return None
    a = absolute(n)
    return min(max(a - n["shared_min"], 0.0), a)


def via_upstream(a, b, masters):
    """Exploration (not in the C code): two followers of different masters
    that both follow one upstream: relative_a + relative of each master +
    relative_b. None when that does not apply."""
    ma, mb = masters.get(a.get("master")), masters.get(b.get("master"))
    ra, rb = relative(a), relative(b)
    if None in (ma, mb, ra, rb) or a["master"] == b["master"]:
        return None
    rma, rmb = relative(ma), relative(mb)
    if rma is None or rmb is None or ma["master"] != mb["master"]:
        return None
    return ra + rma + rmb + rb


def fleet(nodes, masters=None):
    """The fleet's bounds over nodes [(name, node, true_error)]; masters:
    name -> node of every node, for the exploratory bound via the upstream."""
    abss = sorted((absolute(n) for _, n, _ in nodes), reverse=True)
    out = dict(absolute=sum(abss[:2]), relative=0.0, floor=None, kinds=set(), pairs=[], tree=0.0)
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            (na, a, ta), (nb, b, tb) = nodes[i], nodes[j]
            v, kind, fl = pair(a, b)
            wa, wb = relative_window(a), relative_window(b)
            wv = wa + wb if kind == "relative" and None not in (wa, wb) else v
            out["kinds"].add(kind)
            out["relative"] = max(out["relative"], v)
            t = via_upstream(a, b, masters or {}) if kind == "absolute" else None
            out["tree"] = max(out["tree"], v if t is None else min(t, v))
            if fl is not None:
                out["floor"] = max(out["floor"] or 0.0, fl)
            out["pairs"].append((abs(ta - tb), v, absolute(a) + absolute(b), kind, fl, wv))
    return out


# --- the simulation ------------------------------------------------------------

class BoundFleet(fleetsim.Fleet):
    """fleetsim's fleet, sampling chronyd's NTP data beside the true errors."""

    def sample(self, t):
        rows = super().sample(t)
        for row in rows:
            node = self.nodes[row["node"]]
            row["chrony"] = read_node(node.sock) if row["alive"] else None
            if row["chrony"] and row["chrony"]["master"]:
                # Each node reaches its server through its own relay address
                # (its own link): the group is the node behind it, as in a
                # fleet where every headset names the master by one address.
                m = row["chrony"]["master"]
                row["chrony"]["master"] = self.addr_name.get(m, m)
        return rows


def run(name, profile, duration, net, out_root):
    path = os.path.join(SCENARIOS, name + ".toml")
    sc = fleetsim.load_scenario(path, duration, profile)
    out = os.path.join(out_root, sc["name"])
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    os.makedirs(out)
    f = BoundFleet(sc, out, net=net, quiet=True)
    try:
        f.start()
        rows = f.run()
    finally:
        f.stop()
    with open(os.path.join(out, "samples.jsonl"), "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return sc, rows


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(math.ceil(p / 100.0 * len(xs))) - 1)]


def analyse(sc, rows, settle):
    """Per-sample figures over the headsets that are synchronised."""
    by_t = {}
    for r in rows:
        by_t.setdefault(r["t"], []).append(r)
    prev_master = {}
    st = dict(samples=0, rel_in=0, abs_in=0, pairs=0, pair_rel_in=0, rel_ratio=[], abs_ratio=[],
              floor_ratio=[], abs_floor=[], abs_over_rel=[], rp_abs_rel=[], rp_floor=[], rp_true=[],
              tree_in=0, tree=[], abs_over_tree=[], kinds={}, worst=None, true=[], rel=[], absb=[],
              floors=[], win_in=0, rp_win_abs=[], rp_win_floor=[])
    seen = {}  # node -> [(t, master, shared)] for the window exploration
    for t in sorted(by_t):
        nodes = []
        for r in by_t[t]:
            c = r.get("chrony")
            if r["role"] != "headset" or not c or not c["synced"]:
                continue
            c = dict(c)
            if c.get("master"):
                h = seen.setdefault(r["node"], [])
                h.append((t, c["master"], c["m_root_delay"] / 2 + c["m_root_dispersion"]))
                h[:] = [x for x in h if x[0] >= t - WINDOW_S]
                c["shared_min"] = min(x[2] for x in h if x[1] == c["master"])
            # a master change since the previous sample: falls back (the window)
            c["master_changed"] = prev_master.get(r["node"], c["master"]) != c["master"]
            prev_master[r["node"]] = c["master"]
            nodes.append((r["node"], c, r["true_error"]))
        if len(nodes) < 2 or t < settle:
            continue
        masters = {r["node"]: r["chrony"] for r in by_t[t] if r.get("chrony")}
        f = fleet(nodes, masters)
        true = max(n[2] for n in nodes) - min(n[2] for n in nodes)
        st["samples"] += 1
        st["rel_in"] += f["relative"] >= true
        st["tree_in"] += f["tree"] >= true
        st["tree"].append(f["tree"])
        st["abs_over_tree"].append(f["absolute"] / f["tree"])
        st["abs_in"] += f["absolute"] >= true
        for tp, vp, ap, kp, fp, wp in f["pairs"]:
            st["pairs"] += 1
            st["pair_rel_in"] += vp >= tp
            st["win_in"] += wp >= tp
            if kp == "relative":
                st["rp_win_abs"].append(ap / wp if wp > 0 else float("inf"))
                st["rp_win_floor"].append(wp / fp if fp else float("nan"))
                st["rp_abs_rel"].append(ap / vp)
                st["rp_floor"].append(vp / fp if fp else float("nan"))
                if tp > 0:
                    st["rp_true"].append(vp / tp)
        kind = "/".join(sorted(f["kinds"]))
        st["kinds"][kind] = st["kinds"].get(kind, 0) + 1
        st["true"].append(true)
        st["rel"].append(f["relative"])
        st["absb"].append(f["absolute"])
        st["abs_over_rel"].append(f["absolute"] / f["relative"])
        if true > 0:
            st["rel_ratio"].append(f["relative"] / true)
            st["abs_ratio"].append(f["absolute"] / true)
        if f["floor"]:
            st["floor_ratio"].append(f["relative"] / f["floor"])
            st["abs_floor"].append(f["absolute"] / f["floor"])
            st["floors"].append(f["floor"])
        if f["relative"] < true and (st["worst"] is None or true - f["relative"] > st["worst"][1]):
            st["worst"] = (t, true - f["relative"])
    return st


def report(label, st):
    n = st["samples"]
    ms = 1e3

    def share(k, tot):
        return 100.0 * k / tot if tot else float("nan")
    lines = [
        "%s: %d samples (headsets synchronised; kinds %s)" % (label, n, st["kinds"]),
        "  containment  relative %.1f %% of samples, %.2f %% of %d pairs; absolute %.1f %%" % (
            share(st["rel_in"], n), share(st["pair_rel_in"], st["pairs"]), st["pairs"],
            share(st["abs_in"], n)),
        "  true spread  median %.3f ms  p99 %.3f ms" % (pct(st["true"], 50) * ms,
                                                       pct(st["true"], 99) * ms),
        "  relative     median %.3f ms  p99 %.3f ms   bound/true median %.1f  p99 %.1f" % (
            pct(st["rel"], 50) * ms, pct(st["rel"], 99) * ms, pct(st["rel_ratio"], 50),
            pct(st["rel_ratio"], 99)),
        "  absolute     median %.3f ms  p99 %.3f ms   bound/true median %.1f  p99 %.1f" % (
            pct(st["absb"], 50) * ms, pct(st["absb"], 99) * ms, pct(st["abs_ratio"], 50),
            pct(st["abs_ratio"], 99)),
        "  absolute/relative  median %.2fx  p99 %.2fx (target >= 2x)" % (
            pct(st["abs_over_rel"], 50), pct(st["abs_over_rel"], 99)),
        "  floor        median %.3f ms  relative/floor median %.2f  p99 %.2f (target <= 1.5); "
        "absolute/floor median %.2f" % (
            pct(st["floors"], 50) * ms, pct(st["floor_ratio"], 50), pct(st["floor_ratio"], 99),
            pct(st["abs_floor"], 50)),
    ]
    lines.append("  exploration, via the masters' common upstream for pairs across masters: "
                 "contained %.1f %%, median %.3f ms, absolute/it median %.2fx p99 %.2fx" % (
                     share(st["tree_in"], n), pct(st["tree"], 50) * ms, pct(st["abs_over_tree"], 50),
                     pct(st["abs_over_tree"], 99)))
    if st["rp_abs_rel"]:
        lines.append("  same-master pairs (%d): absolute/relative median %.2fx p99 %.2fx; "
                     "relative/floor median %.2f p99 %.2f; relative/true median %.1f" % (
                         len(st["rp_abs_rel"]), pct(st["rp_abs_rel"], 50), pct(st["rp_abs_rel"], 99),
                         pct(st["rp_floor"], 50), pct(st["rp_floor"], 99), pct(st["rp_true"], 50)))
    if st["rp_win_abs"]:
        lines.append("  exploration, the smallest shared part of the last %.0f s instead of the "
                     "last reply's: pairs contained %.2f %%; same-master absolute/it median %.2fx "
                     "p99 %.2fx; it/floor median %.2f p99 %.2f" % (
                         WINDOW_S, share(st["win_in"], st["pairs"]), pct(st["rp_win_abs"], 50),
                         pct(st["rp_win_abs"], 99), pct(st["rp_win_floor"], 50),
                         pct(st["rp_win_floor"], 99)))
    if st["worst"]:
        lines.append("  NOT CONTAINED: worst at t=%.0f s, true spread above the bound by %.3f ms"
                     % (st["worst"][0], st["worst"][1] * ms))
    return "\n".join(lines)


def lock_block(net):
    """Take the slot lock of net's block, as simnode.claim_slot would, so
    that runs that claim a free block do not take this one; False when
    another run holds it."""
    k = net // simnode.SLOT_WIDTH
    os.makedirs(simnode.SLOT_DIR, exist_ok=True)
    fd = os.open(os.path.join(simnode.SLOT_DIR, "slot%02d.lock" % k), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    simnode._slot = (k * simnode.SLOT_WIDTH, fd)  # held until exit
    return True


def reanalyse(root, settle):
    failed = False
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "samples.jsonl")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rows = [json.loads(line) for line in f]
        st = analyse(None, rows, settle)
        print(report(name + " (saved)", st), flush=True)
        failed |= st["samples"] == 0 or st["pair_rel_in"] != st["pairs"]
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", help="NAME or NAME:PROFILE (default: %s)"
                    % " ".join(DEFAULT))
    ap.add_argument("--net", type=int,
                    help="simulator block: nodes on 127.6.NET.k, links on NET+1 (default: a "
                    "free block, simnode.claim_slot); its block's slot lock is taken")
    ap.add_argument("--duration", type=float, default=60, help="per scenario, s (0: its own)")
    ap.add_argument("--settle", type=float, default=20,
                    help="leave out the first S s (start-up steps)")
    ap.add_argument("--ci", action="store_true", help="short scenarios, containment asserted")
    ap.add_argument("--out", default="/tmp/fleetclock-bound-check")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--from", dest="from_dir",
                    help="analyse the samples.jsonl of earlier runs under this directory again "
                    "(no simulation, no root needed)")
    a = ap.parse_args()
    if a.from_dir:
        return reanalyse(a.from_dir, a.settle)
    if os.geteuid() != 0:
        print("bound_check: needs root (chronyd binds port 123): skipped", file=sys.stderr)
        return 77
    names = a.scenarios or (CI if a.ci else DEFAULT)
    if a.net is not None and not lock_block(a.net):
        print("bound_check: the simulator block of --net %d is in use by another run "
              "(%s)" % (a.net, simnode.SLOT_DIR), file=sys.stderr)
        return 2
    failed, results = False, {}
    for spec in names:
        name, _, profile = spec.partition(":")
        duration = None if a.ci or a.duration == 0 else a.duration
        t0 = time.monotonic()
        try:
            sc, rows = run(name, profile or None, duration, a.net, a.out)
        except (OSError, ValueError, RuntimeError) as e:
            print("bound_check: %s: %s" % (spec, e), file=sys.stderr)
            return 2
        st = analyse(sc, rows, a.settle)
        print(report("%s (%.0f s run)" % (sc["name"], time.monotonic() - t0), st), flush=True)
        results[sc["name"]] = {k: v for k, v in st.items()
                               if k not in ("rel_ratio", "abs_ratio", "floor_ratio", "abs_floor", "true", "rp_abs_rel",
                                            "rp_floor", "rp_true", "tree", "abs_over_tree",
                                            "rel", "absb", "abs_over_rel", "floors", "rp_win_abs",
                                            "rp_win_floor")}
        if st["samples"] == 0 or st["pair_rel_in"] != st["pairs"] or st["rel_in"] != st["samples"]:
            failed = True
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print("bound_check: containment %s" % ("FAILED" if failed else "100 % in every scenario"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
