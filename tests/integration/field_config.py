"""--print-config never prints a secret (issue 14 item 9): the collector
token is shown as set, with its length, or as not set. No daemon needed."""

import os
import tempfile
import unittest

from fctest import agent, main

TOKEN = "s3cret-" + "x" * 25


class PrintConfig(unittest.TestCase):
    def conf(self, text):
        fd, path = tempfile.mkstemp(suffix=".conf", prefix="fc-field-config-")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def test_token_not_printed(self):
        r = agent("-c", self.conf("[collector]\nurl = http://127.0.44.70:8870/api/v1/status\n"
                                  "token = %s\n" % TOKEN), "--print-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(TOKEN, r.stdout)
        self.assertNotIn("s3cret", r.stdout + r.stderr)
        self.assertIn("\ntoken = (set, %d bytes)\n" % len(TOKEN), r.stdout)
        # Other values are printed as they are.
        self.assertIn("\nurl = http://127.0.44.70:8870/api/v1/status\n", r.stdout)

    def test_token_not_set(self):
        r = agent("-c", self.conf("[agent]\nbudget_ms = 7\n"), "--print-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\ntoken = (not set)\n", r.stdout)
        self.assertIn("\nbudget_ms = 7\n", r.stdout)


if __name__ == "__main__":
    main()
