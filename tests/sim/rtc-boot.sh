#!/bin/sh
# rtc-boot.sh DIR BUILD KIND PPM
# A simulated node's boot with a DS1307 (the emulator, tests/emu), run by
# fleetsim as the node's `boot` command: on the node's clock, before its
# chronyd starts, at every (re)start. DS1307_EMU_STATE names the chip.
#
# First boot (the operator set this clock): the chip is created halted
# with a rate error of PPM and written from the system clock:
#   KIND agent:   fleetclock-agent --systohc --force (DS1307 on /dev/i2c-1;
#                 the record it writes is what --hctosys trusts later)
#   KIND hwclock: hwclock --systohc, what a user runs (kernel driver,
#                 /dev/rtc0; --delay 0: hwclock finds no sysfs name for the
#                 emulated chip and would assume a PC's CMOS clock, written
#                 0.5 s early; on a Pi it sees rtc-ds1307 and uses 0)
# Later boots (power back): set the system clock from the RTC:
#   KIND agent:   fleetclock-agent --hctosys (edge read, drift taken out)
#   KIND hwclock: fleetclock-agent --hctosys --force on /dev/rtc0 without a
#                 record: the RTC's time as it is, no drift correction, what
#                 `hwclock --hctosys` does. hwclock itself cannot run here:
#                 before setting the time it sets the kernel's timezone with
#                 a raw settimeofday syscall that no preload can intercept,
#                 and the user namespace below refuses it (EPERM), as it must.
# SAFETY: --hctosys needs CAP_SYS_TIME; it gets it only inside a new user
# namespace (unshare --user), where the kernel refuses any change to the
# machine's real clock (CAP_SYS_TIME of the initial namespace is gone);
# the clock preload answers clock_settime on the node's virtual clock, and
# the emulator refuses it anyway.
set -eu
dir=$1 build=$2 kind=$3 ppm=$4
agent=$build/agent/fleetclock-agent
: "${DS1307_EMU_STATE:?rtc-boot.sh: DS1307_EMU_STATE not set}"
[ -n "${FLEETCLOCK_VCLOCK_STATE:-}" ] || { echo "rtc-boot.sh: not on a virtual clock" >&2; exit 1; }
case "${LD_PRELOAD:-}" in
*libfleetclock-vclock.so*ds1307_emu.so*) ;;
*) echo "rtc-boot.sh: LD_PRELOAD must hold the clock preload, then the DS1307 emulator" >&2; exit 1 ;;
esac
case $kind in
agent) device=/dev/i2c-1 driver=0 ;;
hwclock) device=/dev/rtc0 driver=1 ;;
*) echo "rtc-boot.sh: KIND is agent or hwclock, not '$kind'" >&2; exit 2 ;;
esac
cat > "$dir/rtc.conf" <<CONF
[chrony]
socket = $dir/run/chronyd.sock
[rtc]
device = $device
state_file = $dir/rtc.json
CONF
now() { date -u +%H:%M:%S.%N; }  # the node's clock
if [ ! -e "$dir/rtc.booted" ]; then
	printf 'ppm=%s\ndriver=%s\n' "$ppm" "$driver" > "$DS1307_EMU_STATE"
	echo "rtc-boot: $(now) first boot: DS1307 at $ppm ppm, written from the operator's clock"
	if [ "$kind" = agent ]; then
		setpriv --bounding-set -sys_time "$agent" -c "$dir/rtc.conf" --systohc --force
	else
		unshare --user --map-root-user \
			hwclock --systohc --utc --noadjfile --rtc "$device" --delay 0
	fi
	: > "$dir/rtc.booted"
	exit 0
fi
echo "rtc-boot: $(now) power back: system clock from the RTC ($kind)"
force=
[ "$kind" = hwclock ] && force=--force
exec unshare --user --map-root-user "$agent" -c "$dir/rtc.conf" --hctosys $force
