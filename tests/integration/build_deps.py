"""build_deps - the role's build package list builds fleetclock on a fresh Debian 12.

The source install method (ansible/roles/fleetclock_install, tasks/source.yml) installs
`fleetclock_build_packages` with apt on each node and builds there. On this machine every
package is already installed, so the namespace fleet cannot catch a missing one. This test
gives the list a machine that has nothing else: a debootstrap'ed bookworm minbase tree with
exactly the role's list (tests/harness/debian_tree.py; the mirror is the only network used;
cached under /var/cache/fleetclock-nspawn by the list's hash, ~2-3 min the first time), then
packs the source with the role's own tar excludes and builds it in that tree (chroot, on an
overlay, so the cached tree stays clean) with the role's meson line, and runs the built agent
and collector's --version there.

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


def role_packages():
    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        m = re.search(r"(?m)^fleetclock_build_packages:\n((?:  - .*\n)+)", f.read())
    return [ln.split("-", 1)[1].strip() for ln in m.group(1).splitlines()]


def role_excludes():
    """The --exclude patterns of the role's 'Pack the source tree' task."""
    with open(os.path.join(ROLE, "tasks", "source.yml")) as f:
        text = f.read()
    pack = text.split("- name: Pack the source tree on the controller", 1)[1].split("\n- name:", 1)[0]
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

    def test_role_list_builds_the_source(self):
        pkgs = role_packages()
        try:
            lower = debian_tree.tree(pkgs, marker="usr/bin/meson")
        except debian_tree.Unavailable as e:
            if "failed" in str(e):
                self.fail("the role's fleetclock_build_packages cannot be installed on bookworm: %s" % e)
            print("build_deps: SKIP: " + str(e))
            sys.exit(77)
        src = os.path.join(self.tmp, "src.tar")
        excludes = role_excludes()
        self.assertIn("./tests", excludes)
        subprocess.run(["tar", "-C", SOURCE, "-cf", src] + ["--exclude=" + x for x in excludes] + ["."],
                       check=True)
        opts = " ".join(role_meson_options())
        self.assertIn("-Dtests=false", opts)
        script = """set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={t}/upper,workdir={t}/work {t}/root
mkdir -p {t}/root/build/src
tar -C {t}/root/build/src -xf {src}
mount -t proc proc {t}/root/proc
chroot {t}/root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 sh -ec '
  cd /build
  meson setup b src --prefix=/opt/fleetclock {opts}
  ninja -C b
  meson install -C b --quiet
  /opt/fleetclock/sbin/fleetclock-agent --version
  /opt/fleetclock/sbin/fleetclock-collector --version'
""".format(lower=lower, t=self.tmp, src=src, opts=opts)
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.tmp, d))
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=900)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, "building with only the role's packages (%s) failed:\n%s"
                         % (" ".join(pkgs), out[-4000:]))
        self.assertRegex(out, r"fleetclock-agent \S+")
        print("the role's %d build packages build and install fleetclock on a fresh bookworm" % len(pkgs))


if __name__ == "__main__":
    fctest.main()
