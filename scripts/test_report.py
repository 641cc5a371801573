#!/usr/bin/env python3
"""test_report.py - scripts/test's bookkeeping, apart from running anything.

  test_report.py count SKIPS TESTLOG.json...
      print "passed failed skipped" for meson's test logs; append to the
      file SKIPS one line per skipped test file (its reason), per test file
      that passed with some tests skipped (each skipped test and why), and
      per file failed by a skip under FLEETCLOCK_NO_SKIP.
  test_report.py coverage GCOVR_SUMMARY.json
      print gcovr's line coverage summed per top directory (agent/,
      collector/, common/, gate/) and in total.
"""

import json
import sys

PASSED = ("OK", "EXPECTEDFAIL")
SKIPPED = ("SKIP",)


def skip_lines(out):
    """The lines in which a test file says what it skipped and why: fctest's
    'SKIP: reason' (the whole file) and 'SKIPPED test: reason' (one test)."""
    return [l.strip() for l in out.splitlines() if ": SKIP: " in l or ": SKIPPED " in l
            or l.startswith("SKIP: ")]


def strict_skip_lines(out):
    """fctest's lines for a skip turned into a failure (FLEETCLOCK_NO_SKIP)."""
    return [l.strip() for l in out.splitlines() if "where every test must run" in l]


def classify(record):
    """(kind, detail lines) of one testlog record: kind 'passed', 'failed'
    or 'skipped'; detail: what was skipped, also inside a passed file, and
    the skips that failed a file under FLEETCLOCK_NO_SKIP."""
    result = record.get("result")
    out = (record.get("stdout") or "") + "\n" + (record.get("stderr") or "")
    if result in PASSED:
        return "passed", skip_lines(out)
    if result in SKIPPED:
        return "skipped", skip_lines(out) or ["(no reason printed)"]
    return "failed", strict_skip_lines(out)


def count(skips_path, logs):
    n = {"passed": 0, "failed": 0, "skipped": 0}
    notes = []
    for path in logs:
        try:
            f = open(path)
        except FileNotFoundError:
            continue
        with f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                kind, detail = classify(rec)
                n[kind] += 1
                if detail:
                    head = {"skipped": "skipped", "passed": "partly skipped (counted as passed)",
                            "failed": "failed: skipped where every test must run"}[kind]
                    notes.append("  %s: %s" % (rec.get("name", "?"), head))
                    notes += ["    " + d for d in detail]
    with open(skips_path, "a") as f:
        f.writelines(l + "\n" for l in notes)
    print(n["passed"], n["failed"], n["skipped"])


def per_directory(files):
    """{top directory: [covered, total]} from gcovr's per-file summaries."""
    dirs = {}
    for f in files:
        top = f["filename"].split("/")[0] + "/"
        d = dirs.setdefault(top, [0, 0])
        d[0] += f["line_covered"]
        d[1] += f["line_total"]
    return dirs


def pct(covered, total):
    return "%5.1f %%" % (100.0 * covered / total) if total else "    - "


def coverage(summary_path):
    with open(summary_path) as f:
        files = json.load(f)["files"]
    dirs = per_directory(files)
    print("line coverage of the unit + integration tests (gcovr):")
    print("  %-12s %8s %8s %8s" % ("directory", "lines", "covered", ""))
    tc = tt = 0
    for name in sorted(dirs):
        c, t = dirs[name]
        tc, tt = tc + c, tt + t
        print("  %-12s %8d %8d  %s" % (name, t, c, pct(c, t)))
    print("  %-12s %8d %8d  %s" % ("total", tt, tc, pct(tc, tt)))


def main(argv):
    if len(argv) >= 3 and argv[1] == "count":
        count(argv[2], argv[3:])
    elif len(argv) == 3 and argv[1] == "coverage":
        coverage(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
