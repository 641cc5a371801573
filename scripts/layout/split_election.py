#!/usr/bin/env python3
"""Split agent/election/agent_election.c by concern (issue 18).

Re-runnable on a newer agent_election.c: functions are assigned by name;
a function not in the table stays in agent_election.c (the node) and is
reported, so that a helper's new function is never lost."""
import re, sys, os

SRC = 'agent/election/agent_election.c'
if os.path.exists('agent/election/election_priv.h'):
    sys.exit('split_election: agent/election/election_priv.h exists: already split, skipped')
text = open(SRC).read()
lines = text.split('\n')

# top-level chunks: comment + definition, split at blank lines at column 0 boundaries
start = text.index('#define MAX_UPSTREAMS')
head = text[:start]
body = text[start:]

# split body into chunks separated by a line that is exactly "}" followed by blank line, or "};"
chunks = []
cur = []
for ln in body.split('\n'):
    cur.append(ln)
    if ln in ('}', '};'):
        chunks.append('\n'.join(cur).strip('\n'))
        cur = []
tail = '\n'.join(cur).strip('\n')
assert not tail.strip(), tail

def name_of(chunk):
    if chunk.startswith('#define MAX_UPSTREAMS') or 'struct upstream {' in chunk.split('\n')[0:3][-1] or chunk.lstrip().startswith('struct '):
        pass
    for ln in chunk.split('\n'):
        if ln.startswith((' ', '\t', '/*', ' *', '#')) or not ln:
            continue
        m = re.match(r'^(?:static\s+)?(?:inline\s+)?[\w\s\*]*?\b(\w+)\(', ln)
        if m:
            return m.group(1)
        m = re.match(r'^struct (\w+) \{', ln)
        if m:
            return 'struct ' + m.group(1)
    return None

CONTROL = '''set_online observe_freq apply_holdover watched burst_upstreams apply_local apply_sources
find_upstream quarantine_decide quarantine chronyd_forgot drop_quarantined_samples
sampled_since_restart reapply_if_forgotten'''.split()
REJOIN = 'stepped_since_measurement step_clock rejoin_step rejoin'.split()
VIEW = '''master_name write_state publish dataset_json candidates_json upstreams_json rejoin_json
agent_election_reference agent_election_json holdover_freq_json build_view'''.split()
PRIV = ['struct upstream', 'struct agent_election', 'now_clock', 'ipaddr4']
# shared across files: renamed with the ae_ prefix, declared in election_priv.h
SHARED = '''peer_ntp candidate_slot chrony_synced note_sync set_online observe_freq apply_local
apply_sources quarantine reapply_if_forgotten rejoin master_name publish'''.split()

out = {'node': [], 'control': [], 'rejoin': [], 'view': [], 'priv': []}
defines = []
fwd = []
for ch in chunks:
    # a leading "#define" or forward declarations glued to the chunk
    pre = []
    rest = ch.split('\n')
    while rest and (rest[0].startswith('#define') or re.match(r'^static [^(]*\w+\([^)]*\);$', rest[0]) or not rest[0].strip()):
        l = rest.pop(0)
        if l.startswith('#define'):
            defines.append(l)
        elif l.strip():
            fwd.append(l)	# a forward declaration: goes with its function
    ch = '\n'.join(rest).strip('\n')
    n = name_of(ch)
    if n in PRIV:
        out['priv'].append((n, ch))
    elif n in CONTROL:
        out['control'].append((n, ch))
    elif n in REJOIN:
        out['rejoin'].append((n, ch))
    elif n in VIEW:
        out['view'].append((n, ch))
    else:
        out['node'].append((n, ch))
known = set(CONTROL + REJOIN + VIEW + PRIV) | set('''policy_from_config agent_election_open agent_election_close
agent_election_set_rtc rtc_from_store agent_election_interval agent_election_receive chrony_synced note_sync
own_dataset build_candidates peer_ntp candidate_slot announce log_change clock_jump_check agent_election_tick
next_expiry run_loop open_thread_chrony thread_main agent_election_start agent_election_stop'''.split())
for n, _ in out['node']:
    if n not in known:
        print('split_election: %s is new: kept in agent_election.c (the node)' % n, file=sys.stderr)

# A static function called from another part is shared too (a function a
# newer main added is found here, so the split still compiles).
part_of = {n: k for k in ('node', 'control', 'rejoin', 'view') for n, _ in out[k]}
def code_only(ch):
    ch = re.sub(r'/\*.*?\*/', '', ch, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', ch)
for k in part_of.values():
    pass
for n, k in part_of.items():
    if n in SHARED or n.startswith('agent_election_'):
        continue
    for k2 in ('node', 'control', 'rejoin', 'view'):
        if k2 != k and any(re.search(r'\b%s\(' % n, code_only(ch)) for m, ch in out[k2]):
            SHARED.append(n)
            print('split_election: %s is used across parts: shared as ae_%s' % (n, n), file=sys.stderr)
            break

def rename(s):
    for f in SHARED:
        s = re.sub(r'\b(?<!ae_)%s\(' % f, 'ae_%s(' % f, s)
    return s

def realign(ch):
    """Continuation lines of a signature aligned one past its "(" (kernel style)."""
    out, lines, i = [], ch.split('\n'), 0
    while i < len(lines):
        ln = lines[i]
        out.append(ln)
        if re.match(r'^[a-z].*\w\(', ln) and not ln.rstrip().endswith((')', ');', '{')):
            col = len(ln[:ln.index('(') + 1].expandtabs(8))
            while i + 1 < len(lines) and lines[i + 1].startswith('\t') and not lines[i].rstrip().endswith((')', ');')):
                i += 1
                txt = lines[i].strip()
                out.append('\t' * (col // 8) + ' ' * (col % 8) + txt)
        i += 1
    return '\n'.join(out)

def unstatic(ch, n):
    if n in SHARED:
        ch = re.sub(r'^static ', '', ch, count=1, flags=re.M)
    return ch

def proto(ch):
    # the definition line(s) up to ")" then ";"
    body = ch[ch.index('\n', 0) + 1:] if ch.startswith('/*') else ch
    lines = ch.split('\n')
    # find the first line not in a comment that starts the definition
    i = 0
    while lines[i].startswith(('/*', ' *')):
        i += 1
    sig = []
    while True:
        sig.append(lines[i])
        if lines[i].rstrip().endswith(')'):
            break
        i += 1
    comment = '\n'.join(lines[:lines.index(sig[0])])
    return (comment + '\n' if comment else '') + '\n'.join(sig) + ';'

parts = {}
for k in ('node', 'control', 'rejoin', 'view'):
    parts[k] = [(n, realign(rename(unstatic(ch, n)))) for n, ch in out[k]]

protos = {k: [proto(ch) for n, ch in parts[k] if n in SHARED] for k in parts}

def priv_chunk(n):
    for m, ch in out['priv']:
        if m == n:
            return ch
    raise KeyError(n)

def inline(ch):
    return re.sub(r'^static ', 'static inline ', ch, count=1, flags=re.M)

priv = '''/* election_priv.h - private to agent/election/agent_election*.c and
 * election_*.c: the election's I/O state, shared by the files that split
 * it by concern (issue 18):
 *   agent_election.c   the node: open/close, its thread, rounds, its own
 *                      dataset from the evidence, the announces in and out
 *   election_control.c chronyd control: the local reference, the candidate
 *                      sources online/offline, the holdover frequency and
 *                      phase, the insane-upstream quarantine, re-applying
 *                      what a restarted chronyd forgot
 *   election_rejoin.c  the rejoin: measure the master, step this clock
 *   election_view.c    the view: the only author of the status document's
 *                      "election" section, the state file, --election
 * Functions shared between them carry the ae_ prefix. */
#ifndef FLEETCLOCK_ELECTION_PRIV_H
#define FLEETCLOCK_ELECTION_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "election/agent_election.h"
#include "election/announce.h"
#include "election/announce_sock.h"
#include "election/election.h"
#include "election/holdover_freq.h"
#include "election/ntp_query.h"
#include "time/timeutil.h"

%s

%s

%s

%s

%s

/* ---- agent_election.c: the node ---- */

%s

/* ---- election_control.c: chronyd control, holdover, quarantine ---- */

%s

/* ---- election_rejoin.c ---- */

%s

/* ---- election_view.c ---- */

%s

#endif
''' % ('\n'.join(defines), priv_chunk('struct upstream'), priv_chunk('struct agent_election'),
       inline(priv_chunk('now_clock')), inline(priv_chunk('ipaddr4')),
       '\n\n'.join(protos['node']), '\n\n'.join(protos['control']),
       '\n\n'.join(protos['rejoin']), '\n\n'.join(protos['view']))

def c_file(k, comment, sys_includes, own_includes):
    s = comment + '#include "election/election_priv.h"\n\n'
    s += ''.join('#include <%s>\n' % i for i in sys_includes)
    if own_includes:
        s += '\n' + ''.join('#include "%s"\n' % i for i in own_includes)
    s += '\n'
    # static functions used before their definition need a declaration
    names = [n for n, ch in parts[k]]
    decl = [f for f in fwd if re.search(r'\b(\w+)\(', f).group(1) in names]
    if decl:
        s += '\n'.join(decl) + '\n\n'
    s += '\n\n'.join(ch for n, ch in parts[k]) + '\n'
    return s

head_comment = head[:head.index('#include')]
node_comment = ("/* agent_election.c - the election's I/O, the node: open/close, the\n"
                " * thread and its rounds, this node's dataset, the announces in and out.\n"
                " * The other concerns: election_priv.h; see agent_election.h and\n"
                " * docs/election.md. */\n")
# The node keeps every project include of the original that election_priv.h
# does not give (e.g. chrony/ntp_auth_query.h, added after the first split).
IN_PRIV = re.findall(r'#include "([^"]+)"', priv)
node_own = ['fleetclock_config.h', 'rtc/rtc_store.h']
node_own += [i for i in re.findall(r'^#include "([^"]+)"', head, re.M)
             if i not in IN_PRIV and i not in node_own]
files = {
 'node': ('agent/election/agent_election.c', node_comment,
          ['arpa/inet.h', 'errno.h', 'fcntl.h', 'math.h', 'poll.h', 'stdio.h', 'stdlib.h', 'sys/random.h', 'unistd.h'],
          sorted(node_own)),
 'control': ('agent/election/election_control.c',
          "/* election_control.c - what the election sets in chronyd: the local\n * reference, the candidate sources online/offline, the holdover frequency\n * and phase, the insane-upstream quarantine, and all of it again when a\n * restarted chronyd forgot it. See election_priv.h. */\n",
          ['arpa/inet.h', 'errno.h', 'math.h', 'stdio.h'], ['fleetclock_config.h']),
 'rejoin': ('agent/election/election_rejoin.c',
          "/* election_rejoin.c - the rejoin: measure the master with NTP queries\n * (bypassing chronyd), step this clock when the state machine says so.\n *\n" + head_comment[head_comment.index(' * The rejoin step'):],
          ['arpa/inet.h', 'errno.h', 'math.h', 'stdio.h', 'sys/timex.h'], []),
 'view': ('agent/election/election_view.c',
          "/* election_view.c - the election's view: the only author of the status\n * document's \"election\" section (docs/status-schema.md), also written to\n * the state file for --election. See election_priv.h. */\n",
          ['arpa/inet.h', 'errno.h', 'math.h', 'stdio.h'], []),
}
open('agent/election/election_priv.h', 'w').write(priv)
for k, (path, comment, si, oi) in files.items():
    open(path, 'w').write(c_file(k, comment, si, oi))
mb = 'agent/meson.build'
m = open(mb).read()
extra = ''.join("  'election/%s.c',\n" % f for f in ('election_control', 'election_rejoin', 'election_view')
                if "'election/%s.c'" % f not in m)
m = m.replace("  'election/agent_election.c',\n", "  'election/agent_election.c',\n" + extra, 1)
open(mb, 'w').write(m)
print('split_election: node %d, control %d, rejoin %d, view %d functions' % tuple(len(parts[k]) for k in ('node', 'control', 'rejoin', 'view')))
