"""fleet - a fleet of real hosts on one machine for the Ansible tests.

Each host is a network namespace (PREFIX + hN, address NET.1N on a bridge in
PREFIX + hub) running its own sshd inside a private mount namespace where /etc, /var
and /usr/local are overlays over the real ones (writes stay in the host's directory)
and /run is a fresh tmpfs: the roles use the real paths (/etc/chrony/chrony.conf,
/run/chrony/chronyd.sock, /var/lib/fleetclock, /usr/local/sbin) yet hosts share no
files and this machine's own /etc, /var and /usr/local are not changed (Fleet(own_usr=True):
/usr too, so that each host has its own dpkg installs: the deb path's test). The controller
is one more namespace (PREFIX + ctl, NET.1) that runs ansible-playbook over ssh
and a reference chronyd (local stratum 1) the master candidates follow.

No chronyd here ever touches the clock: the reference runs with -x, and the hosts' run
with -x through the roles' test-only switches (fleetclock_service_manager=direct,
chrony_daemon_args=['-x']). Every process is started here and stopped by its PID.

PREFIX (env FCDEPLOY_PREFIX, default "fcdeploy-") and NET (env FCDEPLOY_NET, default
"10.205.0") let two fleets run on one machine at once (e.g. CI and an engineer's run):
a fleet removes only stale namespaces of its own prefix. Everything else it makes lives
inside its namespaces (veth names, the bridge, sshd and chronyd addresses and ports), so
nothing else needs to differ.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

PREFIX = os.environ.get("FCDEPLOY_PREFIX", "fcdeploy-")
NET = os.environ.get("FCDEPLOY_NET", "10.205.0")
CTL_NS = PREFIX + "ctl"
HUB_NS = PREFIX + "hub"


def run(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def netns_exec(ns, *cmd, **kw):
    return run("ip", "netns", "exec", ns, *cmd, **kw)


SSHD_CONFIG = """\
ListenAddress {addr}
HostKey {dir}/ssh_host_ed25519_key
PermitRootLogin prohibit-password
AuthorizedKeysFile {top}/id_ed25519.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
"""

# Runs inside "ip netns exec HOST unshare --mount --uts": the host's private view.
HOST_INIT = """\
set -e
for d in $OVERLAYS; do
	n=$(echo $d | tr / -)
	mkdir -p "$H/$n-upper" "$H/$n-work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$H/$n-upper,workdir=$H/$n-work" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd /run/lock
hostname "$NAME"
exec /usr/sbin/sshd -D -e -f "$H/sshd_config"
"""

REFERENCE_CONF = """\
local stratum 1
allow {net}.0/24
bindaddress {net}.1
bindcmdaddress /
cmdport 0
pidfile {dir}/chronyd.pid
"""


class Fleet:
    """hosts: {name: address}; start() builds the namespaces and sshd, stop() undoes it."""

    def __init__(self, names=("h1", "h2", "h3"), own_usr=False):
        """own_usr: /usr too is an overlay per host, so each host has its own dpkg
        installs (/var/lib/dpkg is per host already): the deb path's test."""
        self.overlays = "etc var usr usr/local" if own_usr else "etc var usr/local"
        self.top = tempfile.mkdtemp(prefix=PREFIX)
        os.chmod(self.top, 0o755)
        self.hosts = {n: "%s.%d" % (NET, 11 + i) for i, n in enumerate(names)}
        self.sshd = {}
        self.namespaces = []
        self.reference_pid = None
        self.stopped = False

    # -- setup ---------------------------------------------------------------
    def _terminated(self, *_):
        self.stop()
        os._exit(143)

    def _ns(self, name):
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        netns_exec(name, "ip", "link", "set", "lo", "up")

    def _attach(self, ns, index, addr):
        run("ip", "link", "add", "fcd%d" % index, "netns", ns, "type", "veth",
            "peer", "name", "fcdb%d" % index, "netns", HUB_NS)
        netns_exec(ns, "ip", "addr", "add", addr + "/24", "dev", "fcd%d" % index)
        netns_exec(ns, "ip", "link", "set", "fcd%d" % index, "up")
        netns_exec(HUB_NS, "ip", "link", "set", "fcdb%d" % index, "master", "br0", "up")

    @staticmethod
    def clean_stale():
        """Remove this prefix's namespaces a killed earlier run left (never another prefix's:
        a fleet with another FCDEPLOY_PREFIX may be running)."""
        names = run("ip", "netns", "list", check=False).stdout.split()
        for ns in [n for n in names if n.startswith(PREFIX)]:
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns, check=False)

    def start(self):
        self.clean_stale()
        # meson's timeout sends SIGTERM: still tear everything down.
        atexit.register(self.stop)
        signal.signal(signal.SIGTERM, self._terminated)
        self._ns(HUB_NS)
        netns_exec(HUB_NS, "ip", "link", "add", "br0", "type", "bridge")
        netns_exec(HUB_NS, "ip", "link", "set", "br0", "up")
        self._ns(CTL_NS)
        self._attach(CTL_NS, 0, NET + ".1")
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.top + "/id_ed25519")
        for i, (name, addr) in enumerate(self.hosts.items(), 1):
            ns = PREFIX + name
            self._ns(ns)
            self._attach(ns, i, addr)
            self._start_host(name, ns, addr)
        self._start_reference()
        for name in self.hosts:
            self.wait_ssh(name)

    def _start_host(self, name, ns, addr):
        d = os.path.join(self.top, name)
        os.makedirs(d)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d + "/ssh_host_ed25519_key")
        with open(d + "/sshd_config", "w") as f:
            f.write(SSHD_CONFIG.format(addr=addr, dir=d, top=self.top))
        with open(d + "/sshd.log", "w") as log:
            self.sshd[name] = subprocess.Popen(
                ["ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--propagation", "private",
                 "sh", "-c", HOST_INIT], env=dict(os.environ, H=d, NAME=name, OVERLAYS=self.overlays),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _start_reference(self):
        d = os.path.join(self.top, "ctl")
        os.makedirs(d)
        os.chmod(d, 0o777)
        with open(d + "/chronyd.conf", "w") as f:
            f.write(REFERENCE_CONF.format(net=NET, dir=d))
        netns_exec(CTL_NS, "chronyd", "-x", "-u", "root", "-f", d + "/chronyd.conf")
        for _ in range(50):
            try:
                with open(d + "/chronyd.pid") as f:
                    self.reference_pid = int(f.read())
                return
            except (OSError, ValueError):
                time.sleep(0.1)
        raise RuntimeError("reference chronyd did not write %s/chronyd.pid" % d)

    def wait_ssh(self, name, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            r = self.ssh(name, "true", check=False, timeout=10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                with open(os.path.join(self.top, name, "sshd.log")) as f:
                    log = f.read()
                raise RuntimeError("sshd on %s not reachable: %s\n%s" % (name, r.stderr, log))
            time.sleep(0.2)

    # -- use -----------------------------------------------------------------
    def ssh_args(self):
        return ["-i", self.top + "/id_ed25519", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]

    def ssh(self, name, command, check=False, timeout=60):
        return netns_exec(CTL_NS, "ssh", *self.ssh_args(), "root@" + self.hosts[name], command,
                          check=check, timeout=timeout)

    def write_inventory(self, groups, host_vars, all_vars, filename="inventory.yml"):
        """groups: {group: [host]}; returns the path of a YAML (JSON) inventory."""
        inv = {"all": {"vars": dict(all_vars, ansible_user="root"), "children": {}}}
        for group, members in groups.items():
            inv["all"]["children"][group] = {
                "hosts": {h: dict(host_vars.get(h, {}), ansible_host=self.hosts[h]) for h in members}}
        path = os.path.join(self.top, filename)
        with open(path, "w") as f:
            json.dump(inv, f, indent=1)
        return path

    def playbook(self, source, playbook, inventory, *extra, timeout=600):
        """ansible-playbook from the controller namespace; returns CompletedProcess."""
        env = dict(os.environ,
                   ANSIBLE_CONFIG=os.path.join(source, "ansible", "ansible.cfg"),
                   ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_PRIVATE_KEY_FILE=self.top + "/id_ed25519",
                   ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=/dev/null -o ControlMaster=auto -o ControlPersist=60s",
                   ANSIBLE_SSH_CONTROL_PATH_DIR=self.top + "/cp",
                   ANSIBLE_LOCAL_TEMP=self.top + "/ansible-tmp",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_STDOUT_CALLBACK="default")
        cmd = ["ip", "netns", "exec", CTL_NS, "ansible-playbook", "-i", inventory,
               os.path.join(source, "ansible", playbook)] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)

    # -- teardown ------------------------------------------------------------
    def host_pids(self, name):
        """PIDs of every process in the host's network namespace."""
        r = run("ip", "netns", "pids", PREFIX + name, check=False)
        return [int(p) for p in r.stdout.split()]

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        # Everything in a host's namespace was started by this fleet (sshd and what the
        # playbooks started through it); the reference chronyd by its pidfile.
        for name in list(self.hosts) + ["ctl"]:
            for pid in self.host_pids(name):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self.reference_pid:
            try:
                os.kill(self.reference_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.sshd.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(self.host_pids(n) for n in list(self.hosts) + ["ctl"]):
            time.sleep(0.1)
        for name in list(self.hosts) + ["ctl"]:
            for pid in self.host_pids(name):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        if not os.environ.get("FCDEPLOY_KEEP"):
            shutil.rmtree(self.top, ignore_errors=True)
