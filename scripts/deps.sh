# deps.sh - sourced by scripts/test and scripts/demo: install the Debian
# packages fleetclock needs when any is missing. One list, kept here.
# shellcheck shell=bash

FLEETCLOCK_BUILD_PACKAGES="meson ninja-build pkg-config gcc check libjansson-dev libinih-dev
 libi2c-dev libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev
 libssl-dev"
FLEETCLOCK_TEST_PACKAGES="chrony faketime valgrind clang libclang-rt-14-dev python3 iproute2
 procps util-linux
 python3-matplotlib"
# Deployment tests (tests/ansible): linters, and sshd for the namespace hosts.
FLEETCLOCK_TEST_PACKAGES="$FLEETCLOCK_TEST_PACKAGES ansible-core ansible-lint yamllint openssh-server openssh-client"
# i2c-tools: an independent I2C client to cross-check the DS1307 emulator.
FLEETCLOCK_TEST_PACKAGES="$FLEETCLOCK_TEST_PACKAGES i2c-tools"
# The units under a real systemd (tests/integration/units_nspawn.py): a Debian tree to boot.
FLEETCLOCK_TEST_PACKAGES="$FLEETCLOCK_TEST_PACKAGES debootstrap systemd-container"
# Collector tests: promtool (prometheus, ~96 MB installed) checks /metrics;
# chromium (~290 MB) renders the dashboard.
FLEETCLOCK_TEST_PACKAGES="$FLEETCLOCK_TEST_PACKAGES prometheus chromium curl openssl"
# Collector benchmark references (tests/bench/bench_collector.py installs them).
FLEETCLOCK_BENCH_PACKAGES="wrk nginx-light prometheus-pushgateway"
# Debian packages (scripts/package, tests/integration/packages.py): dpkg-buildpackage
# with debhelper, and lintian to check what it made.
FLEETCLOCK_PACKAGING_PACKAGES="debhelper dpkg-dev fakeroot lintian"
# Optional: sd_notify/watchdog support in the agent daemon.
FLEETCLOCK_BUILD_PACKAGES="$FLEETCLOCK_BUILD_PACKAGES libsystemd-dev"
# The arm64 cross build and its tests under qemu-user (cross/, tests/cross): needs
# `dpkg --add-architecture arm64` first; about 107 MB to download, 430 MB installed.
FLEETCLOCK_CROSS_ARM64_PACKAGES="crossbuild-essential-arm64 qemu-user file pkgconf:arm64 check:arm64
 libinih-dev:arm64 libjansson-dev:arm64 libssl-dev:arm64 libi2c-dev:arm64
 libcurl4-openssl-dev:arm64 libmicrohttpd-dev:arm64 libsqlite3-dev:arm64 libsystemd-dev:arm64"

# root_prefix WHAT : print what runs a command as root: nothing as root,
# "sudo" when sudo is installed; otherwise say so, naming WHAT, and fail.
root_prefix() {
	if [ "$(id -u)" -eq 0 ]; then
		return 0
	elif command -v sudo >/dev/null 2>&1; then
		echo sudo
	else
		echo "fleetclock: $1 needs root, and sudo is not installed: run it again as root" \
			"(or install sudo as root: apt-get install sudo)" >&2
		return 1
	fi
}

# apt_install PKG... : apt-get install, with service starts refused while it
# runs (policy-rc.d): a system chronyd started by the chrony package would
# discipline this machine's real clock, an sshd would listen on every address.
apt_install() {
	local sudo guard="" rc
	sudo=$(root_prefix "installing Debian packages ($*)") || return 1
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# fleetclock: no service starts during package installs\nexit 101\n' |
			$sudo tee /usr/sbin/policy-rc.d >/dev/null && $sudo chmod 755 /usr/sbin/policy-rc.d &&
			guard=1
	fi
	# through env: sudo's env_reset would drop a plain DEBIAN_FRONTEND=.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
	rc=$?
	[ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
	return $rc
}

# ensure_packages PKG... : apt-get install what is not installed yet.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo
	sudo=$(root_prefix "installing Debian packages (${missing[*]})") || return 1
	echo "fleetclock: installing Debian packages: ${missing[*]}" >&2
	$sudo apt-get update -q >&2 || return 1
	apt_install "${missing[@]}" >&2
}
