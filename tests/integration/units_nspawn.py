#!/usr/bin/env python3
"""units_nspawn - the real units, rendered by the roles, under a real systemd as PID 1.

A Debian 12 tree (debootstrap --variant=minbase with systemd, chrony and the agent's runtime
libraries; cached under /var/cache/fleetclock-nspawn/<hash of the package list>) is booted
with `systemd-nspawn --register=no --keep-unit --private-network -b` on an overlay of the
cache, in a private mount namespace (the cache is never written). Inside: the binaries just
built, the units the roles render for a master candidate with the election on (observer) and
the udev rule, chrony's own unit with the fleetclock drop-in.

This machine's clock is safe: nspawn's capability set leaves out CAP_SYS_TIME (checked on
the container's PID 1 as soon as it exists; the test stops if it is there), and chronyd runs
with -x all the same (a drop-in, which also lifts chrony.service's ConditionCapability=CAP_SYS_TIME).
nspawn also puts its own seccomp filter on the container, refusing @clock to a container
without CAP_SYS_TIME; --system-call-filter=@clock lifts that one filter so that the unit's own
filter is what the probe meets. Without the capability every call that sets a clock still
fails (EPERM), in the kernel.

What is checked, and why it proves the point:
- READY=1 and the watchdog: the agent unit is Type=notify, so ActiveState=active means
  systemd got READY=1; with WatchdogSec cut to 3 s by a drop-in (the one change, so the
  test is short; interval_s = 1 in agent.conf) the same MainPID is still active, with no
  restart, after more than two watchdog periods, and the watchdog timestamp moved.
- RuntimeDirectory: the daemon's view /run/fleetclock/election.json appears, written by the
  daemon as _fleetclock (under ProtectSystem=strict nothing else could make it writable).
- The rejoin step on a candidate: a probe (units_probe.c) runs as ExecStart of a copy of the
  rendered unit (only the Type/ExecStart/Restart/watchdog lines changed). adjtimex() with
  modes = 0 needs no capability, so only the seccomp filter can deny it; it passes, and
  since systemd's filter sees the system call number only (not the modes inside the
  struct), adjtimex(ADJ_SETOFFSET) passes the same filter: its EPERM is the missing
  CAP_SYS_TIME (absent from nspawn's bounding set on purpose), which
  the unit grants on a real node (CapabilityBoundingSet/AmbientCapabilities shown by
  systemctl). The headset's unit (ProtectClock=yes, no @clock) is the control: its
  adjtimex(modes = 0) is refused, by the filter.
- CAP_SYS_TIME where systemd can give it: a second, user-namespaced container
  (--private-users at a fixed base, --capability=CAP_SYS_TIME, its own cgroups owned by that
  base) boots the same tree; its capabilities belong to its own user namespace, which the
  kernel does not accept for the system clock (checked before anything runs: its PID 1 is in
  another user namespace and its root maps to a non-zero uid). The candidate unit's probe runs
  as the unit's user with CAP_SYS_TIME in its effective set (and then does not call the step);
  the headset's unit without it. Together with the filter check above: the rejoin's
  adjtimex(ADJ_SETOFFSET) would pass both on a node.
- SCHED_FIFO for the RTC write: the probe enters SCHED_FIFO | SCHED_RESET_ON_FORK at priority 10
  and goes back to SCHED_OTHER, as common/rtc/rtc_sync.c does, under the candidate's settings
  (CAP_SYS_NICE granted, RestrictRealtime=no). Under the old settings (RestrictRealtime=yes,
  no capability) the first call is refused.
- The RTC device as the agent's user: /dev/i2c-1 and /dev/rtc0 are made after boot (a device
  that appears later) with the owner and mode the shipped udev rule gives them (udev does not
  run in a container: the test applies GROUP= and MODE= from the rule file itself); the probe
  opens them as _fleetclock and gets ENXIO (permitted; no driver behind the node), while a
  node as Debian leaves it (root:root 0600) gives EACCES.
- The restore unit after its device: systemd loaded Wants= and After= on the .device unit
  whose name systemd-escape gives for the device, and the rule tags that device for systemd
  (without TAG+="systemd" no .device unit ever becomes active). In a container systemd does
  not track devices (/sys read-only, no udev): the test makes nspawn's tmpfs over /sys
  writable and /run/udev/control exist, re-executes PID 1 so that it tracks devices, then
  starts the restore with /dev/i2c-1 absent: it is held back ("waiting", the device job
  "running") and does not run. The node is then made (the rule's group and mode) and
  udev_announce.c sends what udevd multicasts once its rules have run (a "libudev" message
  on the container's own netlink group, tagged systemd): PID 1 marks the device plugged and
  only then runs the restore, which opens the node as _fleetclock (ENXIO: no driver).

Skips (exit 77) only when nspawn cannot run here: not root, no systemd-nspawn, no tree and no
debootstrap or mirror to make one, no overlayfs. About 20-55 s with a cached tree, depending
on the machine's load (plus ~40 s for debootstrap the first time).
"""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import debian_tree
import fctest
import nspawn_container

SOURCE = os.path.abspath(fctest.SOURCE)
BUILD = os.path.abspath(fctest.BUILD)
PACKAGES = ["chrony", "dbus", "libcurl4", "libi2c0", "libinih1", "libjansson4", "libmicrohttpd12",
            "libsqlite3-0", "systemd", "systemd-sysv"]
CAP_SYS_TIME = 25
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def skip(reason):
    fctest.skip_all(reason, "units_nspawn")


def tree():
    """The cached Debian tree for PACKAGES (tests/harness/debian_tree.py)."""
    try:
        return debian_tree.tree(PACKAGES, marker="usr/lib/systemd")
    except debian_tree.Unavailable as e:
        skip(str(e))


def render(outdir, limit, *extra):
    """The roles' files for one inventory host, as render-examples.yml makes etc/."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(SOURCE, "ansible", "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=outdir + "/.ansible-tmp")
    return subprocess.Popen(["ansible-playbook", "-i", "inventory/hosts.yml", "render-examples.yml", "--limit", limit,
                             "-e", "fleetclock_example_dir=" + outdir] + list(extra),
                            cwd=os.path.join(SOURCE, "ansible"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def probe_unit(text):
    """A copy of a rendered agent unit that runs the probe instead of the daemon."""
    out = []
    for line in text.splitlines():
        if line.startswith(("Type=", "NotifyAccess=", "WatchdogSec=", "Restart=", "RestartSec=", "ExecStart=")):
            continue
        if line == "[Install]":
            break
        out.append(line)
        if line == "[Service]":
            out += ["Type=oneshot", "ExecStart=/usr/local/libexec/units_probe /dev/i2c-1 /dev/rtc0 /dev/rtc1"]
    return "\n".join(out).rstrip() + "\n"


def udev_owner(rule_text, subsystem):
    """GROUP and MODE the rule gives a device of this subsystem, or (None, None)."""
    for line in rule_text.splitlines():
        if 'SUBSYSTEM=="%s"' % subsystem in line:
            g = re.search(r'GROUP="([^"]+)"', line)
            m = re.search(r'MODE="([0-7]+)"', line)
            return (g.group(1) if g else None, m.group(1) if m else None)
    return (None, None)


SETUP = """cp -a {stage}/. "$ROOT"/
chroot "$ROOT" sh -ec '
  groupadd -r i2c
  useradd -r -M -d /var/lib/fleetclock -s /usr/sbin/nologin -G _chrony,i2c _fleetclock
  useradd -r -M -d /var/lib/fleetclock-collector -s /usr/sbin/nologin _fleetclock-collector
  chown root:_fleetclock /etc/fleetclock/agent.conf && chmod 0640 /etc/fleetclock/agent.conf
  chown _fleetclock:_fleetclock /etc/fleetclock/fleet.key && chmod 0600 /etc/fleetclock/fleet.key
  chown root:_fleetclock-collector /etc/fleetclock/collector.conf && chmod 0640 /etc/fleetclock/collector.conf
  systemctl enable -q fleetclock-agent.service fleetclock-collector.service fleetclock-rtc-restore.service'"""


def Container(lower, stage, workdir, userns=False):
    """The stage (rendered units, configs, binaries) on a booted tree (nspawn_container.py)."""
    return nspawn_container.Container(lower, workdir, SETUP.format(stage=stage),
                                      "--system-call-filter=@clock --machine=fcunits", userns=userns)


class TestUnitsUnderSystemd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fcunits-")
        cls.ct = None
        try:
            cls._boot()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _boot(cls):
        tmp = cls.tmp
        cand, head = os.path.join(tmp, "candidate"), os.path.join(tmp, "headset")
        jobs = [render(cand, "observer", "-e", "fleetclock_election_enabled=true", "-e", "fleetclock_fleet_key=" + KEY),
                render(head, "headset01")]
        lower = tree()
        for j in jobs:
            out = j.communicate(timeout=300)[0]
            if j.returncode != 0:
                raise AssertionError("render-examples.yml failed: " + out[-3000:])
        stage = os.path.join(tmp, "stage")
        sbin, libexec = stage + "/usr/local/sbin", stage + "/usr/local/libexec"
        system, fc = stage + "/etc/systemd/system", stage + "/etc/fleetclock"
        for d in (sbin, libexec, system + "/chrony.service.d", system + "/fleetclock-agent.service.d",
                  fc, stage + "/etc/chrony", stage + "/etc/udev/rules.d"):
            os.makedirs(d)
        shutil.copy(os.path.join(BUILD, "agent", "fleetclock-agent"), sbin)
        shutil.copy(os.path.join(BUILD, "collector", "fleetclock-collector"), sbin)
        shutil.copy(os.path.join(BUILD, "tests", "integration", "units_probe"), libexec)
        shutil.copy(os.path.join(BUILD, "tests", "integration", "udev_announce"), libexec)
        for unit in glob.glob(cand + "/systemd/*.service"):
            shutil.copy(unit, system)
        shutil.copy(cand + "/systemd/chrony.service.d/fleetclock.conf", system + "/chrony.service.d/")
        with open(system + "/chrony.service.d/test-no-clock.conf", "w") as f:
            f.write("# units_nspawn: chronyd never adjusts a clock here (-x); nspawn gives no CAP_SYS_TIME.\n"
                    "[Unit]\nConditionCapability=\n"
                    "[Service]\nExecStart=\nExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x\n")
        with open(system + "/fleetclock-agent.service.d/test-watchdog.conf", "w") as f:
            f.write("# units_nspawn: a short watchdog so that two periods pass in seconds.\n"
                    "[Service]\nWatchdogSec=3\n")
        with open(cand + "/systemd/fleetclock-agent.service") as f:
            cls.candidate_unit = f.read()
        with open(head + "/systemd/fleetclock-agent.service") as f:
            cls.headset_unit = f.read()
        for name, text in (("probe-candidate", cls.candidate_unit), ("probe-headset", cls.headset_unit)):
            with open("%s/fc-%s.service" % (system, name), "w") as f:
                f.write(probe_unit(text))
        with open(cand + "/udev/60-fleetclock.rules") as f:
            cls.rule = f.read()
        shutil.copy(cand + "/udev/60-fleetclock.rules", stage + "/etc/udev/rules.d/")
        with open(cand + "/fleetclock/agent-master.conf") as f:
            conf = f.read()
        # No network but loopback in the container: the collector there, a peer nobody answers.
        conf = re.sub(r"(?m)^url = .*$", "url = http://127.0.0.1:8470/api/v1/status", conf)
        conf = re.sub(r"(?m)^interval_s = .*$", "interval_s = 1", conf)
        conf = re.sub(r"(?m)^(bind|peers|group) = .*\n", "", conf)  # the inventory's addresses
        conf = re.sub(r"(?m)^(key_file = .*)$", r"\1\nbind = 127.0.0.1\npeers = 127.0.0.2\ngroup =", conf)
        with open(fc + "/agent.conf", "w") as f:
            f.write(conf)
        # The rendered example keeps the placeholder token, which the collector refuses.
        with open(cand + "/fleetclock/collector.conf") as f:
            cconf = re.sub(r"(?m)^tokens = .*$", "tokens = units-nspawn-test", f.read())
        with open(fc + "/collector.conf", "w") as f:
            f.write(cconf)
        with open(fc + "/fleet.key", "w") as f:
            f.write(KEY + "\n")
        with open(stage + "/etc/chrony/chrony.conf", "w") as f:
            f.write("local stratum 8\ndriftfile /var/lib/chrony/chrony.drift\n")
        cls.lower, cls.stage = lower, stage
        # The harness refuses to go on when the container's bounding set has CAP_SYS_TIME.
        cls.ct = Container(lower, stage, os.path.join(tmp, "ct"))

    @classmethod
    def tearDownClass(cls):
        if cls.ct is not None:
            if os.environ.get("FLEETCLOCK_UNITS_DEBUG"):
                print(cls.ct.run("journalctl", "-b", "--no-pager", check=False).stdout[-20000:])
            cls.ct.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def journal(self, unit):
        return self.ct.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", unit, check=False).stdout

    def probe(self, name):
        """Run the probe under a unit's settings; its JSON line from the journal."""
        unit = "fc-%s.service" % name

        def lines():
            out = self.ct.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", unit, check=False).stdout
            return [ln for ln in out.splitlines() if ln.startswith("{")]
        before = len(lines())
        self.ct.run("systemctl", "start", unit, check=False)
        got = fctest.wait_for(lambda: lines()[before:], 10, step=0.2)
        self.assertTrue(got, "%s printed nothing: %s" % (unit, self.journal(unit)[-2000:]))
        return json.loads(got[-1])

    def test_1_agent_ready_and_watchdog(self):
        props = ("ActiveState", "SubState", "MainPID", "NRestarts", "WatchdogUSec", "WatchdogTimestampMonotonic")
        first = fctest.wait_for(lambda: (lambda p: p if p["ActiveState"] == "active" else None)(
            self.ct.show("fleetclock-agent.service", *props)), 20, step=0.5)
        self.assertIsNotNone(first, "the agent never became active (no READY=1): "
                             + self.journal("fleetclock-agent.service")[-3000:])
        self.assertEqual(first["WatchdogUSec"], "3s")
        time.sleep(7.5)     # more than two watchdog periods
        later = self.ct.show("fleetclock-agent.service", *props)
        self.assertEqual((later["ActiveState"], later["SubState"], later["MainPID"], later["NRestarts"]),
                         ("active", "running", first["MainPID"], "0"), self.journal("fleetclock-agent.service")[-3000:])
        self.assertGreater(int(later["WatchdogTimestampMonotonic"]), int(first["WatchdogTimestampMonotonic"]))

    def test_2_runtime_directory_for_the_view(self):
        st = fctest.wait_for(lambda: self.ct.run("stat", "-c", "%U %a", "/run/fleetclock",
                                                 "/run/fleetclock/election.json",
                                                 check=False).stdout.split() or None, 20, step=0.5)
        self.assertEqual(st, ["_fleetclock", "750", "_fleetclock", "640"],
                         self.journal("fleetclock-agent.service")[-3000:])

    def test_3_rejoin_step_allowed_on_a_candidate(self):
        cand = self.probe("probe-candidate")
        self.assertFalse(int(cand["CapEff"], 16) & (1 << CAP_SYS_TIME), cand)
        self.assertEqual(cand["adjtimex_read"], 0, "the seccomp filter refuses adjtimex: %s" % cand)
        self.assertEqual(cand["adjtimex_step"], 1, "ADJ_SETOFFSET: expected EPERM from the capability check: %s" % cand)
        # The control: the headset's unit refuses the same system call in its filter.
        head = self.probe("probe-headset")
        self.assertEqual(head["adjtimex_read"], 1, head)
        # What a real node's systemd grants the candidate's agent (nspawn has no CAP_SYS_TIME to give).
        p = self.ct.show("fleetclock-agent.service", "CapabilityBoundingSet", "AmbientCapabilities", "SystemCallFilter",
                         "ProtectClock")
        self.assertIn("cap_sys_time", p["CapabilityBoundingSet"])
        self.assertIn("cap_sys_time", p["AmbientCapabilities"])
        self.assertIn("adjtimex", p["SystemCallFilter"])
        self.assertEqual(p["ProtectClock"], "no")

    def test_4_sched_fifo_for_the_rtc_write(self):
        p = self.probe("probe-candidate")
        self.assertEqual((p["fifo"], p.get("fifo_leave")), (0, 0), "SCHED_FIFO and back refused: %s" % p)
        p = self.ct.show("fleetclock-agent.service", "RestrictRealtime", "CapabilityBoundingSet")
        self.assertEqual(p["RestrictRealtime"], "no")
        self.assertIn("cap_sys_nice", p["CapabilityBoundingSet"])

    def test_5_rtc_device_opened_as_the_agent_user(self):
        # Majors 60 and 61 are for local use (devices.txt): no driver here answers them, so an
        # open that passes the permission checks ends in ENXIO and touches no hardware.
        with open("/proc/devices") as f:
            majors = re.findall(r"(?m)^\s*(\d+) ", f.read().split("Block devices")[0])
        self.assertFalse({"60", "61"} & set(majors), "majors 60/61 are taken on this machine")
        made = []
        for node, subsystem, major, minor in (("/dev/i2c-1", "i2c-dev", 60, 1), ("/dev/rtc0", "rtc", 61, 0)):
            group, mode = udev_owner(self.rule, subsystem)
            self.assertIsNotNone(group, "the udev rule gives %s no group" % subsystem)
            made.append("mknod -m %s %s c %d %d && chgrp %s %s" % (mode or "0600", node, major, minor, group, node))
        made.append("mknod -m 0600 /dev/rtc1 c 61 1")    # as Debian leaves a kernel RTC
        self.ct.run("sh", "-ec", "rm -f /dev/i2c-1 /dev/rtc0 /dev/rtc1 && " + " && ".join(made))
        p = self.probe("probe-candidate")
        self.assertEqual(p["uid"] > 0, True, p)
        self.assertEqual((p["open:/dev/i2c-1"], p["open:/dev/rtc0"], p["open:/dev/rtc1"]), (6, 6, 13),
                         "expected ENXIO (permitted, no driver) for the rule's nodes, EACCES for "
                         "root:root 0600: %s" % p)

    def test_6_restore_ordered_after_its_device(self):
        dev = self.ct.run("systemd-escape", "--path", "--suffix=device", "/dev/i2c-1").stdout.strip()
        p = self.ct.show("fleetclock-rtc-restore.service", "Wants", "After", "Before")
        for prop in ("Wants", "After"):
            self.assertIn(dev, p[prop].replace('"', "").replace("\\\\", "\\").split(), "%s=%s" % (prop, p[prop]))
        self.assertIn("chrony.service", p["Before"].split())
        self.assertIn('TAG+="systemd"', [ln for ln in self.rule.splitlines() if 'SUBSYSTEM=="i2c-dev"' in ln][0])
        # Let systemd track devices as on a real node: /sys writable (nspawn's own tmpfs over
        # the read-only sysfs directories, not sysfs itself) and a udev seemingly running
        # (/run/udev/control); PID 1 looks at both when it starts, hence the re-exec.
        self.ct.run("sh", "-ec", "mount -o remount,rw /sys && mkdir -p /run/udev && touch /run/udev/control && "
                    "rm -f /dev/i2c-1 && systemctl stop fleetclock-rtc-restore.service")
        self.ct.run("systemctl", "daemon-reexec")
        fctest.wait_for(lambda: self.ct.run("systemctl", "is-system-running", check=False).stdout.strip()
                        in ("running", "degraded"), 30, step=0.5, what="PID 1 back after daemon-reexec")
        before = self.ct.show("fleetclock-rtc-restore.service", "ExecMainStartTimestampMonotonic")
        self.ct.run("systemctl", "start", "--no-block", "fleetclock-rtc-restore.service")
        jobs = fctest.wait_for(lambda: (lambda out: out if "waiting" in out else None)(
            self.ct.run("systemctl", "list-jobs", "--no-legend", "--no-pager").stdout), 10, step=0.2)
        time.sleep(2)       # the restore must still be held back, the device absent
        self.assertIsNotNone(jobs, "the restore did not wait for %s" % dev)
        self.assertRegex(jobs, r"(?m)fleetclock-rtc-restore\.service\s+start\s+waiting")
        self.assertRegex(jobs, r"(?m)%s\s+start\s+running" % re.escape(dev))
        self.assertEqual(self.ct.show("fleetclock-rtc-restore.service", "ExecMainStartTimestampMonotonic"), before)
        # The device arrives: the node with the rule's group, then udevd's announcement.
        group, mode = udev_owner(self.rule, "i2c-dev")
        self.ct.run("sh", "-ec", "mknod -m %s /dev/i2c-1 c 60 1 && chgrp %s /dev/i2c-1" % (mode, group))
        self.ct.run("/usr/local/libexec/udev_announce", "/devices/virtual/i2c-dev/i2c-1", "i2c-dev", "/dev/i2c-1",
                    "60", "1")
        ran = fctest.wait_for(lambda: (lambda p: p if p["ExecMainStartTimestampMonotonic"] !=
                                       before["ExecMainStartTimestampMonotonic"] else None)(
            self.ct.show("fleetclock-rtc-restore.service", "ExecMainStartTimestampMonotonic")), 10, step=0.2)
        self.assertIsNotNone(ran, "the restore did not run once %s was plugged: %s" % (
            dev, self.ct.run("systemctl", "list-jobs", "--no-pager", check=False).stdout))
        plugged = self.ct.show(dev, "ActiveState", "ActiveEnterTimestampMonotonic")
        self.assertEqual(plugged["ActiveState"], "active")
        self.assertGreaterEqual(int(ran["ExecMainStartTimestampMonotonic"]),
                                int(plugged["ActiveEnterTimestampMonotonic"]))
        # It opened the node as _fleetclock: ENXIO (no driver), not ENOENT or EACCES.
        def last():
            lines = [ln for ln in self.journal("fleetclock-rtc-restore.service").splitlines() if "/dev/i2c-1" in ln]
            return lines[-1] if lines and "No such file" not in lines[-1] else None
        line = fctest.wait_for(last, 10, step=0.2)
        self.assertIsNotNone(line, self.journal("fleetclock-rtc-restore.service")[-2000:])
        self.assertIn("No such device or address", line)

    def test_7_collector_limits(self):
        p = self.ct.show("fleetclock-collector.service", "ActiveState", "LimitNOFILE", "MainPID")
        self.assertEqual((p["ActiveState"], p["LimitNOFILE"]), ("active", "4096"),
                         self.journal("fleetclock-collector.service")[-3000:])
        limits = self.ct.run("cat", "/proc/%s/limits" % p["MainPID"]).stdout
        self.assertRegex(limits, r"Max open files\s+4096\s")

    def test_8_candidate_agent_holds_sys_time(self):
        """A real node's systemd gives the candidate's agent CAP_SYS_TIME in its effective set.

        The first container cannot show it (nspawn withholds CAP_SYS_TIME on purpose). This
        one is a user-namespaced container (--private-users) given CAP_SYS_TIME: capabilities
        inside it belong to its own user namespace, and the kernel checks the system clock's
        against the initial one, so nothing in it can set this machine's clock (checked
        below before anything runs). Its systemd applies the rendered units' User=,
        AmbientCapabilities= and CapabilityBoundingSet= as on a node; the probe reads its
        effective set (and never calls the step when it holds the capability)."""
        ct = Container(self.lower, self.stage, os.path.join(self.tmp, "ct-userns"), userns=True)
        saved, self.ct = self.ct, ct
        try:
            cand, head = self.probe("probe-candidate"), self.probe("probe-headset")
        finally:
            self.ct = saved
            ct.stop()
        self.assertTrue(int(cand["CapEff"], 16) & (1 << CAP_SYS_TIME),
                        "the candidate unit's agent lacks CAP_SYS_TIME where systemd can grant it: %s" % cand)
        self.assertGreater(cand["uid"], 0, cand)
        self.assertEqual(cand["adjtimex_read"], 0, cand)
        self.assertFalse(int(head["CapEff"], 16) & (1 << CAP_SYS_TIME), head)
        print("candidate unit: uid %d, CapEff %s (CAP_SYS_TIME); headset unit: CapEff %s"
              % (cand["uid"], cand["CapEff"], head["CapEff"]))


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("systemd-nspawn needs root")
    if not shutil.which("systemd-nspawn"):
        skip("no systemd-nspawn (apt-get install systemd-container)")
    if "overlay" not in open("/proc/filesystems").read():
        skip("no overlayfs in this kernel (the cached tree is booted on an overlay)")
    fctest.main()
