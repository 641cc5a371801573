"""debian_tree - a debootstrap'ed Debian 12 (bookworm) tree with a list of
packages, made once and cached under /var/cache/fleetclock-nspawn/<hash of the
list> (under a lock, so parallel tests share it). Used by units_nspawn (a tree
to boot with systemd) and build_deps (a fresh machine for the role's build
package list). Only the package mirror is touched."""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

CACHE = "/var/cache/fleetclock-nspawn"
MIRROR = os.environ.get("FLEETCLOCK_DEBIAN_MIRROR", "http://deb.debian.org/debian")


class Unavailable(Exception):
    """No tree can be made here (no debootstrap, or the mirror failed)."""


def tree(packages, marker="usr/bin/dpkg", timeout=900):
    """The cached tree for PACKAGES (a list of Debian package names); made
    with debootstrap --variant=minbase --include=... when missing. MARKER is
    a path inside the tree that shows it is complete. A package name the
    mirror does not know fails debootstrap: Unavailable with its output."""
    spec = ",".join(sorted(set(packages)))
    path = os.path.join(CACHE, hashlib.sha256(spec.encode()).hexdigest()[:16])
    if os.path.exists(os.path.join(path, marker)):
        return path
    if not shutil.which("debootstrap"):
        raise Unavailable("no cached tree in %s and no debootstrap (apt-get install debootstrap)" % CACHE)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(path, marker)):
            return path
        tmp = path + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        print("debian_tree: debootstrap bookworm with %s (once; cached in %s)" % (spec, path), file=sys.stderr)
        r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + spec, "bookworm", tmp, MIRROR],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Unavailable("debootstrap of bookworm with %s from %s failed (%d): %s"
                              % (spec, MIRROR, r.returncode, (r.stdout + r.stderr)[-1500:]))
        os.rename(tmp, path)
    return path
