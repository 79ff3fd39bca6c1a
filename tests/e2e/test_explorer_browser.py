"""The latent explorer in headless Chromium: `genlab serve` on a tiny VAE trained on toy data; load the sliders,
move one, and the decoded image follows (a new image from /api/latent/decode), with no console errors.

Uses the drivers and helpers of test_browser.py (Debian's chromium + chromium-driver, selenium); skipped, with the
reason, when one is absent. Run as a script for the docs' screenshot of a running server:
    python tests/e2e/test_explorer_browser.py 'http://127.0.0.1:8000/?token=...' docs/images/web-explorer.png \
        pretrained:mnist-vae
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    TOKEN,
    _free_port,
    _wait_for,
    chrome,
    log_in,
    open_tab,
    severe_console_messages,
    split_token,
)

MOVE = """
const [index, value] = arguments;
const slider = document.querySelectorAll('#ex-sliders input')[index];
slider.value = value;
slider.dispatchEvent(new Event('input'));
"""


@pytest.fixture(scope="module")
def vae_server(tmp_path_factory, tiny_data_dir):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless browser test needs Debian's chromium and chromium-driver")
    pytest.importorskip("selenium", reason="headless browser test needs selenium (pip install -e '.[dev]')")
    import genlab.api as gl

    runs = tmp_path_factory.mktemp("explorer-e2e") / "runs"
    gl.train("mnist-vae", [f"data.data_dir={tiny_data_dir}", f"run_dir={runs / 'tiny-vae'}", "data.download=false",
                           "model.base_channels=4", "model.max_channels=16", "model.latent_dim=4",
                           "train.batch_size=16", "train.max_steps=2", "train.epoch_images=32",
                           "sample.num_images=4"], progress=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(runs.parent / "server.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "genlab", "serve", "--port", str(port), "--runs-dir",
                                 str(runs), "--queue", "4", "--device", "cpu", "--token", TOKEN],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_for(url + "api/status", proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _load_sliders(d, snapshot: str | None, timeout: float = 120) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    if snapshot:
        Select(d.find_element(By.ID, "img-snapshot")).select_by_value(snapshot)
    d.find_element(By.ID, "explore").click()
    WebDriverWait(d, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ex-sliders input")
                                    or d.find_element(By.ID, "message").text)


@pytest.mark.slow
def test_sliders_load_and_the_image_follows_them(vae_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome()
    try:
        log_in(d, vae_server, TOKEN)
        open_tab(d, vae_server, "images")
        _load_sliders(d, "tiny-vae")
        assert d.find_element(By.ID, "message").text == ""
        sliders = d.find_elements(By.CSS_SELECTOR, "#ex-sliders input")
        assert len(sliders) == 4  # k = 6 asked, the latent has 4 numbers
        assert "encoded training images" in d.find_element(By.ID, "ex-note").text
        centre = d.find_element(By.ID, "ex-image").get_attribute("src")
        assert centre.startswith("data:image/png;base64,")
        d.execute_script(MOVE, 0, "3.5")
        WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "ex-caption").text.startswith("(3.5"))
        assert d.find_element(By.ID, "ex-image").get_attribute("src") != centre
        d.find_element(By.ID, "ex-reset").click()
        WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "ex-image").get_attribute("src") == centre)
        assert severe_console_messages(d) == []
    finally:
        d.quit()


def _screenshot(url: str, out: str, snapshot: str | None = None) -> None:
    """Load the sliders of `snapshot` on a running server, move two of them and save a screenshot of the section."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, token = split_token(url)
    d = chrome(1300, 900)
    try:
        log_in(d, url, token)
        open_tab(d, url, "images")
        _load_sliders(d, snapshot, 300)
        if d.find_element(By.ID, "message").text:
            raise SystemExit(f"the page reports: {d.find_element(By.ID, 'message').text}")
        for index, value in ((0, "1.8"), (1, "-1.2")):
            d.execute_script(MOVE, index, value)
            time.sleep(1.0)
        WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "ex-caption").text.startswith("(1.8, -1.2"))
        d.execute_script("document.getElementById('explore-form').scrollIntoView()")
        time.sleep(0.5)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(out)
    finally:
        d.quit()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    _screenshot(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
