#!/usr/bin/env python3
"""fleet_starts.py URL [ID] - the start records of one experiment (the last
one when ID is empty) from the collector's /api/v1/starts, as an aligned
table; run as `scripts/fleet-offsets --starts [ID] [URL]`.

Exit 0: every node started on time; 1: a node is late, failed or missing;
2: the collector cannot be read or has no such experiment."""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError) as e:
        sys.exit("fleet-offsets --starts: cannot read %s: %s" % (url, e))


def ms(v, sign=True):
    return "-" if v is None else ("%+.3f" if sign else "%.3f") % (v * 1e3)


def table(doc):
    rows = [("HOST", "ROLE", "OUTCOME", "ERROR ms", "BOUND ms", "SLACK s", "STEPS", "START")]
    for h in doc["hosts"]:
        rows.append((h["host"], h["role"] or "-", h["outcome"], ms(h["error_s"]),
                     ms(h["error_bound_s"], False),
                     "-" if h["slack_s"] is None else "%.3f" % h["slack_s"],
                     str(h["clock_steps"]), h["start"] or (h["reason"] or "-")[:60]))
    for m in doc["missing"]:
        rows.append((m, "-", "MISSING", "-", "-", "-", "-", "no start record"))
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5, 6}
    for r in rows:
        print("  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, width))).rstrip())


def main():
    base = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://localhost:8470"
    eid = sys.argv[2] if len(sys.argv) > 2 else ""
    if not eid:
        listing = get(base + "/api/v1/starts?limit=1")["experiments"]
        if not listing:
            print("fleet-offsets --starts: no start records yet at %s" % base, file=sys.stderr)
            sys.exit(2)
        eid = listing[0]["experiment"]
    doc = get(base + "/api/v1/starts?experiment=" + urllib.parse.quote(eid, safe=":+"))
    if not doc.get("hosts"):
        print("fleet-offsets --starts: no start records of experiment %s" % eid, file=sys.stderr)
        sys.exit(2)
    print("experiment %s, target %s" % (doc["experiment"], doc["target"]))
    table(doc)
    bad = len(doc["late"]) + len(doc["failed"]) + len(doc["missing"])
    print()
    print("%s: %d records, %d started on time; spread %s ms, spread bound %s ms; late: %s; "
          "failed: %s; missing: %s" % (
              "OK" if not bad else "NOT ALL ON TIME", doc["records"], doc["started"],
              ms(doc["spread_s"], False), ms(doc["spread_bound_s"], False),
              ", ".join(doc["late"]) or "none", ", ".join(doc["failed"]) or "none",
              ", ".join(doc["missing"]) or "none"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
