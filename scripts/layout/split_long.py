#!/usr/bin/env python3
"""split_long.py - split the product files over ~600 lines by concern (issue 18).

Re-runnable: run from the top of a tree after moves.sh (and split_election.py);
a split whose new file exists already is skipped. Each split moves the named
functions (and the static helpers only they use) from SRC to NEW; the types
and macros both sides use, and the static functions called across, go to a
private header PRIV (the shared functions get PREFIX); both files include it.
A function added upstream that is not named stays in SRC. Then add NEW to its
meson.build list (done here) and build.
"""
import os
import re
import sys
import textwrap

SPLITS = [
    dict(src='common/chrony/chrony_client.c', new='common/chrony/chrony_requests.c',
         priv='common/chrony/chrony_client_priv.h', prefix='cc_', meson='common/meson.build',
         new_doc='the typed requests (tracking, sources, write commands) and the '
                 'pipelined snapshot, over chrony_client.c\'s transport',
         funcs='''chrony_client_tracking chrony_client_n_sources chrony_client_source_data
                  chrony_client_sourcestats chrony_client_source_name chrony_client_ntp_data
                  chrony_client_activity chrony_client_makestep chrony_client_reset_sources
                  chrony_client_modify_makestep chrony_client_dfreq chrony_client_doffset
                  chrony_client_local chrony_client_set_online chrony_client_burst
                  chrony_client_snapshot'''),
    dict(src='collector/store.c', new='collector/store_latest.c',
         priv='collector/store_priv.h', prefix='store_priv_', meson='collector/meson.build',
         new_doc='the store\'s reads: the in-memory latest report per host (loaded at '
                 'open, updated after each committed batch), history, statistics',
         funcs='''latest_of latest_find latest_put latest_apply latest_free latest_load
                  store_latest_all store_history store_get_stats'''),
    dict(src='collector/http.c', new='collector/http_routes.c',
         priv='collector/http_priv.h', prefix='http_priv_', meson='collector/meson.build',
         new_doc='the routes: GET /api/v1/fleet, /metrics, the history and the dashboard, '
                 'and POST /api/v1/status up to the store',
         funcs='''params_now fleet_cached respond_fleet get_fleet_or_metrics time_arg
                  get_history get_route warm_fleet_view report_done answer_stored
                  post_complete post_data parse_in_arena'''),
    dict(src='agent/actions/action_at.c', new='agent/actions/action_at_arm.c',
         priv='agent/actions/action_at_priv.h', prefix='action_at_', meson='agent/meson.build',
         new_doc='both ends of the gate\'s pipe (docs/start.md): --at TIME --arm starts '
                 'CMD early and follows its "ready" and "go"; --wait-until tells the arming '
                 'agent',
         funcs='''parse_lead arm_environment forward_signal forward_signals spawn_armed
                  arm_read arm_wait_target arm_read_until said_ready said_go arm_after_target
                  refresh_armed run_armed tell_arming_agent agent_action_wait_until'''),
    # files the feature merges (fauth, frel, fprom, fstart) pushed over 600
    # lines, split when the layout was re-applied on them (branch wings2)
    dict(src='common/report/status.c', new='common/report/status_info.c',
         priv='common/report/status_info_priv.h', prefix='status_', meson='common/meson.build',
         new_doc='reading a valid document into struct status_info (what the collector '
                 'indexes: max error, the selected source, the metrics fields)',
         funcs='''status_max_error fill_selected fill_info status_info_spread_node'''),
    dict(src='collector/views.c', new='collector/views_metrics.c',
         priv='collector/views_priv.h', prefix='views_priv_', meson='collector/meson.build',
         new_doc='the Prometheus text exposition of /metrics (views_metrics): the '
                 'per-host families and the ingest counters',
         funcs='''views_metrics family per_host get_offset get_bound get_stratum get_leap
                  get_synced get_rtc get_age get_skew ingest_counters'''),
]


def strip_code(line, state):
    """The line without comments, strings and char literals; state: in a
    block comment."""
    out, i = [], 0
    while i < len(line):
        if state[0]:
            j = line.find('*/', i)
            if j < 0:
                return ''.join(out)
            state[0] = False
            i = j + 2
            continue
        c = line[i]
        if line.startswith('/*', i):
            state[0] = True
            i += 2
        elif line.startswith('//', i):
            break
        elif c in '"\'':
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == '\\' else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def chunks_of(body):
    """Top-level items with their leading comments."""
    items, cur, depth, state = [], [], 0, [False]
    for ln in body.split('\n'):
        code = strip_code(ln, state)
        cur.append(ln)
        depth += code.count('{') - code.count('}')
        if depth == 0 and not state[0] and code.strip() \
                and (code.rstrip().endswith((';', '}')) or code.startswith('#')) \
                and not code.rstrip().endswith('\\'):
            items.append('\n'.join(cur).strip('\n'))
            cur = []
    rest = '\n'.join(cur).strip('\n')
    if rest:
        items.append(rest)
    return items


def code_lines(chunk):
    state = [False]
    return [strip_code(ln, state) for ln in chunk.split('\n')]


def classify(chunk):
    """(kind, name): func, proto, type, macro, var or other."""
    lines = [l for l in code_lines(chunk) if l.strip()]
    if not lines:
        return 'other', None
    first = lines[0]
    if first.startswith('#'):
        m = re.match(r'#\s*define\s+(\w+)', first)
        return 'macro', m.group(1) if m else None
    m = re.match(r'^(struct|enum|union)\s+(\w+)\s*\{', first)
    if m:
        return 'type', m.group(2)
    text = ' '.join(lines)
    m = re.match(r'^[^=({]*?\b(\w+)\s*\(', text)
    if m and text.rstrip().endswith('}') and '{' in text:
        return 'func', m.group(1)
    if m and text.rstrip().endswith(');'):
        return 'proto', m.group(1)
    m = re.match(r'^[^(]*?\b(\w+)\s*(\[[^\]]*\])*\s*(=|;)', text)
    if m:
        return 'var', m.group(1)
    return 'other', None


def uses(chunk, name):
    return re.search(r'\b%s\b' % re.escape(name), '\n'.join(code_lines(chunk))) is not None


def split(cfg, root):
    src, new, priv = (os.path.join(root, cfg[k]) for k in ('src', 'new', 'priv'))
    if os.path.exists(new):
        print('split_long: %s exists: skipped' % cfg['new'])
        return
    text = open(src).read()
    inc = list(re.finditer(r'^#include .*$', text, re.M))
    head_end = inc[-1].end() + 1
    head, body = text[:head_end], text[head_end:]
    items = [(classify(c), c) for c in chunks_of(body)]
    funcs = {n: c for (k, n), c in items if k == 'func'}
    static = {n for n, c in funcs.items() if re.match(r'^static\b', c.split('\n')[
        next(i for i, l in enumerate(code_lines(c)) if l.strip())])}
    moved = set(cfg['funcs'].split())
    unknown = moved - set(funcs)
    if unknown:
        sys.exit('split_long: %s has no %s' % (cfg['src'], ', '.join(sorted(unknown))))
    # static helpers used only by moved functions follow them
    changed = True
    while changed:
        changed = False
        for n in static - moved:
            users = [m for m, c in funcs.items() if m != n and uses(c, n)]
            if users and all(u in moved for u in users):
                moved.add(n)
                changed = True
    shared = set()
    for n in static:
        side = n in moved
        if any(uses(c, n) for m, c in funcs.items() if m != n and (m in moved) != side):
            shared.add(n)
    keep_items, new_items, priv_items = [], [], []
    place = {}
    for (kind, name), c in items:
        if kind == 'func':
            place[id(c)] = 'new' if name in moved else 'keep'
        elif kind == 'proto':
            if name not in shared:
                place[id(c)] = 'new' if name in moved else 'keep'
        else:
            in_new = any(uses(c2, name) for m, c2 in funcs.items() if m in moved) if name else False
            in_old = any(uses(c2, name) for m, c2 in funcs.items() if m not in moved) if name else True
            if kind == 'var' and in_new and in_old:
                sys.exit('split_long: %s: static variable %s is used on both sides' % (cfg['src'], name))
            place[id(c)] = 'priv' if in_new and in_old else 'new' if in_new else 'keep'
    # a type or macro a shared one uses is shared too
    changed = True
    while changed:
        changed = False
        for (kind, name), c in items:
            if name and place.get(id(c)) in ('new', 'keep') and kind in ('type', 'macro') and \
                    any(place.get(id(c2)) == 'priv' and uses(c2, name) for _, c2 in items):
                place[id(c)] = 'priv'
                changed = True
    for (kind, name), c in items:
        if id(c) in place:
            {'priv': priv_items, 'new': new_items, 'keep': keep_items}[place[id(c)]].append((name, c))
    prefix = cfg['prefix']

    def rename(c):
        for n in shared:
            c = re.sub(r'(?<![\w.>])%s(?=\s*\()' % n, prefix + n, c)
        return c

    def unstatic(name, c):
        if name in shared:
            c = re.sub(r'^static (inline )?', '', c, count=1, flags=re.M)
        return c

    def proto(c):
        lines = c.split('\n')
        i = next(i for i, l in enumerate(code_lines(c)) if l.strip() and not l.startswith('#'))
        j = i
        while not lines[j].rstrip().endswith(')'):
            j += 1
        return '\n'.join(lines[:j + 1]) + ';'

    given = {n: c for (k, n), c in items if k == 'proto' and n in shared}
    protos = [rename(unstatic(n, given[n])) if n in given else proto(rename(unstatic(n, c)))
              for n, c in keep_items + new_items
              if n in shared and funcs.get(n) is not None and c == funcs[n]]
    guard = 'FLEETCLOCK_' + re.sub(r'\W', '_', os.path.basename(cfg['priv'])).upper()
    own = inc[0].group(0)
    sys_inc = '\n'.join(m.group(0) for m in inc[1:])
    base = os.path.basename(cfg['src'])
    protos = [p.replace(') __attribute__', ')\n\t__attribute__') if len(p.split('\n')[-1]) > 99
              else p for p in protos]
    priv_text = ('/* %s - private to %s and %s:\n * what both use. */\n'
                 '#ifndef %s\n#define %s\n\n%s\n%s\n\n%s\n\n%s\n\n#endif\n'
                 % (os.path.basename(cfg['priv']), base, os.path.basename(cfg['new']), guard,
                    guard, own, sys_inc, '\n\n'.join(c for n, c in priv_items),
                    '\n\n'.join(protos)))
    rel_priv = cfg['priv'].split('/', 1)[1] if cfg['priv'].startswith(('common/', 'agent/')) \
        else os.path.basename(cfg['priv'])
    priv_inc = '#include "%s"\n' % rel_priv
    old_text = head.rstrip('\n') + '\n' + priv_inc + '\n' + \
        '\n\n'.join(rename(unstatic(n, c)) for n, c in keep_items) + '\n'
    doc = textwrap.wrap('%s - %s. Split from %s, which keeps the rest; %s holds what '
                        'both use. */' % (os.path.basename(cfg['new']), cfg['new_doc'], base,
                                          os.path.basename(cfg['priv'])), 73)
    new_text = ('/* ' + '\n * '.join(doc) + '\n'
                + priv_inc + '\n' + sys_inc + '\n\n'
                + '\n\n'.join(rename(unstatic(n, c)) for n, c in new_items) + '\n')
    open(priv, 'w').write(re.sub(r'\n{3,}', '\n\n', priv_text))
    open(src, 'w').write(re.sub(r'\n{3,}', '\n\n', old_text))
    open(new, 'w').write(re.sub(r'\n{3,}', '\n\n', new_text))
    mb = os.path.join(root, cfg['meson'])
    m = open(mb).read()
    src_entry = os.path.relpath(src, os.path.dirname(mb))
    new_entry = os.path.relpath(new, os.path.dirname(mb))
    m = m.replace("  '%s',\n" % src_entry, "  '%s',\n  '%s',\n" % (src_entry, new_entry), 1)
    open(mb, 'w').write(m)
    print('split_long: %s: %d functions to %s, %d shared (%s)' % (
        cfg['src'], len([1 for n, c in new_items if n in funcs]), cfg['new'], len(shared),
        ', '.join(sorted(prefix + n for n in shared))))


def main():
    root = os.getcwd()
    only = sys.argv[1:]
    for cfg in SPLITS:
        if cfg['funcs'] and (not only or cfg['src'] in only):
            split(cfg, root)


if __name__ == '__main__':
    main()
