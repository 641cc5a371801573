"""Benchmark (issue 4): fleetclock-collector ingest, side by side in one run.

wrk (2 threads, 32 connections, 10 s each) POSTs ~1.4 KB status documents
for 10,000 distinct hosts, each with its own sent_at, to:
  (1) fleetclock-collector: durable (acknowledged = committed to SQLite),
  (2) prometheus-pushgateway: the equivalent per-host push
      (PUT-less POST /metrics/job/fleetclock/instance/HOST, text format),
  (3) nginx answering 204 to the same POSTs: this machine's loopback HTTP
      ceiling.
Then GET /api/v1/fleet with the 10,000 hosts stored (rendered every time,
and with the default fleet_cache_ms), and the agent daemon's RSS and CPU at
a 1 s interval against a real chronyd (chronyd itself as the baseline).
Targets: >= 20,000 stored reports/s with p99 < 20 ms (>= 1/8 of nginx);
fleet p99 < 50 ms; agent RSS < 8 MB and < 1 % of a core.
Prints figures and ratios; exits 0 (figures are read, not asserted).
Everything listens on 127.0.4.x only; every run is bounded in time.

--agent-only runs just the agent part (no wrk/nginx/pushgateway needed):
the daemon's RSS, anonymous and PSS, and a per-library breakdown from
/proc/PID/smaps, then push_floor (the agent's own push.c POSTing the same
document at the same interval, nothing else: the memory floor of reporting
with this libcurl) and chronyd. FLEETCLOCK_BENCH_NET=127.0.9 moves the
agent part's chronyd and collector to another /24 of loopback."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from chronyd_harness import ChronyInstance
from collector_harness import Collector, make_doc
from fctest import AGENT, BUILD, SOURCE

DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
HOSTS = 10000
NET = os.environ.get("FLEETCLOCK_BENCH_NET", "127.0.4")    # the agent part's addresses
PUSH_FLOOR = os.path.join(BUILD, "tests", "bench", "push_floor")

POST_LUA = r"""
-- a status document per request: 10,000 hosts, a unique sent_at each
local template = io.open(os.getenv("FC_TEMPLATE")):read("*a")
local n = 0
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function init(args)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("FC_TYPE")
  wrk.headers["Authorization"] = "Bearer t0ken"
end
function request()
  n = n + 1
  local k = n * 2 + tid
  local host = string.format("bench-%05d", k % 10000)
  local us = 1000000 + k
  local sent = string.format("2026-01-01T00:%02d:%02d.%06dZ", math.floor(us / 60000000) % 60,
                             math.floor(us / 1000000) % 60, us % 1000000)
  local body = template:gsub("@HOST@", host, 1):gsub("@SENT@", sent, 1)
  local path = os.getenv("FC_PATH"):gsub("@HOST@", host, 1)
  return wrk.format(nil, path, nil, body)
end
"""

PUSH_TEMPLATE = """# TYPE fleetclock_host_offset_seconds gauge
fleetclock_host_offset_seconds{sent_at="@SENT@"} 0.0001
# TYPE fleetclock_host_error_bound_seconds gauge
fleetclock_host_error_bound_seconds 0.0003
# TYPE fleetclock_host_root_delay_seconds gauge
fleetclock_host_root_delay_seconds 0.0002
# TYPE fleetclock_host_root_dispersion_seconds gauge
fleetclock_host_root_dispersion_seconds 0.0001
# TYPE fleetclock_host_stratum gauge
fleetclock_host_stratum 3
# TYPE fleetclock_host_leap_status gauge
fleetclock_host_leap_status 0
# TYPE fleetclock_host_synchronised gauge
fleetclock_host_synchronised 1
# TYPE fleetclock_host_rtc_offset_seconds gauge
fleetclock_host_rtc_offset_seconds 0.002
# TYPE fleetclock_host_rtc_valid gauge
fleetclock_host_rtc_valid 1
# TYPE fleetclock_source_offset_seconds gauge
fleetclock_source_offset_seconds{source="ntp0.fleet.lan"} 1.5e-05
fleetclock_source_offset_seconds{source="ntp1.fleet.lan"} 1.5e-05
# TYPE fleetclock_source_error_seconds gauge
fleetclock_source_error_seconds{source="ntp0.fleet.lan"} 2.1e-05
fleetclock_source_error_seconds{source="ntp1.fleet.lan"} 2.1e-05
# TYPE fleetclock_source_reach gauge
fleetclock_source_reach{source="ntp0.fleet.lan"} 255
fleetclock_source_reach{source="ntp1.fleet.lan"} 255
"""

NGINX_CONF = """worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  client_max_body_size 64k;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  server {{ listen 127.0.4.3:8480; location / {{ return 204; }}
            location = /api/v1/fleet {{ root {d}/static; default_type application/json; }} }}
}}
"""


def ensure_packages():
    r = subprocess.run(["bash", "-c", '. "%s/scripts/deps.sh" && ensure_packages '
                        '$FLEETCLOCK_BENCH_PACKAGES' % SOURCE])
    if r.returncode != 0:
        sys.exit("bench_collector: could not install wrk, nginx-light, prometheus-pushgateway")


def wrk(url, lua, env, duration=DURATION, threads=2, conns=32):
    e = dict(os.environ, **env)
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency", url]
    if lua:
        args[1:1] = ["-s", lua]
    out = subprocess.run(args, capture_output=True, text=True, env=e,
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "requests": total,
            "non2xx": int(bad.group(1)) if bad else 0,
            "errors": errors.group(1) if errors else "", "raw": out}


def wait_port(addr, port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((addr, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d" % (addr, port))


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def bench_collector(tmp, lua, template):
    c = Collector(tmp, port=8479)
    c.start()
    try:
        r = wrk("http://127.0.4.1:8479/api/v1/status", lua,
                {"FC_TEMPLATE": template, "FC_TYPE": "application/json",
                 "FC_PATH": "/api/v1/status"})
        stored = c.rows("SELECT count(*) FROM reports")[0][0]
        hosts = c.rows("SELECT count(*) FROM latest")[0][0]
        commits = re.search(r"commits_total (\d+)",
                            c.request("GET", "/metrics")[1].decode()).group(1)
        r.update(stored=stored, hosts=hosts, per_commit=stored / max(1, int(commits)))
        cold = wrk("http://127.0.4.1:8479/api/v1/fleet", None, {}, duration=5, threads=1, conns=1)
    finally:
        c.stop()
    # the same database, with the default fleet_cache_ms (1000)
    with open(c.conf) as f:
        conf = f.read().replace("fleet_cache_ms = 0\n", "")
    with open(c.conf, "w") as f:
        f.write(conf)
    c.start()
    try:
        cached = wrk("http://127.0.4.1:8479/api/v1/fleet", None, {}, duration=5, threads=1,
                     conns=1)
        body = c.request("GET", "/api/v1/fleet")[1]
    finally:
        c.stop()
    return r, cold, cached, body


def bench_pushgateway(tmp, lua):
    template = os.path.join(tmp, "push.txt")
    with open(template, "w") as f:
        f.write(PUSH_TEMPLATE)
    log = open(os.path.join(tmp, "pushgateway.log"), "w")
    p = subprocess.Popen(["prometheus-pushgateway", "--web.listen-address=127.0.4.2:9091"],
                         stdout=log, stderr=log)
    try:
        wait_port("127.0.4.2", 9091)
        return wrk("http://127.0.4.2:9091", lua,
                   {"FC_TEMPLATE": template, "FC_TYPE": "text/plain; version=0.0.4",
                    "FC_PATH": "/metrics/job/fleetclock/instance/@HOST@"})
    finally:
        stop(p)
        log.close()


def bench_nginx(tmp, lua, template, fleet_body):
    """nginx answering 204 to the POSTs (the loopback ceiling), then serving the
    collector's fleet document as a static file to the same GET load (the
    ceiling of sending that many bytes on this machine)."""
    d = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(d, "static", "api", "v1"))
    with open(os.path.join(d, "static", "api", "v1", "fleet"), "wb") as f:
        f.write(fleet_body)
    # nginx's workers run as nobody: the static file must be readable on its whole path.
    os.chmod(tmp, 0o755)
    for sub in ("", "static", "static/api", "static/api/v1"):
        os.chmod(os.path.join(d, sub), 0o755)
    os.chmod(os.path.join(d, "static", "api", "v1", "fleet"), 0o644)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d))
    p = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d, "-e",
                          os.path.join(d, "nginx-error.log"), "-g", "daemon off;"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.4.3", 8480)
        post = wrk("http://127.0.4.3:8480/api/v1/status", lua,
                   {"FC_TEMPLATE": template, "FC_TYPE": "application/json",
                    "FC_PATH": "/api/v1/status"})
        static = wrk("http://127.0.4.3:8480/api/v1/fleet", None, {}, duration=5, threads=1,
                     conns=1)
        if static["non2xx"] or static["errors"]:
            sys.exit("bench_collector: nginx did not serve the fleet document: %s"
                     % static["raw"][-600:])
        return post, static
    finally:
        stop(p)


def cpu_rss(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    anon = int(re.search(r"RssAnon:\s+(\d+)", status).group(1))
    with open("/proc/%d/smaps_rollup" % pid) as f:
        pss = int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
    return ticks / os.sysconf("SC_CLK_TCK"), (rss, anon, pss)


def smaps_by_file(pid):
    """Per mapped file (basename) or anonymous area ([heap], [stack], [anon]):
    {"rss", "pss", "anon"} in kB, summed over its mappings."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$", line)
            if m:
                name = m.group(1).rsplit("/", 1)[-1] or "[anon]"
                cur = out.setdefault(name, {"rss": 0, "pss": 0, "anon": 0})
                continue
            k = line.split(":", 1)[0]
            if k in ("Rss", "Pss", "Anonymous"):
                cur[{"Rss": "rss", "Pss": "pss", "Anonymous": "anon"}[k]] += int(line.split()[1])
    return out


def linked_libraries(path):
    """Basenames of what the dynamic linker loads for path (ldd), the binary too."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    names = {os.path.basename(path)}
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        names.add(os.path.basename(name))
    return names


def breakdown(by_file, own):
    """Group a smaps_by_file() result: the program and its linked libraries
    (own), anonymous memory, and everything dlopen'ed (libcurl and its tree,
    libcrypto for the election's HMAC)."""
    groups = {"own": [0, 0], "anon": [0, 0], "dlopen": [0, 0]}
    for name, v in by_file.items():
        g = "anon" if name.startswith("[") and name not in ("[vdso]", "[vvar]") else \
            "own" if name in own or name.startswith("[") else "dlopen"
        groups[g][0] += v["rss"]
        groups[g][1] += v["pss"]
    return groups


def bench_agent(tmp, seconds=20):
    """The daemon at a 1 s interval, reporting to a collector, chronyd beside
    it; then push_floor (push.c alone, posting the same way) for 8 s."""
    c = Collector(tmp, port=8481, addr=NET + ".1", extra="")
    c.start()
    try:
        with ChronyInstance("bench-agent-srv", NET + ".40", local_stratum=8) as srv:
            srv.wait_ready()
            url = "http://%s.1:8481/api/v1/status" % NET
            conf = os.path.join(tmp, "agent.conf")
            with open(conf, "w") as f:
                f.write("[chrony]\nsocket = %s\n[agent]\nhost = bench-agent\n[collector]\n"
                        "url = %s\ntoken = t0ken\n"
                        "interval_s = 1\nspool_dir = %s/spool\n" % (srv.socket, url, tmp))
            os.chmod(conf, 0o600)
            doc = os.path.join(tmp, "floor.json")
            with open(doc, "w") as f:
                json.dump(make_doc("bench-floor", pad_sources=2), f)
            p = subprocess.Popen([AGENT, "-c", conf, "--daemon"])
            try:
                time.sleep(3)                       # past start-up (dlopen, first POST)
                chronyd_pid = int(open(os.path.join(srv.dir, "chronyd.pid")).read())
                a0, _ = cpu_rss(p.pid)
                c0, _ = cpu_rss(chronyd_pid)
                t0 = time.monotonic()
                time.sleep(seconds)
                a1, arss = cpu_rss(p.pid)
                c1, crss = cpu_rss(chronyd_pid)
                dt = time.monotonic() - t0
                amap = smaps_by_file(p.pid)
            finally:
                stop(p)
            # then the floor alone (not beside the agent: PSS would split
            # the pages they share), as long as the agent's start-up
            floor = subprocess.Popen([PUSH_FLOOR, url, "t0ken", doc, "60"],
                                     stdout=subprocess.PIPE, text=True)
            try:
                time.sleep(3)
                f0, _ = cpu_rss(floor.pid)
                time.sleep(5)
                f1, frss = cpu_rss(floor.pid)
                fmap = smaps_by_file(floor.pid)
            finally:
                stop(floor)
            floor_posts = floor.stdout.read().split()
        reports = c.rows("SELECT count(*) FROM reports WHERE host = 'bench-agent'")[0][0]
    finally:
        c.stop()
    return {"cpu_pct": 100 * (a1 - a0) / dt, "rss_kb": arss[0], "anon_kb": arss[1],
            "pss_kb": arss[2], "chronyd_cpu_pct": 100 * (c1 - c0) / dt,
            "chronyd_rss_kb": crss[0], "reports": reports, "seconds": dt,
            "floor_rss_kb": frss[0], "floor_anon_kb": frss[1], "floor_pss_kb": frss[2],
            "floor_cpu_pct": 100 * (f1 - f0) / 5,
            "floor_ok": floor_posts.count("204") + floor_posts.count("200"),
            "groups": breakdown(amap, linked_libraries(AGENT)),
            "floor_groups": breakdown(fmap, linked_libraries(PUSH_FLOOR)), "by_file": amap}


def print_agent(agent):
    print("\nagent --daemon at 1 s for %.0f s (%d reports): RSS %.1f MB (anonymous %.1f MB, "
          "PSS %.1f MB: the rest is shared pages of libcurl and its dependencies), "
          "CPU %.2f %% of a core; "
          "chronyd beside it: RSS %.1f MB, CPU %.2f %%; agent/chronyd RSS %.2f; "
          "targets RSS < 8 MB: %s, CPU < 1 %%: %s"
          % (agent["seconds"], agent["reports"], agent["rss_kb"] / 1024, agent["anon_kb"] / 1024,
             agent["pss_kb"] / 1024, agent["cpu_pct"],
             agent["chronyd_rss_kb"] / 1024, agent["chronyd_cpu_pct"],
             agent["rss_kb"] / max(1, agent["chronyd_rss_kb"]),
             "met" if agent["rss_kb"] < 8192 else "NOT met",
             "met" if agent["cpu_pct"] < 1 else "NOT met"))
    print("push_floor after it (push.c alone, same libcurl, same document, %d POSTs "
          "acknowledged): RSS %.1f MB (anonymous %.1f MB, PSS %.1f MB), CPU %.2f %%; "
          "agent - floor: RSS %+.1f MB"
          % (agent["floor_ok"], agent["floor_rss_kb"] / 1024, agent["floor_anon_kb"] / 1024,
             agent["floor_pss_kb"] / 1024, agent["floor_cpu_pct"],
             (agent["rss_kb"] - agent["floor_rss_kb"]) / 1024))
    print("%-44s %9s %9s %9s %9s" % ("RSS by origin, MB (a library's relocated", "agent",
                                     "", "floor", ""))
    print("%-44s %9s %9s %9s %9s" % ("pages count with it)", "RSS", "PSS", "RSS", "PSS"))
    for key, what in (("own", "program + linked libs (libc, libm, jansson..)"),
                      ("dlopen", "dlopen'ed: libcurl and its dependency tree"),
                      ("anon", "heap, stacks, anonymous mappings")):
        a, f = agent["groups"][key], agent["floor_groups"][key]
        print("%-44s %9.2f %9.2f %9.2f %9.2f" % (what, a[0] / 1024, a[1] / 1024, f[0] / 1024,
                                                 f[1] / 1024))
    print("agent, largest mappings (kB): " + ", ".join(
        "%s %d/%d" % (n, v["rss"], v["pss"]) for n, v in sorted(
            agent["by_file"].items(), key=lambda x: -x[1]["rss"])[:14]))


def main_agent_only():
    tmp = tempfile.mkdtemp(prefix="fc-bench-agent-")
    try:
        agent = bench_agent(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_agent(agent)


def main():
    if sys.argv[1:] == ["--agent-only"]:
        return main_agent_only()
    ensure_packages()
    load0 = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="fc-bench-collector-")
    try:
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(POST_LUA)
        doc = make_doc("@HOST@", pad_sources=2)
        doc["sent_at"] = "@SENT@"
        template = os.path.join(tmp, "doc.json")
        with open(template, "w") as f:
            f.write(json.dumps(doc))
        size = os.path.getsize(template)
        print("collector benchmark: wrk -t2 -c32 -d%ds, %d-byte documents, %d hosts, loopback"
              % (DURATION, size, HOSTS))
        col, cold, cached, fleet_body = bench_collector(os.path.join(tmp, "c"), lua, template) \
            if os.makedirs(os.path.join(tmp, "c")) is None else None
        pgw = bench_pushgateway(tmp, lua)
        ngx, ngx_fleet = bench_nginx(tmp, lua, template, fleet_body)
        agent = bench_agent(os.path.join(tmp, "a")) if os.makedirs(os.path.join(tmp, "a")) is None \
            else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("machine load average before/after: %.2f / %.2f on %d cores (other work on the "
          "machine skews every figure)" % (load0, os.getloadavg()[0], os.cpu_count()))
    print("\n%-34s %12s %10s %10s" % ("POST /api/v1/status", "reports/s", "p99 ms", "non-2xx"))
    for name, r in (("fleetclock-collector (durable)", col), ("prometheus-pushgateway", pgw),
                    ("nginx return 204 (ceiling)", ngx)):
        print("%-34s %12.0f %10.2f %10d" % (name, r["rps"], r["p99_ms"], r["non2xx"]))
    print("collector: %d reports stored for %d requests (%d hosts), %.1f reports per commit"
          % (col["stored"], col["requests"], col["hosts"], col["per_commit"]))
    print("ratios: collector/pushgateway %.1fx, collector/nginx %.3f (1/%.1f)"
          % (col["rps"] / pgw["rps"], col["rps"] / ngx["rps"], ngx["rps"] / col["rps"]))
    print("targets: >= 20000/s: %s; p99 < 20 ms: %s; >= 1/8 of nginx: %s"
          % ("met" if col["rps"] >= 20000 else "NOT met",
             "met" if col["p99_ms"] < 20 else "NOT met",
             "met" if col["rps"] >= ngx["rps"] / 8 else "NOT met"))
    print("\nGET /api/v1/fleet, %d hosts, %.1f MB: fleet_cache_ms=0 (rendered every time, hosts "
          "re-rendered only after a new report) p99 %.1f ms (%.0f/s); fleet_cache_ms=1000 "
          "p99 %.2f ms (%.0f/s); target p99 < 50 ms: %s"
          % (col["hosts"], len(fleet_body) / 1e6, cold["p99_ms"], cold["rps"], cached["p99_ms"],
             cached["rps"], "met" if cold["p99_ms"] < 50 else
             "met only with the cache" if cached["p99_ms"] < 50 else "NOT met"))
    print("the same document from nginx as a static file (sendfile, same wrk load): p99 %.2f ms "
          "(%.0f/s); collector p99 / nginx p99: %.1f rendered, %.1f cached"
          % (ngx_fleet["p99_ms"], ngx_fleet["rps"], cold["p99_ms"] / ngx_fleet["p99_ms"],
             cached["p99_ms"] / ngx_fleet["p99_ms"]))
    print_agent(agent)


if __name__ == "__main__":
    main()
