"""browser - headless Chromium for the dashboard tests: the DOM a page has
after its scripts ran (--dump-dom with a virtual time budget)."""
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dom(url, workdir, budget_ms=3000, timeout=90):
    """The DOM of url after budget_ms of virtual time, or None when no
    Chromium is installed. A fresh profile under workdir."""
    if not CHROMIUM:
        return None
    profile = tempfile.mkdtemp(prefix="fc-chromium-", dir=workdir)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + profile, "--virtual-time-budget=%d" % budget_ms, "--dump-dom", url],
        capture_output=True, text=True, timeout=timeout).stdout
