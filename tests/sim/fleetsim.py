#!/usr/bin/env python3
"""fleetsim.py - run a simulated fleet described in a scenario file.

Every node gets a private virtual clock (tests/sim/vclock.c) disciplined by
its own real chronyd, on its own loopback address (127.6.NET.k); nodes talk
to their servers through the link emulator with the node's link profile:
every node reaches a server at one relay address, 127.6.NET+1.k for the
server 127.6.NET.k (as a real fleet names its master by one address), over a
link of its own. Each second the runner records every node's TRUE error (from
its clock's state file) and chronyd's own estimate (TRACKING over the
command socket), applies the scenario's timeline of events, and at the end
writes samples.csv, events.csv, summary.json/.txt and plot.png.

    python3 tests/sim/fleetsim.py tests/sim/scenarios/baseline-wifi.toml \
        [--out DIR] [--duration S] [--net N] [--table SECONDS]

Scenario format (TOML): see docs/simulator.md.
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkemu  # noqa: E402
from simnode import BUILD, SOURCE, SimNode, claim_slot, node_env, real_clock_state  # noqa: E402

LEAP_UNSYNC = 3
NODE_KEYS = {"name", "count", "role", "servers", "link", "offset", "drift", "wander", "serve",
             "local_stratum", "poll", "makestep", "extra_conf", "command", "env", "priority",
             "start", "chronyd", "link_params", "driftfile_ppm",
             "peers", "boot"}
EVENT_ACTIONS = {"kill", "stop", "restart", "step", "set", "drift", "link-down", "link-up",
                 "partition", "heal", "note", "command-stop", "command-start",
                 "link-set"}
# Election announces (UDP) between candidates that list each other as peers.
ANNOUNCE_PORT = 3191
LINK_PARAMS = ("delay_ms", "jitter_ms", "jitter_max_ms", "loss", "asym")


# --- scenario ---------------------------------------------------------------

def _value(v, rng, what):
    """A number, or [lo, hi] for a seeded uniform draw."""
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list) and len(v) == 2:
        return rng.uniform(float(v[0]), float(v[1]))
    raise ValueError("%s: expected a number or [lo, hi], got %r" % (what, v))


def load_scenario(path, duration=None, profile=None):
    """Parse and expand a scenario file; raises ValueError with the cause.
    profile overrides the scenario's default link profile (nodes that name
    their own link keep it)."""
    if tomllib is None:
        raise RuntimeError("Python 3.11+ (tomllib) is needed to read %s" % path)
    with open(path, "rb") as f:
        sc = tomllib.load(f)
    sc.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    sc.setdefault("duration", 180)
    sc.setdefault("budget_ms", 5.0)
    sc.setdefault("profile", "wifi")
    sc.setdefault("seed", 1)
    sc.setdefault("sample_interval", 1.0)
    sc.setdefault("poll", 0)
    if duration is not None:
        sc["duration"] = duration
    if profile is not None:
        linkemu.profile(profile)  # ValueError if unknown
        sc["profile"] = profile
        sc["name"] += "-" + profile
    rng = random.Random(sc["seed"])
    nodes = []
    for spec in sc.get("node", []):
        bad = set(spec) - NODE_KEYS
        if bad:
            raise ValueError("%s: node %s: unknown keys %s" % (path, spec.get("name"), sorted(bad)))
        count = int(spec.get("count", 1))
        for i in range(1, count + 1):
            n = dict(spec)
            n["name"] = spec["name"].format(i=i) if count > 1 else spec["name"]
            n.setdefault("role", "headset")
            n.setdefault("servers", [])
            n.setdefault("link", sc["profile"])
            for k in ("offset", "drift", "wander"):
                n[k] = _value(spec.get(k, 0.0), rng, "%s.%s" % (n["name"], k))
            n.setdefault("serve", n["role"] != "headset")
            n.setdefault("poll", sc["poll"])
            nodes.append(n)
    for n in nodes:
        linkemu.profile(n["link"], **n.get("link_params", {}))  # ValueError if wrong
    names = [n["name"] for n in nodes]
    if len(set(names)) != len(names):
        raise ValueError("%s: duplicate node names" % path)
    for n in nodes:
        for s in n["servers"]:
            if s not in names:
                raise ValueError("%s: node %s: unknown server %s" % (path, n["name"], s))
        for s in n.get("peers", []):
            if s not in names or s == n["name"]:
                raise ValueError("%s: node %s: bad peer %s" % (path, n["name"], s))
    events = sorted(sc.get("event", []), key=lambda e: e["at"])
    for e in events:
        if e.get("action") not in EVENT_ACTIONS:
            raise ValueError("%s: event at %s: unknown action %r" % (path, e.get("at"),
                                                                     e.get("action")))
        for nm in [e["node"]] if "node" in e else e.get("nodes", []):
            if nm not in names:
                raise ValueError("%s: event at %s: unknown node %s" % (path, e["at"], nm))
    sc["nodes"], sc["events"] = nodes, events
    return sc


# The first two octets of every address (an engineer working beside others
# may move the whole fleet, e.g. FLEETCLOCK_SIM_PREFIX=127.7).
PREFIX = os.environ.get("FLEETCLOCK_SIM_PREFIX", "127.6")


# --- the fleet --------------------------------------------------------------

class Fleet:
    def __init__(self, sc, out, net=None, table=0.0, quiet=False):
        if net is None:
            net = claim_slot()  # a block of 127.6.0.0/16 no other run uses
        if not 0 <= net <= 254:
            raise ValueError("--net must be in 0..254")
        self.sc, self.out, self.net, self.table, self.quiet = sc, out, net, table, quiet
        self.nodes = {}
        self.spec = {}
        self.links = {}  # link name -> (client, server)
        self.announce_to = {}  # node -> "relay:port,..." its announces go to
        self.emu = linkemu.LinkEmu(seed=sc["seed"])
        self.addr_name = {}
        self.cpu = {}
        self.rng = random.Random(sc["seed"] + 1)
        self.event_log = []
        self.escapes = {}  # node -> {(pid, comm, reason)} seen by the self-check
        self.next_escape_check = 0.0
        self.t0 = None

    def say(self, msg):
        if not self.quiet:
            print("fleetsim: " + msg, flush=True)

    def relay_addr(self, index, server):
        """The one address every node reaches `server` at (its relays share
        it, told apart by the client's address), as a real fleet names its
        master by one address: 127.6.NET+1.k for the server's 127.6.NET.k."""
        return "%s.%d.%d" % (PREFIX, self.net + 1, index[server] + 1)

    def add_ntp_link(self, index, n, s):
        """n's NTP link to s: from n's address to s's relay address, port 123."""
        name = "%s->%s" % (n["name"], s)
        self.emu.add(name, (self.relay_addr(index, s), 123),
                     ("%s.%d.%d" % (PREFIX, self.net, index[s] + 1), 123),
                     linkemu.profile(n["link"], **n.get("link_params", {})),
                     client="%s.%d.%d" % (PREFIX, self.net, index[n["name"]] + 1))
        self.links[name] = (n["name"], s)
        self.addr_name[self.relay_addr(index, s)] = s
        return self.relay_addr(index, s)

    def build(self):
        workdir = os.path.join(self.out, "nodes")
        os.makedirs(workdir, exist_ok=True)
        index = {n["name"]: i for i, n in enumerate(self.sc["nodes"])}
        for n in self.sc["nodes"]:
            addr = "%s.%d.%d" % (PREFIX, self.net, index[n["name"]] + 1)
            self.addr_name[addr] = n["name"]
        for n in self.sc["nodes"]:
            addr = "%s.%d.%d" % (PREFIX, self.net, index[n["name"]] + 1)
            servers = [(self.add_ntp_link(index, n, s), 123, "") for s in n["servers"]]
            node = SimNode(n["name"], addr, workdir, servers=servers, offset=n["offset"],
                           drift=n["drift"], wander=n["wander"], serve=n["serve"],
                           local_stratum=n.get("local_stratum"),
                           allow="%s.%d.0/24" % (PREFIX, self.net + 1), poll=n["poll"],
                           makestep=n.get("makestep", "1 3"), extra_conf=n.get("extra_conf", ""),
                           chronyd=n.get("chronyd", True), driftfile_ppm=n.get("driftfile_ppm"))
            self.nodes[n["name"]] = node
            self.spec[n["name"]] = n
        self.build_peer_links(index)

    def build_peer_links(self, index):
        """Candidates listed as `peers`: N hears P at P's relay address, for
        P's announces (they reach N from it: a relay inbox per (P, N) at
        relay:ANNOUNCE_PORT -> N, sending from P's relay address) and for
        N's NTP to P (chronyd's source, the agent's measurement: P's relay
        address, port 123, through N's own link), so the address N's agent
        reads from an announce (the packet's source) is the one it measures
        and that its chronyd has as a source; partitions and loss cut both."""
        inbox = len(index)
        for n in self.sc["nodes"]:
            for p in n.get("peers", []):
                params = linkemu.profile(n["link"], **n.get("link_params", {}))
                if "%s->%s" % (n["name"], p) not in self.links:
                    self.add_ntp_link(index, n, p)
                inbox += 1
                if inbox > 254:
                    raise ValueError("too many peer links for one /24 of relay addresses")
                ip = "%s.%d.%d" % (PREFIX, self.net + 1, inbox)
                name = "%s=>%s announce" % (p, n["name"])
                self.emu.add(name, (ip, ANNOUNCE_PORT),
                             ("%s.%d.%d" % (PREFIX, self.net, index[n["name"]] + 1), ANNOUNCE_PORT),
                             dict(params), source=self.relay_addr(index, p))
                self.links[name] = (p, n["name"])
                self.announce_to.setdefault(p, []).append("%s:%d" % (ip, ANNOUNCE_PORT))

    def start_node(self, name, fresh_clock=True):
        node = self.nodes[name]
        if self.spec[name].get("boot"):
            node.prepare(fresh_clock)  # the clock first: the boot command runs on it
            self.run_boot(name)
            fresh_clock = False
        node.start(fresh_clock=fresh_clock)
        node.wait_ready(15)
        self.start_command(name)

    def command_argv_env(self, name, argv):
        """argv with the placeholders filled, and the environment that puts
        it on the node's clock (the node's env added)."""
        node, n = self.nodes[name], self.spec[name]
        fmt = {k: v for k, v in n.items() if isinstance(v, (str, int, float))}
        fmt.update(name=name, addr=node.addr, dir=node.dir, sock=node.sock, build=BUILD,
                   source=SOURCE, state=node.state_path,
                   announce_peers=",".join(self.announce_to.get(name, [])))
        env = node_env(node.state_path)
        for k, v in n.get("env", {}).items():
            v = str(v).format(**fmt)
            # more preloads (e.g. the DS1307 emulator) come after the clock's
            env[k] = env[k] + ":" + v if k == "LD_PRELOAD" else v
        return [str(a).format(**fmt) for a in argv], env

    def run_boot(self, name):
        """The node's boot command (e.g. hctosys from its RTC), on its clock,
        to completion before chronyd starts, at every start; output in
        boot.out. A failure is logged there and the node starts anyway,
        as a real one would."""
        node = self.nodes[name]
        argv, env = self.command_argv_env(name, self.spec[name]["boot"])
        with open(os.path.join(node.dir, "boot.out"), "ab") as log:
            try:
                r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=log, timeout=30)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout (30 s)"
        if rc != 0:
            self.say("%s: boot command exited with %s (see %s/boot.out)" % (name, rc, node.dir))

    def start_command(self, name):
        """The node's extra command (agent, collector...) on its clock."""
        node, n = self.nodes[name], self.spec[name]
        if n.get("command"):
            argv, env = self.command_argv_env(name, n["command"])
            log = open(os.path.join(node.dir, "command.out"), "ab")
            node.run_on_clock(argv, env=env, stdin=subprocess_devnull(), stdout=log, stderr=log,
                              start_new_session=True)

    def start(self):
        self.build()
        self.emu.start()
        for name in self.nodes:
            if self.spec[name].get("start", True):
                self.start_node(name)
        self.t0 = time.monotonic()
        self.say("%d nodes up, %d links (%s); output in %s" %
                 (len(self.nodes), len(self.links), self.sc["profile"], self.out))

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        self.emu.stop()

    # --- events
    def node_links(self, name):
        return [ln for ln, (c, s) in self.links.items() if name in (c, s)]

    def apply(self, e):
        act, name = e["action"], e.get("node")
        node = self.nodes.get(name)
        if act in ("kill", "stop"):
            node.stop(signal.SIGKILL if act == "kill" else signal.SIGTERM)
        elif act == "restart":
            if node.alive():
                node.stop()
            if "offset" in e:
                node.clock.ctl("set", float(e["offset"]))
            if "drift" in e:
                node.clock.ctl("drift", float(e["drift"]))
            self.start_node(name, fresh_clock=False)
        elif act == "command-stop":
            node.stop_extra(signal.SIGKILL if e.get("kill") else signal.SIGTERM)
        elif act == "command-start":
            self.start_command(name)
        elif act == "step":
            node.clock.ctl("step", float(e["delta"]))
        elif act == "set":
            node.clock.ctl("set", float(e["offset"]))
        elif act == "drift":
            node.clock.ctl("drift", float(e["ppm"]))
        elif act in ("link-down", "link-up"):
            for ln in self.node_links(name):
                self.emu.set_down(ln, act == "link-down")
        elif act == "link-set":
            # every link between two nodes of the group: down/up, impairment
            group = set(e.get("nodes", []))
            for ln, (c, s) in self.links.items():
                if c in group and s in group:
                    if "down" in e:
                        self.emu.set_down(ln, bool(e["down"]))
                    for k in LINK_PARAMS:
                        if k in e:
                            self.emu.links[ln].p[k] = float(e[k])
        elif act in ("partition", "heal"):
            group = set(e.get("nodes", []))
            for ln, (c, s) in self.links.items():
                if (c in group) != (s in group) or act == "heal":
                    self.emu.set_down(ln, act == "partition")
        label = e.get("label") or " ".join(str(x) for x in (act, name or "") if x)
        self.event_log.append((e["at"], act, name or "", label))
        self.say("t=%5.1f s  event: %s" % (e["at"], label))

    def wander(self, dt):
        for name, node in self.nodes.items():
            w = self.spec[name]["wander"]
            if w > 0 and node.alive():
                st = node.clock.read()
                node.clock.ctl("drift", st["drift_ppm"] + self.rng.gauss(0.0, w * math.sqrt(dt)))

    # --- sampling
    def check_escapes(self):
        """Self-check: every process of every node must be on its clock."""
        for name, node in self.nodes.items():
            for bad in node.escaped():
                if bad not in self.escapes.setdefault(name, set()):
                    self.escapes[name].add(bad)
                    self.say("SELF-CHECK: %s: pid %d (%s): %s" % ((name,) + bad))

    def sample(self, t):
        if t >= self.next_escape_check:
            self.check_escapes()
            self.next_escape_check = t + 10.0
        rows = []
        for name, node in self.nodes.items():
            alive = node.alive()
            tr = node.tracking() if alive else None
            row = dict(t=round(t, 3), node=name, role=self.spec[name]["role"], alive=int(alive),
                       true_error=node.clock.true_error(), est_error="", bound="", leap="",
                       stratum="", ref="")
            if tr:
                row.update(est_error=-tr["current_correction"],
                           bound=tr["root_delay"] / 2 + tr["root_dispersion"],
                           leap=tr["leap"], stratum=tr["stratum"],
                           ref=self.ref_name(tr["ref_id"]))
            rows.append(row)
            for p in [node.proc] + node.extra:
                if p is not None and p.poll() is None:
                    self.cpu[p.pid] = proc_cpu_seconds(p.pid)
        return rows

    def ref_name(self, ref_id):
        if ref_id == 0x7F7F0101:
            return "LOCAL"
        if ref_id == 0:
            return ""
        ip = "%d.%d.%d.%d" % (ref_id >> 24, (ref_id >> 16) & 255, (ref_id >> 8) & 255, ref_id & 255)
        return self.addr_name.get(ip, ip)

    def run(self):
        sc = self.sc
        events = list(sc["events"])
        rows = []
        interval = sc["sample_interval"]
        next_t, next_table = 0.0, 0.0
        self.interrupted = False
        try:
            self._loop(events, rows, interval, next_t, next_table)
        except KeyboardInterrupt:
            self.interrupted = True  # Ctrl-C or SIGTERM: finish with what we have
            self.say("interrupted: stopping the fleet")
        self.cpu_total = sum(self.cpu.values())
        self.elapsed = time.monotonic() - self.t0
        self.own_cpu = time.process_time()
        return rows

    def _loop(self, events, rows, interval, next_t, next_table):
        sc = self.sc
        while True:
            t = time.monotonic() - self.t0
            while events and events[0]["at"] <= t:
                self.apply(events.pop(0))
            if t >= next_t:
                new = self.sample(t)
                rows += new
                if self.table and t >= next_table:
                    print_table(new, t, sc["budget_ms"])
                    next_table += self.table
                self.wander(interval)
                next_t += interval
            if t >= sc["duration"]:
                break
            time.sleep(max(0.0, min(next_t, events[0]["at"] if events else next_t) -
                           (time.monotonic() - self.t0)))


def subprocess_devnull():
    return open(os.devnull, "rb")


def proc_cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def print_table(rows, t, budget_ms):
    up = [r for r in rows if r["alive"]]
    ok = [r for r in up if abs(r["true_error"]) * 1e3 <= budget_ms]
    errs = [r["true_error"] * 1e3 for r in up if r["role"] == "headset"]
    spread = (max(errs) - min(errs)) if len(errs) > 1 else 0.0
    print("\n--- t = %5.0f s   %d/%d nodes within +-%.1f ms of true time, headset spread %.3f ms"
          % (t, len(ok), len(rows), budget_ms, spread))
    print("%-12s %-9s %-5s %12s %12s %10s %-10s %s" %
          ("node", "role", "up", "true ms", "chrony ms", "bound ms", "source", "ok"))
    for r in rows:
        te = r["true_error"] * 1e3
        est = "%12.3f" % (r["est_error"] * 1e3) if r["est_error"] != "" else "%12s" % "-"
        bound = "%10.3f" % (r["bound"] * 1e3) if r["bound"] != "" else "%10s" % "-"
        ok = "yes" if abs(te) <= budget_ms else "NO"
        print("%-12s %-9s %-5s %12.3f %s %s %-10s %s" %
              (r["node"], r["role"], "up" if r["alive"] else "DOWN", te, est, bound,
               r["ref"] or "-", ok), flush=True)


# --- analysis ---------------------------------------------------------------

def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def phases(duration, events):
    """[(start, end, label)] split at every event time."""
    cuts = sorted({e[0] for e in events if 0 < e[0] < duration})
    bounds = [0.0] + cuts + [float(duration)]
    labels = ["start"] + [", ".join(e[3] for e in events if e[0] == c) for c in cuts]
    return [(bounds[i], bounds[i + 1], labels[i]) for i in range(len(bounds) - 1)]


def converge_time(samples, budget, start, end):
    """First t in [start, end) from which |true error| stays within budget."""
    last_bad = None
    seen = False
    for t, e in samples:
        if start <= t < end:
            seen = True
            if abs(e) > budget:
                last_bad = t
    if not seen:
        return None
    after = [t for t, _ in samples if start <= t < end and (last_bad is None or t > last_bad)]
    return (after[0] - start) if after else None


def analyse(rows, sc, event_log):
    budget = sc["budget_ms"] / 1e3
    ph = phases(sc["duration"], event_log)
    by_node = {}
    for r in rows:
        by_node.setdefault(r["node"], []).append(r)
    out = dict(scenario=sc["name"], profile=sc["profile"], budget_ms=sc["budget_ms"],
               duration_s=sc["duration"], phases=[], nodes={})
    chrony_nodes = {n["name"] for n in sc["nodes"] if n.get("chronyd", True)}
    clients = [n for n in by_node if sc_role(sc, n) != "upstream" and n in chrony_nodes]
    for name, rs in by_node.items():
        alive = [(r["t"], r["true_error"]) for r in rs if r["alive"]]
        conv = converge_time(alive, budget, ph[0][0], ph[0][1])
        steady = [abs(e) for t, e in alive if conv is not None and ph[0][0] + conv <= t < ph[0][1]]
        synced = [r for r in rs if r["alive"] and r["est_error"] != "" and r["leap"] != LEAP_UNSYNC]
        brackets = [abs(r["true_error"] - r["est_error"]) <= r["bound"] for r in synced]
        out["nodes"][name] = dict(
            role=sc_role(sc, name), converge_s=conv,
            steady_p50_ms=percentile(steady, 50) * 1e3 if steady else None,
            steady_p99_ms=percentile(steady, 99) * 1e3 if steady else None,
            bracket_fraction=(sum(brackets) / len(brackets)) if brackets else None,
            max_abs_ms_per_phase=[])
        for a, b, _ in ph:
            es = [abs(e) for t, e in alive if a <= t < b]
            out["nodes"][name]["max_abs_ms_per_phase"].append(max(es) * 1e3 if es else None)
    heads = [n for n in clients if sc_role(sc, n) == "headset"]
    convs = [out["nodes"][n]["converge_s"] for n in clients]
    settled = None if any(c is None for c in convs) else ph[0][0] + max(convs, default=0.0)
    steady = [abs(r["true_error"]) for r in rows if r["node"] in heads and r["alive"]
              and settled is not None and settled <= r["t"] < ph[0][1]]
    spreads = fleet_spreads(rows, heads, settled, ph[0][1]) if settled is not None else []
    out["fleet"] = dict(
        converged_s=(settled - ph[0][0]) if settled is not None else None,
        headset_steady_p50_ms=percentile(steady, 50) * 1e3 if steady else None,
        headset_steady_p99_ms=percentile(steady, 99) * 1e3 if steady else None,
        headset_spread_steady_p99_ms=percentile(spreads, 99) * 1e3 if spreads else None)
    for a, b, label in ph:
        spreads = fleet_spreads(rows, heads, a, b)
        mx = [abs(r["true_error"]) for r in rows if r["node"] in heads and r["alive"] and a <= r["t"] < b]
        out["phases"].append(dict(start_s=a, end_s=b, label=label,
                                  headset_max_abs_ms=max(mx) * 1e3 if mx else None,
                                  spread_p99_ms=percentile(spreads, 99) * 1e3 if spreads else None,
                                  spread_max_ms=max(spreads) * 1e3 if spreads else None))
    return out


def sc_role(sc, name):
    return next(n["role"] for n in sc["nodes"] if n["name"] == name)


def fleet_spreads(rows, names, a, b):
    per_t = {}
    for r in rows:
        if r["node"] in names and r["alive"] and a <= r["t"] < b:
            per_t.setdefault(round(r["t"]), []).append(r["true_error"])
    return [max(v) - min(v) for v in per_t.values() if len(v) > 1]


def summary_text(s, extra):
    lines = ["scenario %s, profile %s, %s s, budget %.1f ms" %
             (s["scenario"], s["profile"], s["duration_s"], s["budget_ms"])]
    lines.append("%-12s %-9s %10s %10s %10s %9s  max|err| per phase (ms)" %
                 ("node", "role", "conv s", "p50 ms", "p99 ms", "bracket"))
    for name, n in s["nodes"].items():
        f = lambda v, fmt: (fmt % v) if v is not None else "-"  # noqa: E731
        lines.append("%-12s %-9s %10s %10s %10s %9s  %s" % (
            name, n["role"], f(n["converge_s"], "%.0f"), f(n["steady_p50_ms"], "%.3f"),
            f(n["steady_p99_ms"], "%.3f"),
            f(n["bracket_fraction"] and n["bracket_fraction"] * 100, "%.0f%%"),
            " ".join(f(m, "%.3f") for m in n["max_abs_ms_per_phase"])))
    for p in s["phases"]:
        f = lambda v: ("%.3f" % v) if v is not None else "-"  # noqa: E731
        lines.append("phase %5.0f-%5.0f s [%s]: headsets max |err| %s ms, spread p99 %s ms, max %s ms"
                     % (p["start_s"], p["end_s"], p["label"], f(p["headset_max_abs_ms"]),
                        f(p["spread_p99_ms"]), f(p["spread_max_ms"])))
    fl = s.get("fleet", {})
    f = lambda v: ("%.3f" % v) if v is not None else "-"  # noqa: E731
    lines.append("fleet: converged after %s s; headsets steady |err| p50 %s ms, p99 %s ms; "
                 "spread p99 %s ms" % (f(fl.get("converged_s")), f(fl.get("headset_steady_p50_ms")),
                                       f(fl.get("headset_steady_p99_ms")),
                                       f(fl.get("headset_spread_steady_p99_ms"))))
    lines += ["%s: %s" % kv for kv in extra.items()]
    return "\n".join(lines) + "\n"


# --- plot -------------------------------------------------------------------

def plot(rows, sc, event_log, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("fleetsim: python3-matplotlib not installed: no plot (scripts/deps.sh lists it)",
              file=sys.stderr)
        return False
    budget = sc["budget_ms"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 8), sharex=True,
                                   gridspec_kw=dict(height_ratios=[1, 1.4]))
    names = list(dict.fromkeys(r["node"] for r in rows))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        rs = [r for r in rows if r["node"] == name]
        ts = [r["t"] for r in rs]
        es = [r["true_error"] * 1e3 if r["alive"] else float("nan") for r in rs]
        role = rs[0]["role"]
        lw = 2.0 if role != "headset" else 1.0
        for ax in (ax1, ax2):
            ax.plot(ts, es, label="%s (%s)" % (name, role), color=cmap(i % 20), lw=lw)
    ax1.set_yscale("symlog", linthresh=budget)
    top = max([abs(r["true_error"]) * 1e3 for r in rows if r["alive"]] + [budget])
    n_dec = int(math.log10(top)) + 1
    step = max(1, (n_dec + 5) // 6)  # at most ~6 labelled decades each side
    decades = [10.0 ** k for k in range(step, n_dec + step, step)]
    ax1.set_yticks([-d for d in reversed(decades)] + [0.0] + decades)
    ax1.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax1.set_ylabel("true error (ms, symlog)")
    ax1.set_title("fleetclock simulator: %s (%s links) - true error per node" %
                  (sc["name"], sc["profile"]))
    ax2.set_ylim(-2.5 * budget, 2.5 * budget)
    ax2.set_ylabel("true error (ms)")
    ax2.set_xlabel("time since start (s)")
    for ax in (ax1, ax2):
        ax.axhline(budget, color="red", ls="--", lw=1)
        ax.axhline(-budget, color="red", ls="--", lw=1)
        ax.grid(True, alpha=0.3)
        for t, _, _, label in event_log:
            ax.axvline(t, color="black", ls=":", lw=1)
    for t, _, _, label in event_log:
        ax1.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                     va="top", ha="right", fontsize=8)
    ax2.text(0.01, 0.97, "budget +-%.1f ms" % budget, transform=ax2.transAxes, color="red",
             va="top", fontsize=8)
    ax2.legend(loc="lower right", fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def read_dir(out):
    """samples.csv, events.csv and scenario.json of a finished run."""
    with open(os.path.join(out, "scenario.json")) as f:
        sc = json.load(f)
    rows = []
    with open(os.path.join(out, "samples.csv")) as f:
        for r in csv.DictReader(f):
            r["t"] = float(r["t"])
            r["alive"] = int(r["alive"])
            r["true_error"] = float(r["true_error"])
            rows.append(r)
    event_log = []
    with open(os.path.join(out, "events.csv")) as f:
        for r in csv.DictReader(f):
            event_log.append((float(r["t"]), r["action"], r["node"], r["label"]))
    return sc, rows, event_log


def plot_dir(out):
    """Draw out/plot.png; falls back to the system Python (Debian's
    python3-matplotlib) when this interpreter has no matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        syspy = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(syspy) and os.path.exists(syspy):
            r = subprocess.run([syspy, os.path.abspath(__file__), "--plot-only", out])
            return r.returncode == 0
    sc, rows, event_log = read_dir(out)
    return plot(rows, sc, event_log, os.path.join(out, "plot.png"))


# --- main -------------------------------------------------------------------

def write_csv(rows, path):
    keys = ["t", "node", "role", "alive", "true_error", "est_error", "bound", "leap", "stratum",
            "ref"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def run_scenario(sc, out, net=None, table=0.0, quiet=False, keep_nodes=False):
    """Run one expanded scenario; returns (summary dict, rows)."""
    if os.path.exists(out):
        # Only ever replace an earlier run's output, never anything else.
        if os.listdir(out) and not os.path.exists(os.path.join(out, "scenario.json")) \
                and not os.path.isdir(os.path.join(out, "nodes")):
            raise RuntimeError("%s exists and is not a fleetsim output directory: "
                               "choose another --out" % out)
        shutil.rmtree(out)
    os.makedirs(out)
    real_before = real_clock_state()
    fleet = Fleet(sc, out, net=net, table=table, quiet=quiet)
    rows = []
    interrupted = False
    try:
        fleet.start()
        rows = fleet.run()
        if fleet.interrupted:
            sc = dict(sc, duration=max(1, int(fleet.elapsed)))
        fleet.check_escapes()
        escaped = {n: sorted(v) for n, v in fleet.escapes.items() if v}
    except KeyboardInterrupt:
        interrupted = True
        escaped = {}
    finally:
        fleet.stop()
    real_after = real_clock_state()
    if interrupted:
        raise KeyboardInterrupt
    s = analyse(rows, sc, fleet.event_log)
    s["escaped"] = {n: [list(x) for x in v] for n, v in escaped.items() if v}
    s["real_clock_unchanged"] = all(real_before[k] == real_after[k]
                                    for k in ("freq", "tick", "status", "offset"))
    n_nodes = len(fleet.nodes)
    s["cpu"] = dict(nodes=n_nodes, wall_s=round(fleet.elapsed, 1),
                    chronyd_cpu_s=round(fleet.cpu_total, 2),
                    chronyd_cpu_percent_of_one_core=round(100 * fleet.cpu_total / fleet.elapsed, 2),
                    runner_cpu_s=round(fleet.own_cpu, 2))
    s["events"] = [dict(at=a, action=b, node=c, label=d) for a, b, c, d in fleet.event_log]
    s["t0_monotonic"] = fleet.t0  # the time origin, to line up logs that carry CLOCK_MONOTONIC
    write_csv(rows, os.path.join(out, "samples.csv"))
    with open(os.path.join(out, "events.csv"), "w") as f:
        f.write("t,action,node,label\n")
        for a, b, c, d in fleet.event_log:
            f.write("%s,%s,%s,%s\n" % (a, b, c, d))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(s, f, indent=2)
    extra = {"escaped processes": s["escaped"] or "none",
             "real clock adjtimex state unchanged": s["real_clock_unchanged"],
             "cpu": s["cpu"]}
    txt = summary_text(s, extra)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(txt)
    with open(os.path.join(out, "scenario.json"), "w") as f:
        json.dump({k: v for k, v in sc.items()}, f, indent=1)
    s["plot"] = plot_dir(out)
    if not keep_nodes:
        for node in fleet.nodes.values():
            node.clock.close()
    if not quiet:
        print(txt, end="")
    return s, rows


def main():
    ap = argparse.ArgumentParser(description="fleetclock fleet simulator")
    ap.add_argument("scenario")
    ap.add_argument("--out", help="output directory (default /tmp/fleetclock-sim/NAME)")
    ap.add_argument("--duration", type=float, help="override the scenario's duration (s)")
    ap.add_argument("--net", type=int,
                    help="third octet: nodes on 127.6.NET.k, links on 127.6.NET+1.l "
                    "(default: a free block, see simnode.claim_slot)")
    ap.add_argument("--table", type=float, default=0.0, help="print a fleet table every S s")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw plot.png of a finished run (SCENARIO is its output dir)")
    a = ap.parse_args()
    if a.plot_only:
        return 0 if plot_dir(a.scenario) else 1
    if os.geteuid() != 0:
        print("fleetsim: needs root (chronyd binds port 123 on 127.6.x.x)", file=sys.stderr)
        return 2
    try:
        sc = load_scenario(a.scenario, a.duration)
    except (OSError, ValueError, RuntimeError) as e:
        print("fleetsim: %s" % e, file=sys.stderr)
        return 2
    out = a.out or os.path.join("/tmp/fleetclock-sim", sc["name"])

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        s, _ = run_scenario(sc, out, net=a.net, table=a.table, quiet=a.quiet)
    except KeyboardInterrupt:
        print("fleetsim: interrupted, everything stopped", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print("fleetsim: %s" % e, file=sys.stderr)
        return 1
    print("fleetsim: results in %s (samples.csv, summary.txt, plot.png)" % out)
    return 0 if not s["escaped"] and s["real_clock_unchanged"] else 1


if __name__ == "__main__":
    sys.exit(main())
