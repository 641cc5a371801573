#!/usr/bin/env python3
"""Authenticated NTP inside the fleet (issue 21), with real chronyd -x
instances on 127.0.55.x: a headset with the fleet's key follows the keyed
master; an impostor answering at the master's address without the key, or
with a wrong one, is dropped by the headset's chronyd and does not move it
(while a headset without a key, the configuration before issue 21, takes
the impostor's time); --check fails on an unauthenticated selected source
when [chrony] ntp_auth = required; a key rotation (both ids in the keyfile,
the headset switched to the new id, the old id removed) keeps the headset
synchronised throughout; an election candidate with ntp_auth = required
does not follow a master whose NTP its chronyd takes without a key. Takes
about 25 s (announce port 37500)."""

import grp
import os
import re
import tempfile
import time
import unittest

from chronyd_harness import ChronyInstance
from election_node import ElectionNode
from fctest import agent, main, wait_for

MASTER = "127.0.55.1"
K1 = "1001 AES256 HEX:" + "11" * 32
K2 = "1002 AES256 HEX:" + "22" * 32
WRONG = "1001 AES256 HEX:" + "66" * 32
BASE_CONF = "[check]\nmax_update_polls = 20\n[rtc]\ndevice = none\n"


class KeyedChrony(ChronyInstance):
    """A harness chronyd with a keyfile (0640 root:_chrony, as the role
    writes it) and 'key ID' on its server lines."""

    def __init__(self, *a, keys=(), key_id=None, **kw):
        self.keys, self.key_id = list(keys), key_id
        super().__init__(*a, **kw)
        self.keyfile = os.path.join(self.dir, "fleet.keys")

    def write_keys(self, keys):
        self.keys = list(keys)
        with open(self.keyfile, "w") as f:
            f.write("".join(k + "\n" for k in self.keys))
        os.chown(self.keyfile, 0, grp.getgrnam("_chrony").gr_gid)
        os.chmod(self.keyfile, 0o640)

    def config_text(self):
        text = super().config_text()
        if self.keys:
            self.write_keys(self.keys)
            # as the role writes it (ansible/roles/chrony/templates/chrony.conf.j2)
            text += "keyfile %s\nauthselectmode ignore\n" % self.keyfile
        if self.key_id is not None:
            text = re.sub(r"(?m)^(server .*)$", r"\1 key %d" % self.key_id, text)
        return text

    def ntpdata(self, addr=MASTER):
        out = self.chronyc("ntpdata", addr)
        return {k.strip(): v.strip() for k, v in re.findall(r"(?m)^([^:]+):(.*)$", out)}

    def source(self, addr=MASTER):
        """(state char, reach, last sample offset s) from chronyc -c sources."""
        for l in self.chronyc("-c", "sources").splitlines():
            f = l.split(",")
            if f[2] == addr:
                return f[1], int(f[5], 8), float(f[8])
        raise AssertionError("no source %s in %s" % (addr, self.name))


def check(inst, mode):
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(BASE_CONF + "[chrony]\nntp_auth = %s\n" % mode)
        f.flush()
        return agent("-c", f.name, "--socket", inst.socket, "--check")


def line(out, name):
    for l in out.splitlines():
        if l[7:7 + 16].strip() == name:
            return l
    raise AssertionError("no '%s' line in:\n%s" % (name, out))


def synced_to(inst, addr):
    return lambda: inst.source(addr)[0] == "*"


class NtpAuth(unittest.TestCase):
    def setUp(self):
        self.running = []

    def tearDown(self):
        for inst in self.running:
            inst.stop()

    def start(self, *a, **kw):
        inst = KeyedChrony(*a, **kw)
        self.running.append(inst)
        return inst.start()

    def impostor_case(self, impostor_keys):
        master = self.start("auth-master", MASTER, local_stratum=8, keys=[K1])
        keyed = self.start("auth-headset", "127.0.55.2", servers=[MASTER], serve=False, keys=[K1], key_id=1001)
        plain = self.start("auth-plain", "127.0.55.3", servers=[MASTER], serve=False)
        for inst in (keyed, plain):
            wait_for(synced_to(inst, MASTER), 30, what="%s selecting the master" % inst.name)
        self.assertEqual(keyed.ntpdata()["Authenticated"], "Yes")
        self.assertEqual(plain.ntpdata()["Authenticated"], "No")
        r = check(keyed, "required")
        self.assertIn("[ OK ]", line(r.stdout, "ntp auth"))
        before = int(keyed.ntpdata()["Total valid RX"])
        # The impostor: the master's address, 30 s ahead, no key or a wrong one.
        master.stop()
        self.running.remove(master)
        self.start("auth-impostor", MASTER, local_stratum=8, faketime="+30", keys=impostor_keys)
        # The headset without a key takes its time at once (the old configuration) ...
        wait_for(lambda: abs(plain.source()[2]) > 20, 20, what="the keyless headset hearing the impostor")
        # ... the keyed one drops every reply: no valid reply counted, its
        # last sample is still the real master's, its clock is not moved.
        time.sleep(2)
        d = keyed.ntpdata()
        self.assertEqual(int(d["Total valid RX"]), before, d)
        self.assertLess(abs(keyed.source()[2]), 0.01)
        self.assertLess(abs(float(keyed.tracking_csv()[4])), 0.01)   # system time offset, s
        self.assertEqual(keyed.source()[1] & 0x7, 0, "the keyed headset reached the impostor")

    def test_impostor_without_key(self):
        self.impostor_case([])

    def test_impostor_with_wrong_key(self):
        self.impostor_case([WRONG])

    def test_check_requires_authenticated_source(self):
        self.start("auth-srv", "127.0.55.5", local_stratum=8)
        cli = self.start("auth-cli", "127.0.55.6", servers=["127.0.55.5"], serve=False)
        wait_for(synced_to(cli, "127.0.55.5"), 30, what="the client selecting its server")
        wait_for(lambda: check(cli, "report").returncode == 0, 20, what="--check ready (report mode)")
        r = check(cli, "report")
        self.assertIn("[ OK ]", line(r.stdout, "ntp auth"))
        self.assertIn("NOT authenticated", line(r.stdout, "ntp auth"))
        r = check(cli, "required")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("[FAIL]", line(r.stdout, "ntp auth"))
        self.assertIn("127.0.55.5: NOT authenticated", r.stdout)
        r = check(cli, "off")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("ntp auth", r.stdout)

    def test_rotation_keeps_headset_synchronised(self):
        master = self.start("rot-master", "127.0.55.11", local_stratum=8, keys=[K1])
        head = self.start("rot-headset", "127.0.55.12", servers=["127.0.55.11"], serve=False, keys=[K1],
                          key_id=1001)
        wait_for(synced_to(head, "127.0.55.11"), 30, what="the headset selecting the master")

        def still_synced(what):
            # Valid, authenticated replies keep coming and the master stays selected.
            rx = int(head.ntpdata("127.0.55.11")["Total valid RX"])
            wait_for(lambda: int(head.ntpdata("127.0.55.11")["Total valid RX"]) >= rx + 3, 10,
                     what="new authenticated replies " + what)
            d = head.ntpdata("127.0.55.11")
            self.assertEqual(d["Authenticated"], "Yes", what)
            self.assertEqual(head.source("127.0.55.11")[0], "*", what)
            self.assertEqual(head.tracking_csv()[-1], "Normal", what)
        # 1. every node gets both keys (chronyc rekey, no restart)
        for inst in (master, head):
            inst.write_keys([K1, K2])
            inst.chronyc("rekey")
        still_synced("with both keys")
        # 2. the headset's fleet line switches to the new id (what the playbook does)
        head.chronyc("delete", "127.0.55.11")
        head.chronyc("add", "server", "127.0.55.11", "iburst", "minpoll", "-2", "maxpoll", "-1", "key", "1002")
        wait_for(synced_to(head, "127.0.55.11"), 15, what="the headset selecting the master on key 1002")
        still_synced("on key 1002")
        # 3. the old id is removed everywhere
        for inst in (master, head):
            inst.write_keys([K2])
            inst.chronyc("rekey")
        still_synced("after key 1001 was removed")
        # and key 1001 is really gone from the master: a client on it gets nothing valid
        old = self.start("rot-old", "127.0.55.13", servers=["127.0.55.11"], serve=False, keys=[K1], key_id=1001)
        time.sleep(3)
        self.assertEqual(int(old.ntpdata("127.0.55.11")["Total valid RX"]), 0)


class ElectionAuth(unittest.TestCase):
    """Two candidates, M (priority1 1) and F (2), announcing on 37500; F has
    [chrony] ntp_auth = required. Its chronyd's line to M without a key: F
    does not follow M (takes M's source offline); with the key: it does."""

    M, F, PORT = "127.0.55.21", "127.0.55.22", 37500

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fc-ntp-auth-el-")
        with open(os.path.join(self.tmp, "fleet.key"), "w") as f:
            f.write("5a17" * 16 + "\n")
        os.chmod(os.path.join(self.tmp, "fleet.key"), 0o600)
        self.m = ElectionNode(self.tmp, "m", self.M, [self.F], 1, [self.F], self.PORT, "auth-el-")
        self.f = ElectionNode(self.tmp, "f", self.F, [self.M], 2, [self.M], self.PORT, "auth-el-",
                              extra="[chrony]\nntp_auth = required\n")

    def tearDown(self):
        for n in (self.m, self.f):
            n.stop()

    def start(self, keyed):
        for n, peer in ((self.m, self.F), (self.f, self.M)):
            n.chronyd = KeyedChrony("auth-el-" + n.name, n.addr, servers=[peer], keys=[K1] if keyed else [],
                                    key_id=1001 if keyed else None).start()
        for n in (self.m, self.f):
            n.start_agent(assume_valid=True)
        wait_for(lambda: self.m.view_is("serving", "m"), 10, what="m serving")
        wait_for(lambda: self.f.view_is("following", "m"), 10, what="f following m")

    def log(self, n):
        with open(os.path.join(self.tmp, n.name + ".log")) as f:
            return f.read()

    def offline(self, n):
        """Sources chronyd holds offline, counting one taken offline during a burst
        ("doing burst (return to offline)": it goes offline when the burst ends)."""
        act = n.chronyd.chronyc("activity")
        return (int(re.search(r"(\d+) sources offline", act).group(1)) +
                int(re.search(r"(\d+) sources doing burst \(return to offline\)", act).group(1)))

    def test_unauthenticated_master_not_followed(self):
        self.start(keyed=False)
        wait_for(lambda: "not following master m" in self.log(self.f), 10,
                 what="f refusing m's unauthenticated NTP:\n" + self.log(self.f))
        self.assertEqual(self.offline(self.f), 1, self.f.chronyd.chronyc("activity"))
        time.sleep(2)   # and it stays so (no flapping back online)
        self.assertEqual(self.offline(self.f), 1)
        self.assertNotIn("following again", self.log(self.f))

    def test_authenticated_master_followed(self):
        self.start(keyed=True)
        wait_for(lambda: self.f.refid() == "7F003715", 15, what="f's chronyd selecting m")
        self.assertEqual(self.f.chronyd.ntpdata(self.M)["Authenticated"], "Yes")
        self.assertEqual(self.offline(self.f), 0)
        self.assertNotIn("not following", self.log(self.f))


if __name__ == "__main__":
    main()
