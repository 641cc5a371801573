#!/usr/bin/env python3
"""The layout's two rules (issue 18, docs/architecture.md), checked over the sources:

1. No pure core includes an I/O header. A pure core is a module listed in
   PURE (its .c and .h); it may include only system headers that do no I/O
   of their own (not sockets, files, devices, threads, dlopen) and headers
   of other pure cores or of NEUTRAL modules. A module listed in IO is named
   as such in the message. A header that is in no list is refused too: a
   new module says which it is by being added here.
2. The collector never compiles against chronyd's client: no file in
   collector/ includes chrony/chrony_client.h, directly or through others.
3. No product file (common/, agent/, collector/, gate/) is over MAX_LINES
   lines, except the few in LONG, which may not grow past their ceiling.

Run by meson (suite unit, test 'check_includes'); prints every violation
and exits 1, or exits 0. Usage: check_includes.py [SOURCE_ROOT]
"""
import os
import re
import sys

# Modules by path under their include root (common/ or agent/), no extension.
PURE = {
    'chrony/chrony_wire', 'chrony/chrony_report', 'chrony/readiness',
    'report/status', 'report/status_election', 'report/status_fields',
    'report/status_info', 'report/status_info_priv',
    'report/fleet_summary', 'report/json_fast',
    'chrony/ntp_auth', 'report/spread_bound', 'report/status_metrics', 'report/start_record',
    'report/start_recover',
    'rtc/ds1307_codec', 'rtc/drift',
    'time/timeutil', 'time/when',
    'election/bmca', 'election/announce', 'election/election', 'election/holdover_freq',
    'actions/arm_msg',
}
# Neither pure nor I/O: function tables without files, sockets or devices.
NEUTRAL = {
    'election/crypto_dl',	# libcrypto's hashes, dlopen'ed on first use
    'fleetclock_config',	# generated: version and build date
}
# Modules that talk to the world: sockets, files, devices, clocks, threads.
IO = {
    'base/config', 'base/log',
    'chrony/chrony_client', 'chrony/ntp_auth_query',
    'rtc/rtc', 'rtc/rtc_ds1307', 'rtc/rtc_linux', 'rtc/rtc_sync',
    'time/precise_wait',
    'election/announce_sock', 'election/announce_key', 'election/ntp_query',
    'election/agent_election', 'election/election_priv', 'election/election_config',
    'rtc/agent_rtc', 'rtc/daemon_rtc', 'rtc/rtc_discipline', 'rtc/rtc_store',
    'report/push', 'report/spool', 'report/start_send', 'report/start_spool_clean',
    'actions/check_fix', 'actions/collector_probe',
    'agent', 'agent_config', 'selected_source',
}
# System headers a pure core may not include.
IO_SYSTEM = re.compile(r'^(sys/(socket|ioctl|stat|mman|timerfd|epoll|timex)\.h|netinet/.*|'
                       r'linux/.*|i2c/.*|curl/.*|microhttpd\.h|sqlite3\.h|fcntl\.h|unistd\.h|'
                       r'dlfcn\.h|poll\.h|pthread\.h|systemd/.*|openssl/.*)$')

MAX_LINES = 600
# Files allowed over MAX_LINES, each with the ceiling it may not pass (none
# since the splits of issue 18: split a file by concern instead).
LONG = {}
PRODUCT_DIRS = ('common', 'agent', 'collector', 'gate')
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_of(path):
    """'common/chrony/chrony_report.c' -> 'chrony/chrony_report'."""
    rel = path.split('/', 1)[1] if '/' in path else path
    return os.path.splitext(rel)[0]


def sources(root):
    for d in PRODUCT_DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    full = os.path.join(dirpath, f)
                    yield os.path.relpath(full, root), full


def check_pure(rel, text):
    bad = []
    for kind, inc in INCLUDE.findall(text):
        if kind == '<':
            if IO_SYSTEM.match(inc):
                bad.append('%s: pure core includes <%s> (I/O)' % (rel, inc))
            continue
        mod = os.path.splitext(inc)[0]
        if mod in PURE or mod in NEUTRAL:
            continue
        if mod in IO:
            bad.append('%s: pure core includes the I/O header "%s"' % (rel, inc))
        else:
            bad.append('%s: includes "%s", which tests/check_includes.py does not classify '
                       '(add it to PURE, NEUTRAL or IO)' % (rel, inc))
    return bad


def resolve(root, rel, inc):
    """The project file an #include "inc" in rel names, or None (system)."""
    for base in (os.path.dirname(rel), 'common', 'agent'):
        cand = os.path.normpath(os.path.join(base, inc))
        if os.path.exists(os.path.join(root, cand)):
            return cand
    return None


def closure(root, rel, seen=None):
    """Every project header rel includes, directly or not."""
    seen = set() if seen is None else seen
    with open(os.path.join(root, rel), encoding='utf-8') as f:
        text = f.read()
    for kind, inc in INCLUDE.findall(text):
        hdr = resolve(root, rel, inc) if kind == '"' else None
        if hdr and hdr not in seen:
            seen.add(hdr)
            closure(root, hdr, seen)
    return seen


def check_collector(root, rel):
    if 'common/chrony/chrony_client.h' in closure(root, rel):
        return ['%s: the collector compiles against chronyd\'s client (chrony/chrony_client.h); '
                'use chrony/chrony_report.h' % rel]
    return []


def check_length(rel, text):
    n = text.count('\n')
    limit = LONG.get(rel, MAX_LINES)
    if n > limit:
        return ['%s: %d lines, over %d (split it by concern; docs/architecture.md)'
                % (rel, n, limit)]
    return []


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
    bad, n_pure, n_files = [], 0, 0
    for rel, full in sources(root):
        with open(full, encoding='utf-8') as f:
            text = f.read()
        n_files += 1
        if rel.startswith(('common/', 'agent/')) and module_of(rel) in PURE:
            n_pure += 1
            bad += check_pure(rel, text)
        if rel.startswith('collector/'):
            bad += check_collector(root, rel)
        bad += check_length(rel, text)
    missing = [m for m in sorted(PURE) if not any(
        os.path.exists(os.path.join(root, d, m + ext)) for d in ('common', 'agent')
        for ext in ('.c', '.h'))]
    bad += ['tests/check_includes.py: PURE lists %s, which does not exist' % m for m in missing]
    for line in bad:
        print(line)
    print('check_includes: %d files, %d of them pure cores: %s'
          % (n_files, n_pure, 'FAIL (%d)' % len(bad) if bad else 'ok'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
