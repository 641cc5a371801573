#!/usr/bin/env python3
"""etc/ is what the roles render for the example inventory (no drift between the
examples and what is deployed); the systemd units pass systemd-analyze verify without
a single warning; the chrony configurations parse (chronyd -p) and follow the policy."""

import filecmp
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.path.abspath(os.environ.get("FLEETCLOCK_SOURCE", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(os.environ.get("FLEETCLOCK_BUILD", os.path.join(SOURCE, "build")))
ANSIBLE = os.path.join(SOURCE, "ansible")
ETC = os.path.join(SOURCE, "etc")

HAND_WRITTEN = ("grafana/", "prometheus/")


def render(outdir, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ANSIBLE, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=outdir + "/.ansible-tmp")
    r = subprocess.run(["ansible-playbook", "-i", "inventory/hosts.yml", "render-examples.yml",
                        "-e", "fleetclock_example_dir=" + outdir] + list(extra),
                       cwd=ANSIBLE, capture_output=True, text=True, env=env, timeout=300)
    shutil.rmtree(outdir + "/.ansible-tmp", ignore_errors=True)
    return r


class TestEtc(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fcdeploy-etc-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_examples_match_the_roles(self):
        r = render(self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rendered = sorted(os.path.relpath(p, self.tmp) for p in glob.glob(self.tmp + "/**", recursive=True)
                          if os.path.isfile(p))
        # etc/grafana and etc/prometheus are written by hand (docs/monitoring.md), not by the roles.
        committed = sorted(os.path.relpath(p, ETC) for p in glob.glob(ETC + "/**", recursive=True)
                           if os.path.isfile(p) and not os.path.relpath(p, ETC).startswith(HAND_WRITTEN))
        self.assertEqual(rendered, committed)
        for rel in rendered:
            with self.subTest(file=rel):
                self.assertTrue(filecmp.cmp(os.path.join(self.tmp, rel), os.path.join(ETC, rel), shallow=False),
                                "etc/%s differs from what the roles render; regenerate with: cd ansible && "
                                "ansible-playbook -i inventory/hosts.yml render-examples.yml "
                                "-e fleetclock_example_dir=$PWD/../etc" % rel)

    def test_units_verify(self):
        # Rendered with ExecStart= on the binaries just built, so that verify also checks
        # the commands exist; the man page is found through MANPATH.
        agent = os.path.join(BUILD, "agent", "fleetclock-agent")
        collector = os.path.join(BUILD, "collector", "fleetclock-collector")
        if not os.path.exists(collector):
            collector = agent  # the collector is not built on this branch yet
        r = render(self.tmp, "-e", "fleetclock_agent_bin=" + agent, "-e", "fleetclock_collector_bin=" + collector)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        man = os.path.join(self.tmp, "man", "man8")
        os.makedirs(man)
        shutil.copy(os.path.join(SOURCE, "agent", "fleetclock-agent.8"), man)
        units = sorted(glob.glob(self.tmp + "/systemd/*.service"))
        self.assertEqual(len(units), 3)
        for unit in units:
            with self.subTest(unit=os.path.basename(unit)):
                v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                                   env=dict(os.environ, MANPATH=self.tmp + "/man:"), timeout=60)
                # Unknown keys are only warnings (exit 0): any output is a failure.
                self.assertEqual((v.returncode, v.stdout + v.stderr), (0, ""))

    def test_verify_can_fail(self):
        with open(os.path.join(ETC, "systemd", "fleetclock-agent.service")) as f:
            text = f.read()
        bad = os.path.join(self.tmp, "fleetclock-agent.service")
        with open(bad, "w") as f:
            f.write(text.replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectSystm=yes"))
        v = subprocess.run(["systemd-analyze", "verify", bad], capture_output=True, text=True, timeout=60)
        self.assertIn("ProtectSystm", v.stdout + v.stderr)

    def test_unit_policy(self):
        def unit(name):
            with open(os.path.join(ETC, "systemd", name)) as f:
                return f.read()
        agent = unit("fleetclock-agent.service")
        for line in ("Type=notify", "User=_fleetclock", "SupplementaryGroups=_chrony i2c",
                     "ProtectSystem=strict", "NoNewPrivileges=yes"):
            self.assertIn("\n" + line + "\n", agent)
        self.assertRegex(agent, r"\nWatchdogSec=\d+\n")
        # The example RTC is a DS1307 on /dev/i2c-1 and the election is off: CAP_SYS_NICE only
        # (the RTC write at SCHED_FIFO), no clock control (docs/units.md).
        self.assertIn("\nCapabilityBoundingSet=CAP_SYS_NICE\n", agent)
        self.assertIn("\nProtectClock=yes\n", agent)
        self.assertIn("\nRuntimeDirectory=fleetclock\n", agent)
        rtc = unit("fleetclock-rtc-restore.service")
        self.assertIn("\nType=oneshot\n", rtc)
        self.assertRegex(rtc, r"\nBefore=[^\n]*\bchrony\.service\b")
        self.assertRegex(rtc, r"\nBefore=[^\n]*\bchronyd\.service\b")
        self.assertIn("\nCapabilityBoundingSet=CAP_SYS_TIME\n", rtc)
        self.assertIn("--hctosys", rtc)
        # chronyd's socket usable by the _chrony group (Debian's unit: 0700, umask 022).
        dropin = unit("chrony.service.d/fleetclock.conf")
        self.assertIn("\nRuntimeDirectoryMode=0770\n", dropin)
        self.assertIn("\nUMask=0007\n", dropin)
        collector = unit("fleetclock-collector.service")
        self.assertIn("\nCapabilityBoundingSet=\n", collector)
        self.assertIn("\nProtectSystem=strict\n", collector)

    def test_election_transport(self):
        # Unicast by default (etc/): the other candidate as peer, no group, own address
        # bound; multicast on request: the group, no peers, still bound (the interface).
        def election(path):
            with open(path) as f:
                return dict(re.findall(r"(?m)^(group|bind|peers) = (.*)$",
                                       f.read().split("[election]")[1]))
        self.assertEqual(election(os.path.join(ETC, "fleetclock", "agent-master.conf")),
                         {"group": "", "bind": "192.168.50.10", "peers": "192.168.50.11"})
        self.assertEqual(election(os.path.join(ETC, "fleetclock", "agent-failover.conf")),
                         {"group": "", "bind": "192.168.50.11", "peers": "192.168.50.10"})
        r = render(self.tmp, "-e", "fleetclock_election_multicast=true")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(election(os.path.join(self.tmp, "fleetclock", "agent-master.conf")),
                         {"group": "239.255.31.91", "bind": "192.168.50.10"})
        with open(os.path.join(self.tmp, "fleetclock", "agent-headset.conf")) as f:
            self.assertNotIn("[election]", f.read())

    def test_chrony_configs(self):
        for role in ("master", "failover", "headset"):
            path = os.path.join(ETC, "chrony", role + ".conf")
            with self.subTest(role=role):
                p = subprocess.run(["chronyd", "-p", "-f", path], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(path) as f:
                    conf = f.read()
                self.assertNotRegex(conf, r"(?m)^\s*(rtcsync|local)\b")   # the agent owns both
                self.assertRegex(conf, r"(?m)^makestep 1\.0 3$")
                servers = re.findall(r"(?m)^server (\S+)", conf)
                if role == "headset":
                    # Only the master candidates, best priority first; no upstream.
                    self.assertEqual(servers, ["192.168.50.10", "192.168.50.11"])
                    self.assertNotRegex(conf, r"(?m)^allow")
                else:
                    self.assertEqual(servers[0], "192.168.50.1")
                    self.assertRegex(conf, r"(?m)^allow 192\.168\.50\.0/24$")

    def test_ntp_keys(self):
        # With a fleet key: "key N" on every fleet line (headset -> candidates, candidate
        # <-> candidate), never on an upstream line; the keyfile holds the documented
        # derivation; during a rotation both ids, the fleet lines on the new one.
        import hashlib
        fleet_key = "00112233445566778899aabbccddeeff" * 2

        def derived(i):
            return hashlib.sha256(("fleetclock-ntp-v1:%d:%s" % (i, fleet_key)).encode()).hexdigest()
        for extra, ids, used in ((["-e", "fleetclock_fleet_key=" + fleet_key], [1001], 1001),
                                 (["-e", "fleetclock_fleet_key=" + fleet_key, "-e",
                                   '{"fleetclock_ntp_key_ids": [1001, 1002], "fleetclock_ntp_key_id": 1002}'],
                                  [1001, 1002], 1002)):
            with self.subTest(ids=ids):
                out = tempfile.mkdtemp(prefix="fcdeploy-etc-keys-", dir=self.tmp)
                r = render(out, *extra)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                with open(os.path.join(out, "chrony", "fleet.keys")) as f:
                    keys = re.findall(r"(?m)^(\d+) AES256 HEX:([0-9a-f]{64})$", f.read())
                self.assertEqual(keys, [(str(i), derived(i)) for i in ids])
                for role in ("master", "failover", "headset"):
                    path = os.path.join(out, "chrony", role + ".conf")
                    p = subprocess.run(["chronyd", "-p", "-f", path], capture_output=True, text=True, timeout=30)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    with open(path) as f:
                        conf = f.read()
                    self.assertRegex(conf, r"(?m)^keyfile /etc/chrony/fleet\.keys$")
                    lines = dict(re.findall(r"(?m)^server (\S+)(.*)$", conf))
                    fleet = {a: o for a, o in lines.items() if a.startswith("192.168.50.1") and a != "192.168.50.1"}
                    self.assertTrue(fleet, conf)
                    for a, o in fleet.items():
                        self.assertTrue(o.endswith(" key %d" % used), (role, a, o))
                    if role != "headset":
                        self.assertEqual(lines["192.168.50.1"], " iburst")   # upstream untouched
                with open(os.path.join(out, "fleetclock", "agent-headset.conf")) as f:
                    self.assertIn("\nntp_auth = required\n", f.read())
        # Without a fleet key (the committed examples): no keys anywhere.
        with open(os.path.join(ETC, "chrony", "headset.conf")) as f:
            self.assertNotRegex(f.read(), r"(?m)\bkey \d+|^keyfile")


def meson_lookups():
    """(pkg-config dependencies, (library, header or None), programs) that the meson.build
    files of a -Dtests=false build look for (tests-only lookups left out)."""
    deps, libs, progs = set(), set(), set()
    for path in ["meson.build"] + glob.glob(os.path.join(SOURCE, "*", "meson.build")):
        rel = os.path.relpath(os.path.join(SOURCE, path), SOURCE)
        if rel.startswith(("tests" + os.sep, "fuzz" + os.sep)):
            continue
        with open(os.path.join(SOURCE, path)) as f:
            text = f.read()
        for m in re.finditer(r"(?m)\bdependency\('([^']+)'(.*)$", text):
            if "get_option('tests')" not in m.group(2):
                deps.add(m.group(1))
        for m in re.finditer(r"find_library\('([^']+)'([^)]*)\)", text):
            header = re.search(r"has_headers\s*:\s*\['([^']+)'", m.group(2))
            libs.add((m.group(1), header.group(1) if header else None))
        progs.update(re.findall(r"find_program\('([^']+)'", text))
    return deps, libs, progs


def debian_package_of(path):
    r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    return r.stdout.split(":")[0].strip() if r.returncode == 0 else None


class TestBuildPackages(unittest.TestCase):
    """The role's build package list (fleetclock_build_packages) has everything meson
    looks for, so a fresh node's build neither fails (libcrypto) nor silently drops a
    feature (libsystemd: no sd_notify under a Type=notify unit)."""

    # Where this machine cannot tell (not installed here, or part of libc).
    KNOWN = {"threads": "libc6-dev", "m": "libc6-dev", "dl": "libc6-dev", "python3": "python3",
             "libcrypto": "libssl-dev", "libsystemd": "libsystemd-dev", "libcurl": "libcurl4-openssl-dev",
             "libmicrohttpd": "libmicrohttpd-dev", "sqlite3": "libsqlite3-dev", "jansson": "libjansson-dev",
             "inih": "libinih-dev", "i2c": "libi2c-dev"}
    # The same .pc from another flavour of a package.
    SAME = {"libcurl4-gnutls-dev": "libcurl4-openssl-dev", "libcurl4-nss-dev": "libcurl4-openssl-dev",
            "python3-minimal": "python3"}

    def role_packages(self):
        with open(os.path.join(ANSIBLE, "roles", "fleetclock_install", "defaults", "main.yml")) as f:
            m = re.search(r"(?m)^fleetclock_build_packages:\n((?:  - .*\n)+)", f.read())
        return set(re.findall(r"  - (\S+)", m.group(1)))

    def needed(self):
        deps, libs, progs = meson_lookups()
        need = {"meson": "meson", "ninja": "ninja-build", "pkg-config": "pkg-config", "cc": "gcc"}
        for d in deps:
            pc = subprocess.run(["pkg-config", "--path", d], capture_output=True, text=True).stdout.strip()
            need[d] = (pc and debian_package_of(pc)) or self.KNOWN.get(d)
        for lib, header in libs:
            need[lib] = (header and debian_package_of("/usr/include/" + header)) or self.KNOWN.get(lib)
        for p in progs:
            need[p] = self.KNOWN.get(p) or debian_package_of(shutil.which(p) or "/nonexistent")
        return {k: self.SAME.get(v, v) for k, v in need.items()}

    def test_role_installs_what_meson_needs(self):
        have = self.role_packages()
        need = self.needed()
        unknown = sorted(k for k, v in need.items() if not v)
        self.assertEqual(unknown, [], "no Debian package known for these meson lookups: add them to KNOWN")
        missing = sorted("%s (for %s)" % (v, k) for k, v in need.items() if v not in have)
        self.assertEqual(missing, [], "fleetclock_build_packages lacks what meson.build looks for")
        # The lookups this test knows of are really found (the parser is not blind).
        self.assertTrue({"libcrypto", "libsystemd", "jansson", "i2c"} <= set(need), need)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(SOURCE, "tests", "harness"))
    import fctest
    fctest.main()
