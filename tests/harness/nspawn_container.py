"""nspawn_container - a Debian tree booted with systemd as PID 1 (systemd-nspawn -b) on a
fresh overlay, for the tests that need a real systemd (units_nspawn, packages).

The overlay (lower: a cached tree from debian_tree.py) is mounted in a private mount
namespace, SETUP (shell lines) runs there before nspawn, then nspawn boots the overlay with
a private network. run() executes a command inside with nsenter.

This machine's clock: nspawn leaves CAP_SYS_TIME out of a container's bounding set. The
constructor checks that (unless the container is user-namespaced, see USERNS_BASE, whose
capabilities the kernel never honours for the system clock) and refuses to go on."""

import os
import re
import signal
import subprocess

import fctest

CAP_SYS_TIME = 25
USERNS_BASE = 0x70000000     # a user-namespaced container's uid/gid base (65536 ids)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def userns_cgroups(base):
    """Fresh cgroups for a user-namespaced container, owned by its root (BASE): without a
    systemd on this machine nspawn (--keep-unit) stays in the caller's cgroup, where the
    container's systemd may not create its own. One in each hierarchy systemd uses: the
    named systemd v1 one and the unified v2 one, or the v2 root alone."""
    roots = [r for r in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
             if os.path.exists(os.path.join(r, "cgroup.procs"))]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        roots = ["/sys/fs/cgroup"]
    out = []
    for r in roots:
        d = os.path.join(r, "fc-nspawn-userns-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        for dirpath, dirs, files in os.walk(d):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in files]:
                os.chown(n, base, base)
        out.append(d)
    return out


def remove_cgroup(path):
    """rmdir a cgroup and the ones the container's systemd made in it, deepest first."""
    for dirpath, dirs, files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


class Container:
    """A booted container. LOWER: the tree; WORKDIR: an empty directory for the overlay and
    the console log; SETUP: shell lines run before nspawn (the overlay is at $ROOT);
    NSPAWN_ARGS: more nspawn options; USERNS: boot user-namespaced with CAP_SYS_TIME of its
    own (at USERNS_BASE, in cgroups made for it); ENV: NAME=VALUE set for run()."""

    def __init__(self, lower, workdir, setup="", nspawn_args="", userns=False, env=()):
        self.log = os.path.join(workdir, "console.log")
        self.userns, self.env, self.cgroups, self.pid1 = userns, list(env), [], None
        root = os.path.join(workdir, "root")
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(workdir, d))
        if userns:
            self.cgroups = userns_cgroups(USERNS_BASE)
            nspawn_args += (" --private-users=%d:65536 --private-users-ownership=auto --capability=CAP_SYS_TIME"
                            % USERNS_BASE)
        script = """set -e
ROOT={root}
mount -t overlay overlay -o lowerdir={lower},upperdir={w}/upper,workdir={w}/work "$ROOT"
{setup}
{enter}exec systemd-nspawn -q --register=no --keep-unit --private-network {args} -D "$ROOT" -b
""".format(lower=lower, w=workdir, root=root, setup=setup, args=nspawn_args,
           enter="".join("echo $$ > %s/cgroup.procs\n" % c for c in self.cgroups))
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.pid1 = fctest.wait_for(self._pid1, 60, step=0.2, what="the container's systemd (see %s)" % self.log)
            self._check_clock_safe()
            state = lambda: self.run("systemctl", "is-system-running", check=False).stdout.strip()  # noqa: E731
            if not fctest.wait_for(lambda: state() in ("running", "degraded"), 60, step=0.5):
                raise AssertionError("the container did not finish booting (%s): jobs %s\n%s"
                                     % (state(), self.run("systemctl", "list-jobs", check=False).stdout,
                                        self.console()[-3000:]))
        except BaseException:
            self.stop()
            raise

    def _check_clock_safe(self):
        if self.userns:
            if os.readlink("/proc/%d/ns/user" % self.pid1) == os.readlink("/proc/self/ns/user"):
                raise AssertionError("the --private-users container shares this machine's user namespace: refusing")
            with open("/proc/%d/uid_map" % self.pid1) as f:
                if int(f.read().split()[1]) == 0:
                    raise AssertionError("the container's root is this machine's root: refusing")
            return
        with open("/proc/%d/status" % self.pid1) as f:
            bnd = int(re.search(r"CapBnd:\s*([0-9a-f]+)", f.read()).group(1), 16)
        if bnd & (1 << CAP_SYS_TIME):
            raise AssertionError("the container's bounding set has CAP_SYS_TIME: refusing to go on")

    def _pid1(self):
        if self.proc.poll() is not None:
            raise AssertionError("systemd-nspawn exited %d: %s" % (self.proc.returncode, self.console()[-2000:]))
        for c in children(self.proc.pid):
            try:
                with open("/proc/%d/comm" % c) as f:
                    if f.read().strip() == "systemd":
                        return c
            except OSError:
                pass
        return None

    def console(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def run(self, *cmd, check=True, timeout=30):
        ns = ["-m", "-u", "-i", "-n", "-p"] + (["-U"] if self.userns else [])
        env = ["env"] + self.env if self.env else []
        r = subprocess.run(["nsenter", "-t", str(self.pid1)] + ns + ["--"] + env + list(cmd),
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("in the container: %s: exit %d: %s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                                          r.stderr))
        return r

    def show(self, unit, *props):
        out = self.run("systemctl", "show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit, lines=40):
        return self.run("journalctl", "-b", "-u", unit, "--no-pager", "-o", "cat", "-n", str(lines),
                        check=False).stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)     # nspawn: orderly poweroff of the container
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for c in self.cgroups:
            remove_cgroup(c)
        self.cgroups = []
