#!/bin/sh
# election_figures.sh [OUT] - every issue 7 scenario with fleetclock's
# election and with plain chrony, on wifi and on lan: the tables and plots
# of docs/election.md. Four pairs run at a time (each fleet is light: its
# chronyd instances use ~1 % of a core), on their own addresses
# (127.7.NET.x). Needs root and a build (FLEETCLOCK_BUILD, default build/).
# Takes about 50 minutes. Output: OUT/NAME-PROFILE.log (the tables) and
# OUT/NAME-PROFILE/{ours,base}/ (samples.csv, summary.txt, plot.png); the
# wifi plots are copied to docs/img/election-NAME{,-plain}.png.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${1:-/tmp/fleetclock-election-figures}
export FLEETCLOCK_SIM_PREFIX="${FLEETCLOCK_SIM_PREFIX:-127.7}"
export FLEETCLOCK_BUILD="${FLEETCLOCK_BUILD:-$src/build}"
export FLEETCLOCK_SOURCE="$src"
mkdir -p "$out"
sc=$here/scenarios
pair() { # name ours base profile net
	python3 "$here/election_compare.py" --profile "$4" --net "$5" --out "$out/$1-$4" \
		"$sc/$2.toml" "$sc/$3.toml" > "$out/$1-$4.log" 2>&1 || echo "$1 $4: failed (see $out/$1-$4.log)"
	if [ "$4" = wifi ] && [ -f "$out/$1-$4/ours/plot.png" ]; then
		cp "$out/$1-$4/ours/plot.png" "$src/docs/img/election-$1.png"
		cp "$out/$1-$4/base/plot.png" "$src/docs/img/election-$1-plain.png"
	fi
	echo "$1 $4: done"
}
net=100
# the long ones (the rtc master is off for 10 minutes; -warm runs 21 minutes) first
while read -r name ours base profile; do
	pair "$name" "$ours" "$base" "$profile" "$net" &
	net=$((net + 4))
	while [ "$(jobs -p | wc -l)" -ge 4 ]; do sleep 5; done
done <<RUNS
rtc-master-warm election-rtc-master-warm election-rtc-master-warm-baseline wifi
rtc-master-warm election-rtc-master-warm election-rtc-master-warm-baseline lan
rtc-master election-rtc-master election-rtc-master-baseline wifi
rtc-master election-rtc-master election-rtc-master-baseline lan
field-report election-field-report election-field-report-baseline wifi
field-report election-field-report election-field-report-baseline lan
partition election-partition election-partition-baseline wifi
partition election-partition election-partition-baseline lan
forged election-forged election-forged-baseline wifi
forged election-forged election-forged-baseline lan
upstream-insane election-upstream-insane-ci election-upstream-insane-baseline-ci wifi
upstream-insane election-upstream-insane-ci election-upstream-insane-baseline-ci lan
RUNS
wait
for f in "$out"/*.log; do echo "== $f"; cat "$f"; done
