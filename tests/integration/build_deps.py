"""build_deps - the role's build package lists build fleetclock on a fresh Debian 12.

The source install method (ansible/roles/fleetclock_install, tasks/source.yml) installs
`fleetclock_build_packages` with apt on each node and builds there. On this machine every
package is already installed, so the namespace fleet cannot catch a missing one. This test
gives the list a machine that has nothing else: a debootstrap'ed bookworm minbase tree with
exactly the role's list (tests/harness/debian_tree.py; the mirror is the only network used;
cached under /var/cache/fleetclock-nspawn by the list's hash, ~2-3 min the first time), then
packs the source with the role's own tar excludes and builds it in that tree (chroot, on an
overlay, so the cached tree stays clean) with the role's meson line, and runs the built agent
and collector's --version there. A second test does what the deb method's first node of an
architecture does (tasks/deb_build.yml): scripts/package on the deb build's packed source, with
`fleetclock_deb_build_packages` added (it caught build-essential missing from that list:
dpkg-checkbuilddeps requires it).

- A package missing from the list: meson setup or the build fails -> FAIL, with meson's output.
- A package name the mirror does not know: debootstrap fails -> FAIL (not a skip).
Skips (exit 77) only when there is no cached tree and no debootstrap or not root."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import debian_tree
import fctest

SOURCE = os.path.abspath(fctest.SOURCE)
ROLE = os.path.join(SOURCE, "ansible", "roles", "fleetclock_install")


def role_list(var):
    """A list variable of the role's defaults (a YAML block list)."""
    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        m = re.search(r"(?m)^%s:\n((?:  - .*\n)+)" % var, f.read())
    return [ln.split("-", 1)[1].split("#", 1)[0].strip() for ln in m.group(1).splitlines()]


def role_packages():
    """Both builds' packages: the source build's and the .deb build's (deb_build.yml
    installs the two lists), so one fresh tree serves both tests."""
    return role_list("fleetclock_build_packages") + role_list("fleetclock_deb_build_packages")


def role_excludes(tasks="source.yml", name="Pack the source tree on the controller"):
    """The --exclude patterns of one of the role's source-packing tasks."""
    with open(os.path.join(ROLE, "tasks", tasks)) as f:
        text = f.read()
    pack = text.split("- name: " + name, 1)[1].split("\n- name:", 1)[0]
    return [x.strip("'") for x in re.findall(r"--exclude=(\S+)", pack)]


def role_meson_options():
    """The options of the role's meson setup line (prefix left to the test)."""
    with open(os.path.join(ROLE, "tasks", "source.yml")) as f:
        text = f.read()
    line = re.search(r"meson setup [^\n]*\n\s*(--prefix=[^\n>]*)", text).group(1)
    return [o for o in line.split() if o.startswith("-") and not o.startswith("--prefix")]


class RoleBuildOnFreshDebian(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            print("build_deps: SKIP: needs root (debootstrap, chroot, overlay mount)")
            sys.exit(77)
        self.tmp = tempfile.mkdtemp(prefix="fc-build-deps-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh_tree(self):
        pkgs = role_packages()
        try:
            return debian_tree.tree(pkgs, marker="usr/bin/meson")
        except debian_tree.Unavailable as e:
            if "failed" in str(e):
                self.fail("the role's build packages cannot be installed on bookworm: %s" % e)
            print("build_deps: SKIP: " + str(e))
            sys.exit(77)

    def build(self, excludes, commands):
        """Pack the source with EXCLUDES, unpack it at /build/src of an overlay of the
        fresh tree, run COMMANDS (sh) there in a chroot; their output."""
        lower = self.fresh_tree()
        src = os.path.join(self.tmp, "src.tar")
        subprocess.run(["tar", "-C", SOURCE, "-cf", src] + ["--exclude=" + x for x in excludes] + ["."],
                       check=True)
        script = """set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={t}/upper,workdir={t}/work {t}/root
mkdir -p {t}/root/build/src
tar -C {t}/root/build/src -xf {src}
mount -t proc proc {t}/root/proc
chroot {t}/root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 sh -ec '
  cd /build
  {commands}'
""".format(lower=lower, t=self.tmp, src=src, commands=commands)
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.tmp, d))
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=900)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, "building with only the role's packages (%s) failed:\n%s"
                         % (" ".join(role_packages()), out[-4000:]))
        return out

    def test_source_build(self):
        """The source method: the role's tar excludes and meson line."""
        excludes = role_excludes()
        self.assertIn("./tests", excludes)
        opts = " ".join(role_meson_options())
        self.assertIn("-Dtests=false", opts)
        out = self.build(excludes, """meson setup b src --prefix=/opt/fleetclock {opts}
  ninja -C b
  meson install -C b --quiet
  /opt/fleetclock/sbin/fleetclock-agent --version
  /opt/fleetclock/sbin/fleetclock-collector --version""".format(opts=opts))
        self.assertRegex(out, r"fleetclock-agent \S+")
        print("the role's build packages build and install fleetclock from source on a fresh bookworm")

    def test_deb_build(self):
        """The deb method's first node of an architecture: scripts/package (dpkg-buildpackage,
        which checks debian/control's Build-Depends) on the deb build's packed source."""
        excludes = role_excludes("deb_build.yml", "Pack the source tree for a package build on the controller")
        self.assertIn("./tests", excludes)
        out = self.build(excludes, """src/scripts/package --no-deps --out /build/debs
  for d in /build/debs/fleetclock-agent_*.deb /build/debs/fleetclock-collector_*.deb; do
    dpkg-deb -f "$d" Package Architecture; done""")
        self.assertRegex(out, r"Package: fleetclock-agent\nArchitecture: \S+")
        self.assertRegex(out, r"Package: fleetclock-collector\n")
        print("the role's build + deb build packages build the .debs on a fresh bookworm")


if __name__ == "__main__":
    fctest.main()
