#!/bin/sh
# election-agent.sh DIR SOCK NAME ADDR BUILD PRIORITY1 PEERS REVERTIVE HOLDOFF [KEY]
# A simulated master candidate's agent: writes DIR/agent.conf and the
# fleet key, then runs the election in the foreground on the node's clock.
# PEERS, either:
#  - "{announce_peers}" from fleetsim (the node's `peers`): relay addresses
#    "a:3191,b:3191" of the link emulator; announces go through them, and
#    announce the packet's source as the NTP address (ntp_addr 0.0.0.0):
#    the receiver's relay to this node. The chronyd sources of the other
#    candidates are the scenario's `servers` (through relays too);
#  - the other candidates' last address octets ("2" or "1 3"), on this
#    node's /24: announce peers and chronyd sources added at run time,
#    direct (not through the emulator: partitions do not cut them).
# KEY: the fleet key in hex (default: the fleet's; another one makes a
# rogue candidate whose announces the fleet must ignore).
# The first start of a node trusts its clock (the operator set it); a
# restart does not (a Pi without a working RTC), so it must rejoin.
# SAFETY: CAP_SYS_TIME is dropped from the bounding set, so if the clock
# preload were missing the rejoin step would fail with EPERM instead of
# stepping the machine's real clock.
set -eu
dir=$1 sock=$2 name=$3 addr=$4 build=$5 prio=$6 octets=$7 revertive=$8 holdoff=$9
key=${10:-000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f}
net=${addr%.*}
peers= ntp_addr=
case $octets in
*:*) peers=$octets ntp_addr=0.0.0.0 ;;
*)
	for o in $octets; do
		peers="$peers${peers:+,}$net.$o:3191"
		chronyc -h "$sock" add server "$net.$o" iburst minpoll -1 maxpoll -1 >/dev/null
	done ;;
esac
chronyc -h "$sock" allow "$net.0/24" >/dev/null
[ -n "${FLEETCLOCK_VCLOCK_STATE:-}" ] || { echo "election-agent.sh: not on a virtual clock" >&2; exit 1; }
assume=yes
[ -e "$dir/agent.started" ] && assume=no
: > "$dir/agent.started"
umask 077
echo "$key" > "$dir/fleet.key"
cat > "$dir/agent.conf" <<CONF
[chrony]
socket = $sock
[agent]
host = $name
role = failover
budget_ms = 5
[election]
enabled = yes
assume_valid = $assume
priority1 = $prio
interval = 1
key_file = $dir/fleet.key
group =
port = 3191
bind = $addr
peers = $peers
ntp_addr = $ntp_addr
revertive = $revertive
holdoff = $holdoff
holdoff_valid = 5
state_file = $dir/election.json
CONF
# more sections from a wrapper (election-agent-rtc.sh: [rtc])
[ -z "${ELECTION_AGENT_CONF_APPEND:-}" ] || cat "$ELECTION_AGENT_CONF_APPEND" >> "$dir/agent.conf"
exec setpriv --bounding-set -sys_time "$build/agent/fleetclock-agent" \
	-c "$dir/agent.conf" -v --elect
