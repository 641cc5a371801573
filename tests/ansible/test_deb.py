#!/usr/bin/env python3
"""The Ansible deb path (issue 17, deliverable 3) in the namespace fleet (fleet.py).

1. The per-node source build it replaces: site.yml with fleetclock_install_method
   source on three fresh hosts (each builds with meson), timed.
2. Build once per architecture: three fresh hosts, each with its own /usr and dpkg
   database (Fleet(own_usr=True)), fleetclock_install_method deb and no .deb on the
   controller. h1, the first node of the architecture, builds the .debs natively from
   the packed source; the controller fetches them; all three install them (h1 the
   collector too). Timed against 1.
3. Upgrade: a newer build (scripts/package --version-suffix +build2) put in the
   controller's directory; site.yml upgrades every host without building, and the
   configuration the roles wrote (a conffile of the package) is kept: dpkg leaves it
   and the template task finds nothing to change.

This machine's own dpkg database and /usr are never changed. About 2-3 minutes.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
from test_fleet import FAST, SOURCE, installed, role_packages  # noqa: E402

PACKAGE = os.path.join(SOURCE, "scripts", "package")
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
VERSION = re.search(r"version : '([^']+)'", open(os.path.join(SOURCE, "meson.build")).read()).group(1)
TIMES = {}


def task_results(out, task):
    """{host: 'ok'|'changed'|'skipping'|...} for the task named `task` (role prefix aside)."""
    m = re.search(r"(?ms)^TASK \[(?:[\w.]+ : )?%s\] \*+\n(.*?)(?=^TASK |^RUNNING HANDLER |^PLAY )"
                  % re.escape(task), out)
    if not m:
        return {}
    return {h: s for s, h in re.findall(r"(?m)^(ok|changed|skipping|failed|fatal): \[(\w+)", m.group(1))}


def install_time(jdir):
    """{host: seconds} spent in fleetclock_install's tasks, from the junit report(s)."""
    per_host = {}
    for path in glob.glob(os.path.join(jdir, "*.xml")):
        for tc in ET.parse(path).iter("testcase"):
            m = re.match(r"\[(h\d+)\] .*: fleetclock_install : ", tc.get("name", ""))
            if m:
                per_host[m.group(1)] = per_host.get(m.group(1), 0.0) + float(tc.get("time") or 0)
    return per_host


class TestDeb(unittest.TestCase):
    fleet = None

    @classmethod
    def tearDownClass(cls):
        if cls.fleet:
            cls.fleet.stop()
        if TIMES:
            print("\nsite.yml on 3 hosts: " + ", ".join("%s %.1f s" % kv for kv in TIMES.items()))

    @classmethod
    def start_fleet(cls, method, own_usr):
        if cls.fleet:
            cls.fleet.stop()
        cls.fleet = fleet.Fleet(own_usr=own_usr)
        cls.fleet.start()
        controller = cls.fleet.top + "/controller"
        all_vars = {
            "fleetclock_install_method": method,
            "fleetclock_service_manager": "direct",       # test-only: no systemd as PID 1 here
            "chrony_daemon_args": ["-x"],                 # test-only: never touch the clock
            "fleetclock_upstream_servers": [fleet.NET + ".1"],
            "fleetclock_fleet_network": fleet.NET + ".0/24",
            "chrony_upstream_options": FAST,
            "chrony_fleet_options": FAST,
            "fleetclock_rtc_device": "none",
            "fleetclock_source_dir": SOURCE,
            "fleetclock_controller_tmp": controller,
            "fleetclock_collector_token": "fcdeploy-deb-test",
        }
        wanted, conflicting = role_packages()
        if [p for p in wanted if not installed(p)] + [p for p in conflicting if installed(p)]:
            all_vars["chrony_install_packages"] = False
            all_vars["fleetclock_install_packages"] = False
        groups = {"masters": ["h1"], "players": ["h2", "h3"], "collector": ["h1"]}
        cls.deb_dir = controller + "/debs"
        cls.inventory = cls.fleet.write_inventory(groups, {}, all_vars)

    def play(self, label):
        # Ansible's junit callback records each task's time on each host: the time the
        # nodes spend installing fleetclock (fleetclock_install) is printed beside the
        # wall time, since a Pi Zero W pays for builds in node time, not in this
        # machine's.
        jdir = tempfile.mkdtemp(prefix="junit-", dir=self.fleet.top)
        saved = {k: os.environ.get(k) for k in ("ANSIBLE_CALLBACKS_ENABLED", "JUNIT_OUTPUT_DIR")}
        os.environ.update(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=jdir)
        t0 = time.monotonic()
        try:
            r = self.fleet.playbook(SOURCE, "site.yml", self.inventory)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        TIMES[label] = time.monotonic() - t0
        node = install_time(jdir)
        print("--- site.yml (%s): exit %d in %.1f s; fleetclock_install on the nodes: %s"
              % (label, r.returncode, TIMES[label],
                 ", ".join("%s %.1f s" % kv for kv in sorted(node.items()))), flush=True)
        fatal = [l for l in r.stdout.splitlines() if l.startswith(("fatal:", "failed:"))]
        self.assertEqual(r.returncode, 0, "\n".join(fatal + r.stdout.splitlines()[-60:]) + r.stderr[-3000:])
        return r

    def host_version(self, name, pkg):
        return self.fleet.ssh(name, "dpkg-query -W -f '${Status} ${Version}' %s" % pkg).stdout

    def agent_runs(self, name, exe):
        st = self.fleet.ssh(name, "setpriv --reuid=_fleetclock --regid=_fleetclock --init-groups "
                            "%s --status --json" % exe, check=True).stdout
        self.assertEqual(json.loads(st)["endpoint"], "unix:/run/chrony/chronyd.sock", name)

    def test_1_source_per_node(self):
        self.start_fleet("source", own_usr=False)
        r = self.play("source, built on each node")
        self.assertEqual(sorted(h for h, s in task_results(r.stdout, "Build and install with meson").items()
                                if s == "changed"), ["h1", "h2", "h3"])
        for name in self.fleet.hosts:
            self.agent_runs(name, "/usr/local/sbin/fleetclock-agent")

    def test_2_deb_built_once(self):
        self.start_fleet("deb", own_usr=True)
        r = self.play("deb, built once on h1")
        # One build, on the first node of the architecture; the others install its .debs.
        built = task_results(r.stdout, "Build the packages with scripts/package")
        self.assertEqual(built, {"h1": "changed"}, r.stdout[-3000:])
        debs = sorted(os.listdir(self.deb_dir))
        self.assertEqual(debs, ["fleetclock-%s_%s_%s.deb" % (p, VERSION, ARCH) for p in ("agent", "collector")])
        for name in self.fleet.hosts:
            self.assertEqual(self.host_version(name, "fleetclock-agent"), "install ok installed " + VERSION, name)
            self.agent_runs(name, "/usr/sbin/fleetclock-agent")
            self.assertEqual(self.fleet.ssh(name, "ls /usr/local/sbin/fleetclock-agent 2>&1; echo $?").stdout.split()[-1],
                             "2", "%s: no source install beside the package" % name)
        self.assertEqual(self.host_version("h1", "fleetclock-collector"), "install ok installed " + VERSION)
        self.assertNotIn("installed", self.host_version("h2", "fleetclock-collector"))
        # Each host's installs are its own: this machine's dpkg has no fleetclock package.
        self.assertFalse(installed("fleetclock-agent"))
        self.assertFalse(os.path.exists("/usr/sbin/fleetclock-agent"))

    def test_3_upgrade_keeps_config(self):
        if not self.fleet or not self.fleet.overlays.startswith("etc var usr "):
            self.skipTest("needs test_2's fleet")
        before = {n: self.fleet.ssh(n, "sha256sum /etc/fleetclock/agent.conf", check=True).stdout
                  for n in self.fleet.hosts}
        t0 = time.monotonic()
        subprocess.run([PACKAGE, "--no-deps", "--version-suffix", "+build2", "--out", self.deb_dir],
                       check=True, capture_output=True, timeout=600)
        print("--- scripts/package +build2 on the controller: %.1f s" % (time.monotonic() - t0))
        r = self.play("deb upgrade, prebuilt")
        self.assertEqual(task_results(r.stdout, "Build the packages with scripts/package"), {})
        self.assertEqual(set(task_results(r.stdout, "Install the packages").values()), {"changed"})
        for name in self.fleet.hosts:
            self.assertEqual(self.host_version(name, "fleetclock-agent"),
                             "install ok installed %s+build2" % VERSION, name)
            # The roles' agent.conf went through the upgrade as it was: dpkg kept the
            # conffile and the template task found nothing to change.
            after = self.fleet.ssh(name, "sha256sum /etc/fleetclock/agent.conf; "
                                   "ls /etc/fleetclock/ | grep -c dpkg-", check=False).stdout.split("\n")
            self.assertEqual(after[0] + "\n", before[name], name)
            self.assertEqual(after[1].strip(), "0", name)
            self.agent_runs(name, "/usr/sbin/fleetclock-agent")
        self.assertEqual(set(task_results(r.stdout, "Write agent.conf").values()), {"ok"})
        self.assertEqual(self.host_version("h1", "fleetclock-collector"),
                         "install ok installed %s+build2" % VERSION)


if __name__ == "__main__":
    missing = [t for t in ("dpkg-buildpackage", "dh", "fakeroot", "ansible-playbook", "sshd")
               if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t)]
    if missing:
        print("SKIP: the deb path's test needs %s (scripts/deps.sh)" % ", ".join(missing))
        sys.exit(77)
    unittest.main(verbosity=2)
