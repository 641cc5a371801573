#!/usr/bin/env python3
"""yamllint, ansible-lint (production profile, offline) and ansible-playbook
--syntax-check on every playbook in ansible/."""

import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.path.abspath(os.environ.get("FLEETCLOCK_SOURCE", os.path.join(os.path.dirname(__file__), "..", "..")))
ANSIBLE = os.path.join(SOURCE, "ansible")


TMP = tempfile.mkdtemp(prefix="fcdeploy-lint-")
atexit.register(shutil.rmtree, TMP, True)


def run(*cmd, cwd=ANSIBLE):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(cwd, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               NO_COLOR="1", ANSIBLE_LOCAL_TEMP=TMP + "/ansible-tmp")
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


class TestLint(unittest.TestCase):
    def test_yamllint(self):
        r = run("yamllint", "--strict", ".")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_ansible_lint(self):
        r = run("ansible-lint", "--offline", "--nocolor", "-p")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_syntax_check(self):
        playbooks = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ANSIBLE, "*.yml")))
        self.assertIn("site.yml", playbooks)
        self.assertIn("sync-time.yml", playbooks)
        self.assertIn("start-experiment.yml", playbooks)
        for pb in playbooks:
            with self.subTest(playbook=pb):
                r = run("ansible-playbook", "-i", "inventory/hosts.yml", "--syntax-check", pb)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_lint_can_fail(self):
        # The linters really read our files: a copy of ansible/ with one bad task fails both.
        tmp = tempfile.mkdtemp(prefix="fcdeploy-lint-")
        try:
            copy = os.path.join(tmp, "ansible")
            shutil.copytree(ANSIBLE, copy)
            with open(os.path.join(copy, "roles", "chrony", "tasks", "main.yml"), "a") as f:
                f.write("\n- shell: echo hi   \n")
            self.assertNotEqual(run("ansible-lint", "--offline", "--nocolor", "-p", cwd=copy).returncode, 0)
            self.assertNotEqual(run("yamllint", "--strict", ".", cwd=copy).returncode, 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    sys.path.insert(0, os.path.join(SOURCE, "tests", "harness"))
    import fctest
    fctest.main()
