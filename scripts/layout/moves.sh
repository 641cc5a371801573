#!/usr/bin/env bash
# moves.sh - issue 18: move fleetclock's sources into subsystem folders
# ("wings"). Re-runnable on any newer main that has not been moved yet
# (and a no-op on a moved tree): git mv, then the #include lines, the
# meson.build source lists and the file paths quoted in docs and comments.
#
#   cd <a clean checkout of main> && bash /path/to/moves.sh
#
# Includes name the wing: #include "chrony/chrony_client.h". The include
# roots are common/ (libfleetclock) and agent/ (libagent); both are already
# on the include path of whatever links libfleetclock_dep / libagent_dep.
# Files that are not in the table (e.g. new ones from other branches) stay
# where they are and keep building: only their #include lines of moved
# headers are rewritten.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
cd "$top"

# old path (no extension) -> new path (no extension). Every existing .c and
# .h of that name moves.
MOVES="
common/config            common/base/config
common/log               common/base/log
common/chrony_wire       common/chrony/chrony_wire
common/chrony_client     common/chrony/chrony_client
common/chrony_json       common/chrony/chrony_json
common/readiness         common/chrony/readiness
common/ntp_auth          common/chrony/ntp_auth
common/ntp_auth_query    common/chrony/ntp_auth_query
common/rtc               common/rtc/rtc
common/rtc_ds1307        common/rtc/rtc_ds1307
common/rtc_linux         common/rtc/rtc_linux
common/rtc_sync          common/rtc/rtc_sync
common/ds1307_codec      common/rtc/ds1307_codec
common/drift             common/rtc/drift
common/status            common/report/status
common/fleet_summary     common/report/fleet_summary
common/json_fast         common/report/json_fast
common/spread_bound      common/report/spread_bound
common/status_metrics    common/report/status_metrics
common/start_record      common/report/start_record
common/when              common/time/when
common/timeutil          common/time/timeutil
common/precise_wait      common/time/precise_wait
common/bmca              agent/election/bmca
common/announce          agent/election/announce
common/announce_sock     agent/election/announce_sock
common/crypto_dl         agent/election/crypto_dl
agent/election           agent/election/election
agent/election_config    agent/election/election_config
agent/holdover_freq      agent/election/holdover_freq
agent/ntp_query          agent/election/ntp_query
agent/agent_election     agent/election/agent_election
agent/action_at          agent/actions/action_at
agent/arm_msg            agent/actions/arm_msg
agent/action_check       agent/actions/action_check
agent/check_fix          agent/actions/check_fix
agent/collector_probe    agent/actions/collector_probe
agent/action_config      agent/actions/action_config
agent/action_daemon      agent/actions/action_daemon
agent/action_election    agent/actions/action_election
agent/action_hctosys     agent/actions/action_hctosys
agent/action_makestep    agent/actions/action_makestep
agent/action_measure     agent/actions/action_measure
agent/action_status      agent/actions/action_status
agent/action_rtc         agent/rtc/agent_rtc
agent/daemon_rtc         agent/rtc/daemon_rtc
agent/rtc_discipline     agent/rtc/rtc_discipline
agent/rtc_store          agent/rtc/rtc_store
agent/push               agent/report/push
agent/spool              agent/report/spool
agent/start_send         agent/report/start_send
"

# Files whose text is rewritten: sources, build files, docs, test scripts.
text_files() {
	git ls-files -- '*.c' '*.h' '*.md' '*.py' '*.build' '*.8' '*.sh' '*.html' \
		'scripts/*' '.ci/*' | while read -r f; do [ -f "$f" ] && echo "$f"; done
}

# root of an include path: the part after common/ or agent/
rel() { echo "${1#*/}"; }

moved=0
while read -r old new; do
	[ -n "$old" ] || continue
	for ext in c h; do
		[ -f "$old.$ext" ] || continue
		mkdir -p "$(dirname "$new")"
		git mv "$old.$ext" "$new.$ext"
		moved=$((moved + 1))
	done
done <<<"$MOVES"
echo "moves.sh: $moved files moved"

files=$(text_files)
# One perl program for every rewrite, built from the table.
prog=""
while read -r old new; do
	[ -n "$old" ] || continue
	ob=$(basename "$old"); nb=$(basename "$new")
	olib=${old%%/*}; nlib=${new%%/*}
	nrel=$(rel "$new")
	# 1. #include "old.h" -> #include "wing/new.h" (only the bare name matches)
	prog+="s{#include \"\\Q$ob.h\\E\"}{#include \"$nrel.h\"}g;"
	# 2. paths in text: common/old.c -> common/wing/new.c (also ../common/...)
	prog+="s{(?<![A-Za-z0-9_])\\Q$old\\E\\.([ch]|\\[ch\\])(?![A-Za-z0-9_])}{$new.\$1}g;"
done <<<"$MOVES"
# shellcheck disable=SC2086
perl -0pi -e "$prog" $files

# meson.build source lists: a source moved within its library is listed
# with its folder; sources that change library (common -> agent) leave
# common_sources and join agent_sources.
to_agent=""
while read -r old new; do
	[ -n "$old" ] || continue
	ob=$(basename "$old"); olib=${old%%/*}; nlib=${new%%/*}; nrel=$(rel "$new")
	if [ "$olib" = "$nlib" ]; then
		perl -pi -e "s{^(\\s*)'\\Q$ob.c\\E',}{\$1'$nrel.c',}" "$olib/meson.build"
	elif grep -q "^\\s*'$ob.c'," "$olib/meson.build"; then
		perl -ni -e "print unless /^\\s*'\\Q$ob.c\\E',/" "$olib/meson.build"
		to_agent+="  '$nrel.c',\n"
	fi
done <<<"$MOVES"
if [ -n "$to_agent" ]; then
	perl -pi -e "s{^agent_sources = files\\(\\n}{agent_sources = files(\\n$to_agent}" agent/meson.build
fi

# The gate and the static at_probe compile a few common sources themselves:
# their include root is common/ (already on their include path).
git add -A common agent collector gate tests docs README.md scripts .ci meson.build 2>/dev/null || true
echo "moves.sh: done; build with: meson setup build --werror && ninja -C build"
