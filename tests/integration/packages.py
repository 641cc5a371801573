#!/usr/bin/env python3
"""packages - the Debian packages built, linted, installed, upgraded, removed and purged.

scripts/package builds fleetclock-agent and fleetclock-collector (version meson.build's + a
suffix), lintian checks them (no errors; the warnings it prints are the explained overrides),
then dpkg/apt work on them in a scratch Debian 12 root, never on this machine:
the nspawn test's cached tree (/var/cache/fleetclock-nspawn, debootstrap minbase with chrony,
systemd and the runtime libraries) under an overlay in a private mount namespace, entered with
`systemd-nspawn --private-network` (not booted: no systemd runs inside, so no unit can start,
and a policy-rc.d refuses service starts all the same). Why not this machine: it is the CI
machine, other tests run on it in parallel, and the packages add a user, a chrony.service
drop-in and a udev rule; the scratch root goes away with its temporary directory.

Checked, in order:
- install (apt-get install ./x.deb, offline): files where docs/packaging.md says, the
  _fleetclock user in _chrony and i2c (i2c made: the tree has none), agent.conf and
  collector.conf 0640 to their daemons' groups, no unit enabled, the installed binaries run
  (--version, the shipped agent.conf parses, the collector refuses its placeholder token);
- upgrade to a newer build (this build's .debs with version +pkgtest2 and new default
  conffiles, the way a later release changes them): the locally changed agent.conf is kept
  (dpkg's question answered by --force-confold, the new one left as .dpkg-dist), the
  unchanged collector.conf takes the new default and keeps its 0640 mode;
- remove: programs gone, conffiles and users stay;
- purge: /etc/fleetclock, the state, the statoverrides and the units' enable state gone;
  the system users stay (docs/packaging.md says why);
- under a real systemd (a second scratch root, booted with nspawn -b, CAP_SYS_TIME absent and
  no policy-rc.d, so what starts is the packages' doing): installed units loaded, disabled,
  inactive; an agent the admin started is restarted by the upgrade (new MainPID), the
  collector and the RTC restore stay inactive; remove stops the agent.

Skips (77) when it cannot run here: not root, no systemd-nspawn/overlayfs, no debhelper or
lintian (apt-get install debhelper lintian), no cached tree and no debootstrap. About 40-85 s
(the package build about 20 s of it), depending on the machine's load.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import fctest

SOURCE = os.path.abspath(fctest.SOURCE)
SUFFIX, SUFFIX2 = "+pkgtest1", "+pkgtest2"
SCRIPT = """set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={w}/upper,workdir={w}/work {w}/root
exec systemd-nspawn -q --register=no --keep-unit --private-network --as-pid2 \\
  --setenv=DEBIAN_FRONTEND=noninteractive --bind-ro={w}/debs:/debs -D {w}/root /bin/sh -ec "$0"
"""


def skip(reason):
    print("packages: SKIP: " + reason)
    sys.exit(77)


def meson_version():
    with open(os.path.join(SOURCE, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def repack(deb, outdir, version, note):
    """deb rebuilt as version with note appended to each conffile: a newer build that
    changed its default configuration."""
    tree = tempfile.mkdtemp(dir=outdir)
    subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
    ctl = os.path.join(tree, "DEBIAN", "control")
    with open(ctl) as f:
        text = re.sub(r"(?m)^Version: .*$", "Version: " + version, f.read())
    with open(ctl, "w") as f:
        f.write(text)
    with open(os.path.join(tree, "DEBIAN", "conffiles")) as f:
        conffiles = f.read().split()
    for c in conffiles:
        with open(tree + c, "a") as f:
            f.write(note + "\n")
    sums = subprocess.run("cd %s && find usr lib etc -type f -print0 | sort -z | xargs -0 md5sum" % tree,
                          shell=True, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(tree, "DEBIAN", "md5sums"), "w") as f:
        f.write(sums)
    name = os.path.basename(deb).replace("_%s_" % (meson_version() + SUFFIX), "_%s_" % version)
    out = os.path.join(outdir, name)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", tree, out], check=True,
                   capture_output=True)
    shutil.rmtree(tree)
    return out


class TestPackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fcpkg-")
        try:
            cls._build()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _build(cls):
        import units_nspawn     # the same cached tree, made once for both tests
        w = cls.tmp
        for d in ("upper", "work", "root", "debs", "out"):
            os.makedirs(os.path.join(w, d))
        t0 = time.monotonic()
        r = subprocess.run([os.path.join(SOURCE, "scripts", "package"), "--no-deps", "--out", w + "/out",
                            "--version-suffix", SUFFIX], capture_output=True, text=True, timeout=900)
        cls.build_s = time.monotonic() - t0
        if r.returncode != 0:
            raise AssertionError("scripts/package failed (%d): %s" % (r.returncode, r.stderr[-3000:]))
        cls.printed = r.stdout.split()
        cls.version = meson_version() + SUFFIX
        cls.debs = {}
        for p in ("fleetclock-agent", "fleetclock-collector"):
            deb = os.path.join(w, "out", "%s_%s_%s.deb" % (p, cls.version, cls.arch))
            shutil.copy(deb, w + "/debs")
            cls.debs[p] = deb
            repack(deb, w + "/debs", meson_version() + SUFFIX2, "# changed in " + SUFFIX2)
        cls.lower = units_nspawn.tree()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def inroot(self, script, check=True):
        """Run script (sh -e) inside the scratch root; return the CompletedProcess."""
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            SCRIPT.format(lower=self.lower, w=self.tmp), script],
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("in the scratch root: exit %d\n%s\n%s%s" % (r.returncode, script, r.stdout,
                                                                           r.stderr))
        return r

    def debs_of(self, version):
        return " ".join("/debs/%s_%s_%s.deb" % (p, version, self.arch)
                        for p in ("fleetclock-agent", "fleetclock-collector"))

    def test_1_build_and_lintian(self):
        print("build: %.0f s; printed %s" % (self.build_s, " ".join(map(os.path.basename, self.printed))))
        for d in self.debs.values():
            self.assertIn(d, self.printed)
        r = subprocess.run(["lintian", "--no-tag-display-limit"] + list(self.debs.values()),
                           capture_output=True, text=True, timeout=300)
        print(r.stdout + r.stderr)
        errors = [line for line in r.stdout.splitlines() if line.startswith("E: ")]
        self.assertEqual(errors, [], "lintian errors")
        self.assertNotIn(r.returncode, (-1, 2), "lintian did not run: " + r.stderr)
        # The version of meson.build, and the suffix, as dpkg sees them.
        info = subprocess.run(["dpkg-deb", "-f", self.debs["fleetclock-agent"], "Version", "Depends"],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("Version: " + self.version, info)
        self.assertRegex(info, r"Depends: .*\bchrony\b")

    def test_2_install(self):
        self.inroot("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d\n"
                    "apt-get install -y -q --no-install-recommends %s" % self.debs_of(self.version))
        out = self.inroot("""
for f in /usr/sbin/fleetclock-agent /usr/sbin/fleetclock-collector /usr/share/man/man8/fleetclock-agent.8.gz \\
  /lib/systemd/system/fleetclock-agent.service /lib/systemd/system/fleetclock-rtc-restore.service \\
  /lib/systemd/system/fleetclock-collector.service /lib/systemd/system/chrony.service.d/fleetclock.conf \\
  /lib/udev/rules.d/60-fleetclock.rules /usr/include/fleetclock_gate.h \\
  /usr/lib/python3/dist-packages/fleetclock.py; do test -e $f || echo "MISSING $f"; done
ls /usr/lib/*/libfleetclock-gate.so.1 /usr/lib/*/pkgconfig/fleetclock-gate.pc >/dev/null
echo "agent-user: $(id -nG _fleetclock)"
echo "collector-user: $(id -nG _fleetclock-collector)"
echo "conf: $(stat -c '%n %a %U:%G' /etc/fleetclock/agent.conf /etc/fleetclock/collector.conf | tr '\\n' ' ')"
echo "state: $(stat -c '%a %U:%G' /var/lib/fleetclock)"
echo "exec: $(grep -h ^ExecStart= /lib/systemd/system/fleetclock-*.service | tr '\\n' ' ')"
echo "enabled: $(find /etc/systemd/system -name 'fleetclock*' | tr '\\n' ' ')"
/usr/sbin/fleetclock-agent --version
/usr/sbin/fleetclock-collector --version
/usr/sbin/fleetclock-agent --print-config --config /etc/fleetclock/agent.conf | grep -q '^role = headset'
echo print-config-ok
rc=0; timeout 10 /usr/sbin/fleetclock-collector --config /etc/fleetclock/collector.conf 2>&1 || rc=$?
echo "collector-exit: $rc"
""").stdout
        print(out)
        self.assertNotIn("MISSING", out)
        self.assertRegex(out, r"agent-user: (?=.*\b_fleetclock\b)(?=.*\b_chrony\b)(?=.*\bi2c\b)")
        self.assertIn("collector-user: _fleetclock-collector", out)
        self.assertIn("/etc/fleetclock/agent.conf 640 root:_fleetclock /etc/fleetclock/collector.conf 640 "
                      "root:_fleetclock-collector", out)
        self.assertIn("state: 750 _fleetclock:_fleetclock", out)
        self.assertNotIn("/usr/local", re.search(r"exec: .*", out).group(0))
        self.assertRegex(out, r"enabled: *\n", "the package enabled a unit")
        self.assertIn("fleetclock-agent " + meson_version(), out)
        self.assertIn("print-config-ok", out)
        self.assertIn("CHANGE-ME", out)
        rc = int(re.search(r"collector-exit: (\d+)", out).group(1))
        self.assertTrue(rc != 0 and rc != 124, "the collector ran with the placeholder token (exit %d)" % rc)

    def test_3_upgrade_keeps_changed_conffile(self):
        self.inroot("sed -i 's/^role = headset/role = master/' /etc/fleetclock/agent.conf\n"
                    "echo '# changed here' >> /etc/fleetclock/agent.conf")
        new = meson_version() + SUFFIX2
        r = self.inroot("apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef "
                        "-o Dpkg::Options::=--force-confold %s" % self.debs_of(new))
        print(r.stdout[-1500:])
        out = self.inroot("""
dpkg-query -W -f '${Package} ${Version}\\n' fleetclock-agent fleetclock-collector
echo "agent.conf: $(grep -c -e '^role = master' -e '^# changed here' /etc/fleetclock/agent.conf) \
$(grep -c 'changed in' /etc/fleetclock/agent.conf || true)"
echo "dist: $(grep -c 'changed in' /etc/fleetclock/agent.conf.dpkg-dist)"
echo "collector.conf: $(grep -c 'changed in' /etc/fleetclock/collector.conf)"
echo "conf: $(stat -c '%n %a %U:%G' /etc/fleetclock/agent.conf /etc/fleetclock/collector.conf | tr '\\n' ' ')"
echo "enabled: $(find /etc/systemd/system -name 'fleetclock*' | tr '\\n' ' ')"
""").stdout
        print(out)
        self.assertIn("fleetclock-agent " + new, out)
        self.assertIn("fleetclock-collector " + new, out)
        self.assertIn("agent.conf: 2 0", out, "the local agent.conf was not kept")
        self.assertIn("dist: 1", out, "the new default is not beside it as .dpkg-dist")
        self.assertIn("collector.conf: 1", out, "the unchanged collector.conf did not take the new default")
        self.assertIn("/etc/fleetclock/agent.conf 640 root:_fleetclock /etc/fleetclock/collector.conf 640 "
                      "root:_fleetclock-collector", out)
        self.assertRegex(out, r"enabled: *\n")

    def test_4_remove_keeps_conffiles(self):
        self.inroot("dpkg -r fleetclock-agent fleetclock-collector")
        out = self.inroot("""
ls /usr/sbin/fleetclock-agent /usr/sbin/fleetclock-collector 2>/dev/null || echo programs-gone
ls /etc/fleetclock/agent.conf /etc/fleetclock/collector.conf
getent passwd _fleetclock _fleetclock-collector | cut -d: -f1
dpkg-query -W -f '${Package} ${Status}\\n' fleetclock-agent fleetclock-collector
""").stdout
        print(out)
        self.assertIn("programs-gone", out)
        self.assertIn("/etc/fleetclock/agent.conf", out)
        self.assertIn("/etc/fleetclock/collector.conf", out)
        self.assertIn("fleetclock-agent deinstall ok config-files", out)

    def test_5_purge_removes_the_rest(self):
        self.inroot("dpkg -P fleetclock-agent fleetclock-collector")
        out = self.inroot("""
ls -d /etc/fleetclock /var/lib/fleetclock /lib/systemd/system/fleetclock-agent.service \
  /lib/systemd/system/chrony.service.d/fleetclock.conf /lib/udev/rules.d/60-fleetclock.rules 2>/dev/null || true
echo "overrides: $(dpkg-statoverride --list | grep -c fleetclock || true)"
echo "helper-state: $(find /var/lib/systemd/deb-systemd-helper-enabled -name 'fleetclock*' 2>/dev/null | wc -l)"
echo "status: $(dpkg-query -W -f '${Status}' fleetclock-agent 2>&1 || true)"
echo "users: $(getent passwd _fleetclock _fleetclock-collector | cut -d: -f1 | tr '\\n' ' ')"
""").stdout
        print(out)
        self.assertNotIn("/etc/fleetclock", out)
        self.assertNotIn("/var/lib/fleetclock", out)
        self.assertNotIn("/lib/", out)
        self.assertIn("overrides: 0", out)
        self.assertIn("helper-state: 0", out)
        self.assertRegex(out, r"status: (dpkg-query: no packages found|unknown ok not-installed)")
        self.assertIn("users: _fleetclock _fleetclock-collector", out)

    # Under a real systemd: what the maintainer scripts do to units (they act only
    # when systemd runs, so the tests above cannot see it). A second, fresh scratch root,
    # booted, with no policy-rc.d: whatever starts is the packages' own doing.
    def test_6_under_systemd(self):
        ct = Booted(self.lower, os.path.join(self.tmp, "debs"), os.path.join(self.tmp, "boot"))
        try:
            self._under_systemd(ct)
        finally:
            ct.stop()

    def _under_systemd(self, ct):
        units = ("fleetclock-agent.service", "fleetclock-collector.service", "fleetclock-rtc-restore.service")
        ct.run("apt-get", "install", "-y", "-q", "--no-install-recommends", *self.debs_of(self.version).split(),
               timeout=120)
        # Installed: nothing enabled, nothing started (the collector still has CHANGE-ME).
        for u in units:
            p = ct.show(u, "ActiveState", "UnitFileState", "LoadState")
            self.assertEqual((p["LoadState"], p["ActiveState"], p["UnitFileState"]),
                             ("loaded", "inactive", "disabled"), u)
        # The admin starts the agent (its default configuration is enough to run).
        ct.run("systemctl", "enable", "--now", "fleetclock-agent.service", timeout=60)
        before = ct.show("fleetclock-agent.service", "ActiveState", "MainPID")
        self.assertEqual(before["ActiveState"], "active", ct.journal("fleetclock-agent.service"))
        # Upgrade: the running agent is restarted (new MainPID), the rest stays as it was.
        ct.run("apt-get", "install", "-y", "-q", "--no-install-recommends", "-o",
               "Dpkg::Options::=--force-confold", *self.debs_of(meson_version() + SUFFIX2).split(), timeout=120)
        after = ct.show("fleetclock-agent.service", "ActiveState", "MainPID", "UnitFileState")
        self.assertEqual((after["ActiveState"], after["UnitFileState"]), ("active", "enabled"),
                         ct.journal("fleetclock-agent.service"))
        self.assertNotEqual(after["MainPID"], before["MainPID"], "the agent was not restarted on upgrade")
        for u in units[1:]:
            self.assertEqual(ct.show(u, "ActiveState")["ActiveState"], "inactive", u + " started on upgrade")
        # Remove: the daemon is stopped, not left running a deleted binary.
        ct.run("dpkg", "-r", "fleetclock-agent", "fleetclock-collector", timeout=60)
        left = ct.show("fleetclock-agent.service", "ActiveState")["ActiveState"]
        alive = ct.run("sh", "-c", "test -d /proc/%s && echo alive || echo gone" % after["MainPID"]).stdout.strip()
        self.assertEqual((left, alive), ("inactive", "gone"), "the agent still runs after remove")
        ct.run("dpkg", "-P", "fleetclock-agent", "fleetclock-collector", timeout=60)
        self.assertEqual(ct.run("sh", "-c", "ls /etc/systemd/system/*/fleetclock* 2>/dev/null || true").stdout, "",
                         "enable links left after purge")


class Booted:
    """A fresh overlay of the cached tree booted with systemd-nspawn -b (no network); run()
    executes a command inside. nspawn leaves CAP_SYS_TIME out of the container's bounding set,
    so nothing in it can set this machine's clock (chrony.service's own condition skips it)."""

    def __init__(self, lower, debs, workdir):
        import units_nspawn
        self.children = units_nspawn.children
        root = os.path.join(workdir, "root")
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(workdir, d))
        self.log = os.path.join(workdir, "console.log")
        script = """set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={w}/upper,workdir={w}/work {root}
exec systemd-nspawn -q --register=no --keep-unit --private-network --bind-ro={debs}:/debs \
  --setenv=DEBIAN_FRONTEND=noninteractive -D {root} -b
""".format(lower=lower, w=workdir, root=root, debs=debs)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.pid1 = fctest.wait_for(self._pid1, 60, step=0.2, what="the container's systemd (see %s)" % self.log)
            with open("/proc/%d/status" % self.pid1) as f:
                eff = int(re.search(r"CapBnd:\s*([0-9a-f]+)", f.read()).group(1), 16)
            if eff & (1 << 25):
                raise AssertionError("the container has CAP_SYS_TIME: refusing to go on")
            fctest.wait_for(self._booted, 60, step=0.5, what="the container's boot to finish")
        except BaseException:
            self.stop()
            raise

    def _pid1(self):
        if self.proc.poll() is not None:
            raise AssertionError("systemd-nspawn exited %d: %s" % (self.proc.returncode, open(self.log).read()[-2000:]))
        for c in self.children(self.proc.pid):
            try:
                with open("/proc/%d/comm" % c) as f:
                    if f.read().strip() == "systemd":
                        return c
            except OSError:
                pass
        return None

    def _booted(self):
        r = self.run("systemctl", "is-system-running", check=False)
        return r.stdout.strip() in ("running", "degraded")

    def run(self, *cmd, check=True, timeout=30):
        r = subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p", "--", "env",
                            "DEBIAN_FRONTEND=noninteractive"] + list(cmd),
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("in the container: %s: exit %d: %s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                                          r.stderr))
        return r

    def show(self, unit, *props):
        out = self.run("systemctl", "show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit):
        return self.run("journalctl", "-u", unit, "--no-pager", "-n", "40", check=False).stdout[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)     # nspawn: orderly poweroff of the container
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("installing packages in a scratch root needs root (mount, systemd-nspawn)")
    if not shutil.which("systemd-nspawn"):
        skip("no systemd-nspawn (apt-get install systemd-container)")
    if "overlay" not in open("/proc/filesystems").read():
        skip("no overlayfs in this kernel (the scratch root is an overlay of the cached tree)")
    for tool, pkg in (("dh", "debhelper"), ("dpkg-buildpackage", "dpkg-dev"), ("lintian", "lintian"),
                      ("fakeroot", "fakeroot")):
        if not shutil.which(tool):
            skip("no %s (apt-get install %s)" % (tool, pkg))
    TestPackages.arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                                       check=True).stdout.strip()
    fctest.main()
