#!/usr/bin/env python3
"""Benchmark (issue 19): /metrics of one collector holding a large fleet.

Fills a real fleetclock-collector (127.0.53.3:8983) with --hosts hosts
(default 10,000; ~1.5 KB documents as the agents send, three of them master
candidates with an election section), then fetches /metrics with curl
--runs times (default 5), one after the other, and prints for each run the
body size and curl's time_total, then the median, the series count, the size
gzip-compressed (what a Prometheus asking for gzip would move, were the
collector to compress) and the series per host. With --prometheus SECONDS,
then a real Prometheus (127.0.53.3:8984, its own temporary storage, killed
at the end) scrapes the collector every 5 s for that long: its
scrape_duration_seconds and its own resident memory. Prints figures;
asserts nothing about timing (docs/monitoring.md quotes them).

    meson test -C build --benchmark metrics
    python3 tests/bench/bench_metrics.py --hosts 1000 --runs 3
"""
import argparse
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from collector_harness import Collector, election_view, make_doc  # noqa: E402

ADDR, PORT, PROM_PORT = "127.0.53.3", 8983, 8984


def doc_for(k):
    host = "bench-%05d" % k
    d = make_doc(host, pad_sources=3)
    if k < 3:
        d["role"] = "master" if k == 0 else "failover"
        d["election"] = election_view(
            d["host"], state="serving" if k == 0 else "following", serving=k == 0,
            self={"priority1": k + 1, "clock_class": 6, "priority2": 128},
            upstreams=[{"address": "127.0.53.200", "offline": False, "offset_s": 0.0}])
    return json.dumps(d)


def fill(hosts, threads=4):
    """POST one report per host over keep-alive connections."""
    errors = []

    def worker(ks):
        conn = http.client.HTTPConnection(ADDR, PORT, timeout=30)
        for k in ks:
            conn.request("POST", "/api/v1/status", doc_for(k),
                         {"Content-Type": "application/json",
                          "Authorization": "Bearer t0ken"})
            r = conn.getresponse()
            r.read()
            if r.status != 204:
                errors.append((k, r.status))
        conn.close()

    ts = [threading.Thread(target=worker, args=(range(t, hosts, threads),))
          for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit("POSTs failed: %s" % errors[:5])


def curl_metrics(out):
    p = subprocess.run(["curl", "-sS", "-o", out, "-w", "%{http_code} %{size_download} "
                        "%{time_starttransfer} %{time_total}",
                        "http://%s:%d/metrics" % (ADDR, PORT)],
                       capture_output=True, text=True, timeout=60, check=True)
    code, size, ttfb, total = p.stdout.split()
    assert code == "200", p.stdout
    return int(size), float(ttfb), float(total)


def prometheus_scrape(tmp, seconds):
    """scrape_duration_seconds of a real Prometheus scraping every 5 s."""
    conf = os.path.join(tmp, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n"
                "scrape_configs:\n  - job_name: fleetclock\n    static_configs:\n"
                "      - targets: ['%s:%d']\n" % (ADDR, PORT))
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    p = subprocess.Popen(["prometheus", "--config.file=" + conf, "--log.level=warn",
                          "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                          "--web.listen-address=%s:%d" % (ADDR, PROM_PORT)],
                         stdout=log, stderr=log, start_new_session=True)
    try:
        time.sleep(seconds)
        return (query('scrape_duration_seconds{job="fleetclock"}'),
                query('max_over_time(scrape_duration_seconds{job="fleetclock"}[10m])'),
                query('scrape_samples_scraped{job="fleetclock"}'),
                query('process_resident_memory_bytes{job="prometheus"}') or rss_of(p.pid))
    finally:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def query(expr):
    url = "http://%s:%d/api/v1/query?%s" % (ADDR, PROM_PORT,
                                            urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=10) as r:
        res = json.load(r)["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def rss_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prometheus", type=float, default=0, metavar="SECONDS")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fc-bench-metrics-") as tmp:
        with Collector(tmp, port=PORT, addr=ADDR, extra="stale_after_s = 600\n") as c:
            t0 = time.monotonic()
            fill(a.hosts)
            print("filled %d hosts in %.1f s" % (a.hosts, time.monotonic() - t0))
            body = os.path.join(tmp, "metrics.txt")
            runs = []
            for k in range(a.runs):
                size, ttfb, total = curl_metrics(body)
                runs.append(total)
                print("run %d: %d bytes, first byte %.1f ms, total %.1f ms"
                      % (k + 1, size, ttfb * 1e3, total * 1e3))
            with open(body, "rb") as f:
                text = f.read()
            series = sum(1 for line in text.split(b"\n") if line and not line.startswith(b"#"))
            gz = len(gzip.compress(text, 6))
            print("hosts %d: /metrics %.2f MB, %d series (%.1f per host), gzip %.2f MB; "
                  "curl total median %.1f ms (min %.1f, max %.1f) over %d runs"
                  % (a.hosts, len(text) / 1e6, series, series / a.hosts, gz / 1e6,
                     statistics.median(runs) * 1e3, min(runs) * 1e3, max(runs) * 1e3, a.runs))
            if a.prometheus:
                last, worst, samples, rss = prometheus_scrape(tmp, a.prometheus)
                print("prometheus (scrape every 5 s, %.0f s): scrape_duration_seconds last %.3f, "
                      "max %.3f; %s samples a scrape; its resident memory %.0f MB"
                      % (a.prometheus, last or -1, worst or -1, samples, (rss or 0) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
