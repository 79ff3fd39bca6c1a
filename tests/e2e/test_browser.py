"""End to end in headless Chromium: `genlab serve` in a subprocess, the page loads, a generation completes and its
images appear, a single cell regenerates, an out-of-bounds value shows the server's message.

Needs Debian's `chromium` and `chromium-driver` (scripts/setup.sh installs them when run as root) and selenium
(the dev extra). Skipped, with the reason, only when one of them is absent.

Run as a script to take the docs' screenshots of a running server:
    python tests/e2e/test_browser.py http://127.0.0.1:8000/ docs/images/web-images.png [snapshot-id] [images|channels]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
BOOT_TIMEOUT_S = 120  # the server imports torch first; slow on a loaded 2-core machine


def chrome(width: int = 1300, height: int = 1000):
    """A headless Chromium WebDriver using the system browser and driver (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--window-size={width},{height}", f"--user-data-dir={tempfile.mkdtemp(prefix='genlab-chromium-')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_ready(driver, timeout: float = 30) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m genlab serve` on a free loopback port with one tiny snapshot; yields its URL."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver; scripts/setup.sh does it when run as root)")
    pytest.importorskip("selenium", reason="headless browser test needs selenium (pip install -e '.[dev]')")
    from tests_helpers import save_tiny_diffusion

    runs = tmp_path_factory.mktemp("web-e2e") / "runs"
    save_tiny_diffusion(runs / "tiny-diffusion" / "snapshot.safetensors")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(runs.parent / "server.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "genlab", "serve", "--port", str(port), "--runs-dir",
                                 str(runs), "--queue", "4", "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "GENLAB_MALLOC": "default", "OMP_NUM_THREADS": "1"})
        try:
            _wait_for(url + "api/status", proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for(url: str, proc: subprocess.Popen, log) -> None:
    """Poll `url` until it answers; fail with the server's log if the process exits or the boot timeout passes."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"genlab serve did not come up ({url}): {log.read()[-2000:]}")
            time.sleep(0.3)

@pytest.mark.slow
def test_page_loads_generates_and_shows_the_images(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome()
    try:
        d.get(server)
        wait_ready(d)
        assert d.title == "genlab"
        snapshot = Select(d.find_element(By.ID, "img-snapshot"))
        assert [o.get_attribute("value") for o in snapshot.options] == ["tiny-diffusion"]
        assert "diffusion, 1×28×28, 10 classes" in d.find_element(By.ID, "img-info").text
        for field, value in (("img-n", "4"), ("img-steps", "2")):
            d.find_element(By.ID, field).clear()
            d.find_element(By.ID, field).send_keys(value)
        d.find_element(By.ID, "generate").click()
        loaded = "return [...document.querySelectorAll('#grid img')].filter(i => i.complete && i.naturalWidth).length"
        WebDriverWait(d, 60).until(lambda d: d.execute_script(loaded) == 4)
        widths = d.execute_script("return [...document.querySelectorAll('#grid img')].map(i => i.naturalWidth)")
        assert widths == [28, 28, 28, 28]
        assert d.find_element(By.ID, "img-summary").text.startswith("4 images from tiny-diffusion (diffusion)")
        assert not d.find_element(By.ID, "img-download").get_attribute("class")  # the download link is shown
        severe = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe  # e.g. a resource blocked by the page's Content-Security-Policy

        d.find_elements(By.CSS_SELECTOR, "#grid figure")[2].click()  # regenerate one cell by its seed
        WebDriverWait(d, 60).until(lambda d: "regenerated seed 2" in d.find_element(By.ID, "message").text)

        # The input's max makes the browser refuse 500 itself; without it, the server's 422 message is shown.
        d.execute_script("const s = document.getElementById('img-steps'); s.removeAttribute('max'); s.value = 500")
        d.find_element(By.ID, "generate").click()
        WebDriverWait(d, 30).until(lambda d: "error" in d.find_element(By.ID, "message").get_attribute("class"))
        assert "steps = 500: Input should be less than or equal to 200" in d.find_element(By.ID, "message").text
    finally:
        d.quit()


def _screenshot(url: str, out: str, snapshot: str | None = None, tab: str = "images") -> None:
    """Generate on a running server and save a screenshot of a tab (used for docs/images/web-*.png): 'images'
    (a 30-image grid) or 'channels' (8 realizations and an ES-MDA run with the page's defaults)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome(1300, 860 if tab == "images" else 1360)
    prefix, grid = ("img", "grid") if tab == "images" else ("ch", "ch-grid")
    try:
        d.get(url)
        wait_ready(d)
        d.find_element(By.CSS_SELECTOR, f"[data-tab={tab}]").click()
        if snapshot:
            Select(d.find_element(By.ID, f"{prefix}-snapshot")).select_by_value(snapshot)
        d.find_element(By.ID, f"{prefix}-n").clear()
        d.find_element(By.ID, f"{prefix}-n").send_keys("30" if tab == "images" else "8")
        d.find_element(By.ID, "generate" if tab == "images" else "ch-generate").click()
        WebDriverWait(d, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{grid} img"))
        if tab == "channels":
            d.find_element(By.ID, "esmda").click()
            WebDriverWait(d, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#es-images img"))
        time.sleep(0.5)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(out)
    finally:
        d.quit()


if __name__ == "__main__":
    _screenshot(*sys.argv[1:5])
