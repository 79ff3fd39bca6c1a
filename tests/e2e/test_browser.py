"""End to end in headless Chromium: `genlab serve` in a subprocess on tiny untrained snapshots, and the page driven
as a user would in each tab. Images: a generation completes and its images appear, a single cell regenerates, an
out-of-bounds value shows the server's message. Channels: realizations appear, ES-MDA runs and its table and figures
appear. Audio: a stem of a toy MUSDB18 track and of an uploaded WAV regenerates, and both players get a WAV they
play.

Needs Debian's `chromium` and `chromium-driver` (scripts/setup.sh installs them when run as root) and selenium
(the dev extra). Skipped, with the reason, only when one of them is absent.

Run as a script to take the docs' screenshots of a running server (the URL `genlab serve` printed, with its token):
    python tests/e2e/test_browser.py 'http://127.0.0.1:8000/?token=...' docs/images/web-images.png [snapshot-id] \
        [images|channels|audio|progress|api]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
BOOT_TIMEOUT_S = 120  # the server imports torch first; slow on a loaded 2-core machine
TOKEN = "e2e-browser-test-token-0123456789"


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


def log_in(d, url: str, token: str) -> None:
    """Open `url?token=...` as the user does with the URL genlab serve prints: the server sets its cookie and
    redirects to `url`, the token no longer in the address bar."""
    d.get(f"{url}?token={urllib.parse.quote(token)}")
    assert d.current_url == url and "token" not in d.current_url, d.current_url


def split_token(url: str) -> tuple[str, str]:
    """'http://host:port/?token=T' -> ('http://host:port/', 'T'); a URL without a token is refused in one line."""
    parts = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(parts.query).get("token", [""])[0]
    if not token:
        raise SystemExit(f"URL '{url}' has no ?token=: pass the URL genlab serve printed")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", "")), token


def wait_ready(driver, timeout: float = 30) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_channel_vae, tiny_vocos, toy_musdb_dir):
    """`python -m genlab serve` on a free loopback port with one tiny snapshot per tab (a diffusion model, a
    channel-facies VAE, a vocoder) and a toy MUSDB18 data directory; yields its URL."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver; scripts/setup.sh does it when run as root)")
    pytest.importorskip("selenium", reason="headless browser test needs selenium (pip install -e '.[dev]')")
    from genlab.models.registry import get_family
    from tests_helpers import save_facies_snapshot, save_tiny_diffusion

    runs = tmp_path_factory.mktemp("web-e2e") / "runs"
    save_tiny_diffusion(runs / "tiny-diffusion" / "snapshot.safetensors")
    for snapshot, run in ((tiny_channel_vae, "tiny-channels"), (tiny_vocos, "audio/tiny-vocos")):
        (runs / run).mkdir(parents=True)
        shutil.copyfile(snapshot, runs / run / "snapshot.safetensors")
    save_facies_snapshot(runs, "tiny-channels-diffusion", get_family("diffusion")(
        (1, 16, 16), base_channels=8, channel_mults=[1, 2], attention_resolutions=[8], num_heads=1), 16,
        {"sampler": "ddim", "steps": 2})
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GENLAB_MALLOC": "default", "OMP_NUM_THREADS": "1",
           "GENLAB_CACHE_DIR": str(runs.parent / "cache")}  # decoded-audio cache: not the user's
    with open(runs.parent / "server.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "genlab", "serve", "--port", str(port), "--runs-dir",
                                 str(runs), "--data-dir", str(toy_musdb_dir), "--queue", "4", "--device", "cpu",
                                 "--token", TOKEN],
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


def _wait_for(url: str, proc: subprocess.Popen, log) -> None:
    """Poll `url` until it answers; fail with the server's log if the process exits or the boot timeout passes."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            urllib.request.urlopen(request, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"genlab serve did not come up ({url}): {log.read()[-2000:]}")
            time.sleep(0.3)


def loaded_images(d, selector: str) -> list[int]:
    """naturalWidth of every decoded image matching a CSS selector (images still loading or broken are left out)."""
    return d.execute_script("return [...document.querySelectorAll(arguments[0])].filter(i => i.complete && "
                            "i.naturalWidth).map(i => i.naturalWidth)", selector)


def set_value(d, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = d.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def severe_console_messages(d) -> list[str]:
    """SEVERE browser-console entries since the last call, e.g. a resource blocked by the Content-Security-Policy."""
    return [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]


def open_tab(d, url: str, tab: str) -> None:
    """Load the page, wait until it has its data, and switch to `tab` (checking only that panel is shown)."""
    from selenium.webdriver.common.by import By

    d.get(url)
    wait_ready(d)
    d.find_element(By.CSS_SELECTOR, f"[data-tab={tab}]").click()
    shown = [p.get_attribute("id") for p in d.find_elements(By.CSS_SELECTOR, ".panel") if p.is_displayed()]
    assert shown == [f"tab-{tab}"]


# Play a player muted (always allowed by Chromium's autoplay policy) until its clock moves (at most 5 s): the source
# decodes and plays, not just loads. Returns [readyState, duration, error code or null, currentTime or the refusal].
PLAY = """
const [id, done] = arguments;
const a = document.getElementById(id);
const report = (position) => { a.pause(); done([a.readyState, a.duration, a.error && a.error.code, position]); };
const deadline = Date.now() + 5000;
const moved = () => a.currentTime > 0 || Date.now() > deadline ? report(a.currentTime) : setTimeout(moved, 50);
a.muted = true;
a.currentTime = 0;
a.play().then(moved, (err) => report(String(err)));
"""


def played(d, player_id: str) -> tuple[int, float, int | None, float | str]:
    return tuple(d.execute_async_script(PLAY, player_id))


def run_options(select) -> list[str]:
    """The snapshot ids of a <select> that come from the test's runs directory (the installation's shipped pretrained
    snapshots, `pretrained:<name>`, are listed too and depend on the checkout)."""
    return [v for v in (o.get_attribute("value") for o in select.options) if not v.startswith("pretrained:")]


@pytest.mark.slow
def test_page_loads_generates_and_shows_the_images(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome()
    try:
        log_in(d, server, TOKEN)
        wait_ready(d)
        assert d.title == "genlab"
        snapshot = Select(d.find_element(By.ID, "img-snapshot"))
        assert run_options(snapshot) == ["tiny-diffusion"]
        snapshot.select_by_value("tiny-diffusion")
        assert "tiny-diffusion: diffusion on mnist, 1×28×28, 10 classes" in d.find_element(By.ID, "img-info").text
        # per-step progress while it runs: enough steps on the tiny model to see the bar move
        for field, value in (("img-n", "4"), ("img-steps", "120")):
            set_value(d, field, value)
        d.find_element(By.ID, "generate").click()
        WebDriverWait(d, 60).until(lambda d: "/ 120" in d.find_element(By.ID, "progress-text").text)
        WebDriverWait(d, 120).until(lambda d: len(loaded_images(d, "#grid img")) == 4)
        assert not d.find_element(By.ID, "progress-box").is_displayed()  # hidden again when done
        assert loaded_images(d, "#grid img") == [28, 28, 28, 28]
        WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "img-summary").text.startswith(
            "4 images from tiny-diffusion (diffusion)"))
        assert not d.find_element(By.ID, "img-download").get_attribute("class")  # the download link is shown
        assert not severe_console_messages(d)

        set_value(d, "img-steps", "2")
        d.find_elements(By.CSS_SELECTOR, "#grid figure")[2].click()  # regenerate one cell by its seed
        WebDriverWait(d, 60).until(lambda d: "regenerated seed 2" in d.find_element(By.ID, "message").text)

        # The input's max makes the browser refuse 500 itself; without it, the server's 422 message is shown.
        d.execute_script("const s = document.getElementById('img-steps'); s.removeAttribute('max'); s.value = 500")
        d.find_element(By.ID, "generate").click()
        WebDriverWait(d, 30).until(lambda d: "error" in d.find_element(By.ID, "message").get_attribute("class"))
        assert "steps = 500: Input should be less than or equal to 200" in d.find_element(By.ID, "message").text

        # "All classes": one interpolation strip per class (10 rows of 3 frames), each keeping its class.
        d.execute_script("document.getElementById('img-steps').value = 2")
        set_value(d, "interp-steps", "3")
        d.find_element(By.ID, "interpolate").click()
        WebDriverWait(d, 120).until(lambda d: len(loaded_images(d, "#strip img")) == 30)
        captions = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#strip figcaption")]
        assert captions[0] == "seed 0, class 0" and captions[3] == "seed 0, class 1" and captions[29] == "seed 1"
    finally:
        d.quit()


@pytest.mark.slow
def test_api_reference_page_renders_offline(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome()
    try:
        d.get(server + "docs")  # no token yet: the page that says where the URL is, nothing else
        assert d.title == "genlab: token needed" and "open the URL printed by genlab serve" in d.page_source.replace(
            "<code>", "").replace("</code>", "")
        refused = severe_console_messages(d)  # the browser logs the 401 itself (and the log is drained here)
        assert len(refused) == 1 and "status of 401" in refused[0], refused
        log_in(d, server, TOKEN)
        d.get(server + "docs")
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        paths = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".endpoint summary code")]
        assert "/api/generate" in paths and "/api/jobs/{key}" in paths
        assert not severe_console_messages(d)  # nothing blocked: no CDN, everything from this server
    finally:
        d.quit()


@pytest.mark.slow
def test_channels_tab_generates_realizations_and_runs_esmda(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome()
    try:
        log_in(d, server, TOKEN)
        open_tab(d, server, "channels")
        snapshot = Select(d.find_element(By.ID, "ch-snapshot"))
        assert run_options(snapshot) == ["tiny-channels", "tiny-channels-diffusion"]  # channel kind only
        snapshot.select_by_value("tiny-channels")
        assert d.find_element(By.ID, "esmda").is_displayed() and not d.find_element(By.ID, "inpaint").is_displayed()
        assert "vae, 1×16×16, unconditional" in d.find_element(By.ID, "ch-info").text
        set_value(d, "ch-n", "6")
        set_value(d, "ch-seed", "3")
        d.find_element(By.ID, "ch-generate").click()
        WebDriverWait(d, 60).until(lambda d: len(loaded_images(d, "#ch-grid img")) == 6)
        assert loaded_images(d, "#ch-grid img") == [16] * 6
        captions = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#ch-grid figcaption")]
        assert captions == [f"seed {k}" for k in range(3, 9)]

        for field, value in (("es-members", "8"), ("es-wells", "4"), ("es-assim", "1"), ("es-truth", "2")):
            set_value(d, field, value)
        d.find_element(By.ID, "esmda").click()
        WebDriverWait(d, 60).until(lambda d: len(loaded_images(d, "#es-images img")) == 4)
        alts = {i.get_attribute("alt") for i in d.find_elements(By.CSS_SELECTOR, "#es-images img")}
        assert alts == {"prior", "posterior", "means", "wells"}
        assert all(w > 16 for w in loaded_images(d, "#es-images img"))  # figures of several 16-px fields
        assert d.find_element(By.ID, "es-summary").text.startswith(
            "8 members, 1 assimilations (α = 1.00), 4 wells, truth seed 2:")
        table = d.find_element(By.ID, "es-table")
        assert table.is_displayed()
        rows = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "td")]
                for r in table.find_elements(By.CSS_SELECTOR, "tr")[1:]]
        assert [r[0] for r in rows] == ["0", "1"]  # the prior and one assimilation
        assert all(float(v) >= 0 for r in rows for v in r[1:])  # mismatch, well match, accuracy, latent std
        assert not d.find_element(By.ID, "message").text
        assert not severe_console_messages(d)
    finally:
        d.quit()


@pytest.mark.slow
def test_channels_tab_inpaints_a_diffusion_model_to_the_wells(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome()
    try:
        log_in(d, server, TOKEN)
        open_tab(d, server, "channels")
        Select(d.find_element(By.ID, "ch-snapshot")).select_by_value("tiny-channels-diffusion")
        assert not d.find_element(By.ID, "esmda").is_displayed()  # no latent code: inpainting instead of ES-MDA
        for field, value in (("in-n", "3"), ("in-wells", "4"), ("in-steps", "3"), ("in-resample", "1")):
            set_value(d, field, value)
        d.find_element(By.ID, "inpaint").click()
        WebDriverWait(d, 60).until(lambda d: len(loaded_images(d, "#in-images img")) == 3)
        alts = {i.get_attribute("alt") for i in d.find_elements(By.CSS_SELECTOR, "#in-images img")}
        assert alts == {"wells", "realizations", "means"}
        summary = d.find_element(By.ID, "in-summary").text
        assert summary.startswith("3 realizations, 3 steps, 1 resamplings") and "Well cells honoured 1.000" in summary
        assert not d.find_element(By.ID, "message").text
        assert not severe_console_messages(d)
    finally:
        d.quit()


@pytest.mark.slow
def test_audio_tab_regenerates_a_track_and_an_upload_into_two_playable_players(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from genlab.audio.io import write_wav

    d = chrome()
    try:
        log_in(d, server, TOKEN)
        open_tab(d, server, "audio")
        snapshot = Select(d.find_element(By.ID, "au-snapshot"))
        assert run_options(snapshot) == ["audio/tiny-vocos"]
        snapshot.select_by_value("audio/tiny-vocos")
        assert d.find_element(By.ID, "au-info").text.startswith("audio/tiny-vocos: vocos")
        assert [o.text for o in Select(d.find_element(By.ID, "au-track")).options] == ["Toy Band 0 - Song 0"]
        assert d.find_element(By.ID, "au-src-track").is_selected()
        Select(d.find_element(By.ID, "au-stem")).select_by_value("bass")
        phase = Select(d.find_element(By.ID, "au-phase"))
        assert phase.first_selected_option.get_attribute("value") == "model"  # a vocoder starts on its own phase
        phase.select_by_value("griffin-lim")  # the classical path: the vocoder's magnitude, Griffin-Lim's phase
        set_value(d, "au-gl", "4")
        d.find_element(By.ID, "au-run").click()
        summary = d.find_element(By.ID, "au-summary")
        WebDriverWait(d, 60).until(lambda d: summary.text.startswith("1.0 s of audio regenerated"))
        assert d.find_element(By.ID, "au-orig-label").text == "Original bass (Toy Band 0 - Song 0)"
        assert d.find_element(By.ID, "au-regen-label").text == (
            "Regenerated: vocos magnitude + Griffin-Lim phase (4 iterations)")
        for player in ("au-original", "au-regenerated"):
            assert d.find_element(By.ID, player).is_displayed()
            assert d.find_element(By.ID, player).get_attribute("src").startswith("data:audio/wav;base64,")
            state, duration, error, position = played(d, player)
            assert error is None and state >= 1 and duration == pytest.approx(1.0, abs=0.01), (player, position)
            assert isinstance(position, float) and position > 0, (player, position)

        # An uploaded mono 22.05-kHz WAV, regenerated with the vocoder's own phase: resampled to 44.1 kHz stereo.
        wav = write_wav(tmp_path / "upload.wav", 0.2 * np.sin(np.arange(11025) / 7.0)[None], 22050)
        d.find_element(By.ID, "au-file").send_keys(str(wav))
        assert d.find_element(By.ID, "au-src-upload").is_selected()  # choosing a file selects the upload
        Select(d.find_element(By.ID, "au-phase")).select_by_value("model")
        d.find_element(By.ID, "au-run").click()
        WebDriverWait(d, 60).until(lambda d: d.find_element(By.ID, "au-orig-label").text == "Original bass (upload)")
        assert summary.text.startswith("0.5 s of audio regenerated")
        assert d.find_element(By.ID, "au-regen-label").text == "Regenerated: vocos waveform with its own predicted phase"
        for player in ("au-original", "au-regenerated"):
            state, duration, error, position = played(d, player)
            assert error is None and duration == pytest.approx(0.5, abs=0.01) and position > 0, (player, position)

        assert not severe_console_messages(d)

        # An upload has no mixture: the server's one-line message, not a path on the server.
        Select(d.find_element(By.ID, "au-phase")).select_by_value("mixture")
        d.find_element(By.ID, "au-run").click()
        message = d.find_element(By.ID, "message")
        WebDriverWait(d, 30).until(lambda d: "error" in message.get_attribute("class"))
        assert message.text.startswith("phase 'mixture' needs a MUSDB18 track; an uploaded WAV has no mixture")
        refused = severe_console_messages(d)  # the console logs the refused request itself, nothing else
        assert len(refused) == 1 and "status of 400" in refused[0], refused
    finally:
        d.quit()


def _screenshot(url: str, out: str, snapshot: str | None = None, tab: str = "images") -> None:
    """Generate on a running server and save a screenshot of a tab (used for docs/images/web-*.png): 'images'
    (a 30-image grid), 'channels' (8 realizations and, with the page's defaults, an ES-MDA run for a latent model or
    an inpainting run for a diffusion model) or 'audio' (the
    vocals of the first MUSDB18 test track regenerated with the page's defaults, both players loaded)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, token = split_token(url)
    if tab == "api":
        return _screenshot_api(url, token, out)
    if tab not in ("images", "channels", "audio", "progress"):
        raise SystemExit(f"tab '{tab}': expected images, channels, audio, progress or api")
    if tab == "progress":  # the images tab while a 64-image request runs: its per-step progress bar
        return _screenshot_progress(url, token, out, snapshot)
    d = chrome(1300, {"images": 860, "channels": 1360, "audio": 860}[tab])
    prefix = {"images": "img", "channels": "ch", "audio": "au"}[tab]
    try:
        log_in(d, url, token)
        open_tab(d, url, tab)
        if snapshot:
            Select(d.find_element(By.ID, f"{prefix}-snapshot")).select_by_value(snapshot)
        if tab == "audio":
            d.find_element(By.ID, "au-run").click()
            ready = "return ['au-original', 'au-regenerated'].every(id => document.getElementById(id).readyState >= 1)"
            WebDriverWait(d, 300).until(lambda d: d.execute_script(ready) or "error" in d.find_element(
                By.ID, "message").get_attribute("class"))
        else:
            grid = "grid" if tab == "images" else "ch-grid"
            set_value(d, f"{prefix}-n", "30" if tab == "images" else "8")
            d.find_element(By.ID, "generate" if tab == "images" else "ch-generate").click()
            WebDriverWait(d, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{grid} img"))
        if tab == "channels":  # a latent model runs ES-MDA, a diffusion model inpaints the same wells
            button, images = (("esmda", "#es-images img") if d.find_element(By.ID, "esmda").is_displayed()
                              else ("inpaint", "#in-images img"))
            d.find_element(By.ID, button).click()
            WebDriverWait(d, 900).until(lambda d: d.find_elements(By.CSS_SELECTOR, images))
        if d.find_element(By.ID, "message").text:
            raise SystemExit(f"the page reports: {d.find_element(By.ID, 'message').text}")
        d.execute_script("window.scrollTo(0, 0)")  # clicking a button low on the page scrolled it
        time.sleep(0.5)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(out)
    finally:
        d.quit()


def _screenshot_progress(url: str, token: str, out: str, snapshot: str | None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = chrome(1300, 420)
    try:
        log_in(d, url, token)
        open_tab(d, url, "images")
        if snapshot:
            Select(d.find_element(By.ID, "img-snapshot")).select_by_value(snapshot)
        set_value(d, "img-n", "64")
        d.find_element(By.ID, "generate").click()
        WebDriverWait(d, 300).until(lambda d: " / " in d.find_element(By.ID, "progress-text").text
                                    and not d.find_element(By.ID, "progress-text").text.startswith("Generating… step 0"))
        d.execute_script("window.scrollTo(0, 0)")
        time.sleep(2)
        d.save_screenshot(out)
    finally:
        d.quit()


def _screenshot_api(url: str, token: str, out: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome(1300, 900)
    try:
        log_in(d, url, token)
        d.get(url + "docs")
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        for summary in d.find_elements(By.CSS_SELECTOR, ".endpoint summary code"):
            if summary.text.strip() == "/api/generate":
                summary.click()
                break
        time.sleep(0.5)
        d.save_screenshot(out)
    finally:
        d.quit()


if __name__ == "__main__":
    _screenshot(*sys.argv[1:5])
