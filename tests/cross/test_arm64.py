"""The arm64 build under qemu-user (issue 17, deliverable 2).

Cross-builds the tree for arm64 with cross/aarch64-linux-gnu.txt into
$FLEETCLOCK_BUILD/cross-arm64 (Debian's crossbuild-essential-arm64 and the
multiarch -dev:arm64 packages of scripts/deps.sh FLEETCLOCK_CROSS_ARM64_PACKAGES),
runs its Check unit suite under qemu-aarch64 (meson's exe_wrapper), and shows
that the arm64 agent starts: --version, --help, and --status / --status --json
against a real chronyd (-x, on 127.0.52.2, following one on 127.0.52.1) whose
replies the native agent reads too: both must report the same reference, stratum and sources, so a byte-order
or struct-layout slip of the arm64 wire code shows.

Also builds the arm64 .debs (scripts/package --arch arm64) and checks that they hold
aarch64 binaries that start under qemu.

Exit 77 (skipped) when the cross toolchain, qemu or the arm64 libraries are not
installed, naming what is missing. About 1 minute on a warm machine.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from fctest import AGENT, BUILD, SOURCE

CROSS_FILE = os.path.join(SOURCE, "cross", "aarch64-linux-gnu.txt")
CROSS_BUILD = os.path.join(BUILD, "cross-arm64")
ARM_AGENT = os.path.join(CROSS_BUILD, "agent", "fleetclock-agent")
QEMU = shutil.which("qemu-aarch64")
SERVER, CLIENT = "127.0.52.1", "127.0.52.2"
# The .pc files of the arm64 libraries meson.build needs (multiarch -dev:arm64).
ARM_PC = ["inih", "jansson", "libcrypto", "check", "libcurl", "libmicrohttpd", "sqlite3"]


def missing_tools():
    """What the cross build needs and this machine lacks (empty: all there)."""
    missing = [p for p in ("aarch64-linux-gnu-gcc", "qemu-aarch64", "meson", "ninja")
               if shutil.which(p) is None]
    pcdir = "/usr/lib/aarch64-linux-gnu/pkgconfig"
    missing += [p for p in ("dpkg-buildpackage", "dh", "fakeroot", "aarch64-linux-gnu-pkg-config")
                if shutil.which(p) is None]
    missing += ["%s/%s.pc" % (pcdir, pc) for pc in ARM_PC
                if not os.path.exists(os.path.join(pcdir, pc + ".pc"))]
    if not os.path.exists("/usr/lib/aarch64-linux-gnu/libi2c.so"):
        missing.append("/usr/lib/aarch64-linux-gnu/libi2c.so (libi2c-dev:arm64)")
    if not os.path.exists("/lib/ld-linux-aarch64.so.1"):
        missing.append("/lib/ld-linux-aarch64.so.1 (libc6:arm64)")
    return missing


def run(cmd, timeout, env=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise AssertionError("%s failed (exit %d) after %.1f s:\n%s\n%s"
                             % (" ".join(cmd), r.returncode, dt, r.stdout[-4000:], r.stderr[-4000:]))
    return r, dt


def arm_agent(*args, timeout=30):
    return subprocess.run([QEMU, ARM_AGENT] + list(args), capture_output=True, text=True,
                          timeout=timeout)


class Arm64(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.path.exists(os.path.join(CROSS_BUILD, "build.ninja")):
            setup = ["meson", "setup", "--reconfigure", CROSS_BUILD, SOURCE]
        else:
            setup = ["meson", "setup", CROSS_BUILD, SOURCE, "--cross-file", CROSS_FILE,
                     "--werror", "-Dbuildtype=debugoptimized"]
        _, t_setup = run(setup, 300)
        _, t_build = run(["ninja", "-C", CROSS_BUILD], 600)
        print("arm64 cross build: meson setup %.1f s, ninja %.1f s" % (t_setup, t_build))

    def test_binaries_are_aarch64(self):
        for exe in (ARM_AGENT, os.path.join(CROSS_BUILD, "collector", "fleetclock-collector")):
            out = subprocess.run(["file", "-bL", exe], capture_output=True, text=True).stdout
            self.assertIn("ARM aarch64", out, exe)

    def test_unit_suite_under_qemu(self):
        # qemu-user 7.2 has no IP_MULTICAST_IF: announce_sock's multicast case
        # is tagged and left out (the unicast and error cases run).
        env = dict(os.environ, CK_EXCLUDE_TAGS="multicast")
        r, dt = run(["meson", "test", "-C", CROSS_BUILD, "--suite", "unit", "--print-errorlogs",
                     "--num-processes", "2", "-t", "4"], 900, env=env)
        tail = r.stdout.strip().splitlines()
        print("arm64 unit suite under qemu: %.1f s\n%s" % (dt, "\n".join(tail[-9:])))
        self.assertRegex(r.stdout, r"Ok:\s+[1-9]")
        self.assertRegex(r.stdout, r"Fail:\s+0")

    def test_package_arm64(self):
        # scripts/package --arch arm64: dpkg-buildpackage --host-arch arm64 -Pcross,nocheck.
        with tempfile.TemporaryDirectory(prefix="fc-arm64-debs-") as out:
            r, dt = run([os.path.join(SOURCE, "scripts", "package"), "--arch", "arm64", "--no-deps",
                         "--out", out], 900)
            print("scripts/package --arch arm64: %.1f s" % dt)
            debs = sorted(os.path.basename(l) for l in r.stdout.split() if "-dbgsym_" not in l)
            self.assertEqual([d.split("_")[0] + "_" + d.split("_")[2] for d in debs],
                             ["fleetclock-agent_arm64.deb", "fleetclock-collector_arm64.deb"])
            for deb in debs:
                path = os.path.join(out, deb)
                arch = subprocess.run(["dpkg-deb", "-f", path, "Architecture"], capture_output=True,
                                      text=True, check=True).stdout.strip()
                self.assertEqual(arch, "arm64", deb)
                subprocess.run(["dpkg-deb", "-x", path, out + "/root"], check=True)
            for exe in ("usr/sbin/fleetclock-agent", "usr/sbin/fleetclock-collector"):
                out_file = subprocess.run(["file", "-b", os.path.join(out, "root", exe)],
                                          capture_output=True, text=True).stdout
                self.assertIn("ARM aarch64", out_file, exe)
            gate = glob.glob(out + "/root/usr/lib/aarch64-linux-gnu/libfleetclock-gate.so.*.*")
            self.assertEqual(len(gate), 1, "the gate library in the multiarch directory")
            r = subprocess.run([QEMU, out + "/root/usr/sbin/fleetclock-agent", "--version"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("fleetclock-agent "), r.stdout)

    def test_version_and_help(self):
        with open(os.path.join(SOURCE, "meson.build")) as f:
            version = f.read().split("version : '", 1)[1].split("'", 1)[0]
        r = arm_agent("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "fleetclock-agent " + version)
        r = arm_agent("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for action in ("--status", "--check", "--daemon", "--at TIME"):
            self.assertIn(action, r.stdout)

    def test_status_against_real_chronyd(self):
        with ChronyInstance("arm64-srv", SERVER, local_stratum=8) as srv, \
             ChronyInstance("arm64-cli", CLIENT, servers=[SERVER], serve=False) as cli:
            cli.wait_synced()
            r = arm_agent("--socket", cli.socket, "--status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Reference        %s (7F003401), stratum 9" % SERVER, r.stdout)
            self.assertIn("Synchronised     yes", r.stdout)
            arm = arm_agent("--socket", cli.socket, "--status", "--json")
            self.assertEqual(arm.returncode, 0, arm.stderr)
            nat = subprocess.run([AGENT, "--socket", cli.socket, "--status", "--json"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(nat.returncode, 0, nat.stderr)
            a, n = json.loads(arm.stdout), json.loads(nat.stdout)
            self.assertEqual(a["endpoint"], "unix:" + cli.socket)
            for key in ("ref_id", "address", "stratum", "leap"):
                self.assertEqual(a["tracking"][key], n["tracking"][key], key)
            self.assertEqual(a["tracking"]["stratum"], 9)
            self.assertTrue(a["synchronised"])
            self.assertEqual(len(a["sources"]), 1)
            for key in ("name", "address", "mode", "stratum"):
                self.assertEqual(a["sources"][0][key], n["sources"][0][key], key)
            self.assertEqual(a["sources"][0]["stratum"], 8)
            # chronyd's floating-point format decoded on arm64: a sane offset and error.
            self.assertLess(abs(a["sources"][0]["offset"]), 0.1)
            self.assertGreater(a["sources"][0]["error"], 0.0)


if __name__ == "__main__":
    missing = missing_tools()
    if missing:
        print("SKIP: the arm64 cross build needs: %s (see cross/aarch64-linux-gnu.txt)"
              % ", ".join(missing))
        sys.exit(77)
    unittest.main(verbosity=2)
