#!/bin/sh
# election-agent-rtc.sh DIR SOCK NAME ADDR BUILD PRIORITY1 PEERS REVERTIVE HOLDOFF RTC_EVERY
# A master candidate with a DS1307 (issue 7, scenario 2): election-agent.sh
# (the first nine arguments) with the node's RTC in the agent's [rtc]
# section, so the election takes its clock-class evidence from what
# rtc-boot.sh's --hctosys did at this boot (class 52 "rtc" when restored).
#
# First start: keeps the RTC disciplined and learns its drift while the
# node runs, one `fleetclock-agent --rtc-step --force` every RTC_EVERY s
# (edge read, rewrite past the threshold, drift sample). --force because
# this node is the fleet's master without an upstream: its chronyd's
# reference is LOCAL, which the RTC discipline does not count as
# synchronised, so the daemon's RTC part would neither write nor learn
# here (see docs/election.md, Scenario 2). The drift learned is the RTC's
# rate against this node's clock, i.e. against the fleet's time.
# After a restart: no discipline (the run ends soon after; the daemon
# measures every 10 min). The agent logs its own clock class with each
# state change: "own class rtc" in its first round.
# The discipline loop dies with the agent (setpriv --pdeathsig): a killed
# node leaves nothing behind that could touch its RTC while it is "off".
set -eu
[ $# -eq 10 ] || { echo "usage: $0 DIR SOCK NAME ADDR BUILD PRIORITY1 PEERS REVERTIVE HOLDOFF RTC_EVERY" >&2; exit 2; }
dir=$1 build=$5 every=${10}
agent=$build/agent/fleetclock-agent
[ -e "$dir/rtc.conf" ] || { echo "election-agent-rtc.sh: no $dir/rtc.conf: rtc-boot.sh must be the node's boot command" >&2; exit 1; }
cat > "$dir/agent-rtc.conf" <<CONF
[rtc]
device = /dev/i2c-1
state_file = $dir/rtc.json
CONF
if [ ! -e "$dir/agent.started" ]; then
	# shellcheck disable=SC2016 # the loop's arguments are its positional parameters
	setpriv --pdeathsig KILL sh -c '
		while sleep "$1"; do
			setpriv --pdeathsig KILL --bounding-set -sys_time "$2" -c "$3" --rtc-step --force \
				>> "$4" 2>&1 || true
		done' rtc-discipline "$every" "$agent" "$dir/rtc.conf" "$dir/rtc-steps.out" &
fi
export ELECTION_AGENT_CONF_APPEND="$dir/agent-rtc.conf"
exec "$(dirname "$0")/election-agent.sh" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
