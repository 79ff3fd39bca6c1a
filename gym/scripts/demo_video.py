"""Record the demonstration video: drive the real web UI and API of a running gymchain in headless Chromium,
caption every frame with what it shows, and encode an MP4 with ffmpeg.

    gym/.venv/bin/python gym/scripts/demo_video.py                      # uses the platform at 127.0.0.1:8000
    gym/.venv/bin/python gym/scripts/demo_video.py --start              # starts it first (gym/scripts/start.sh)
    gym/.venv/bin/python gym/scripts/demo_video.py --out demo.mp4 --poster gym/docs/images/demo-poster.png

The story: the platform's health through the gateway; a member logs in on the portal, sees the week's classes,
books one (a real booking: the seat count changes) and finds it under "my bookings" and in the API; the LGPD page;
the manager logs in, sees the unit's members, the class rosters with occupancy, the live occupancy per area and
the analytics page (churn risk with reasons, segments, demand forecast, proposed timetable); the same data from the
API with curl-like cards; the offline API documentation; and, when the observability stack runs, the dashboard and
the cross-service trace of the booking just made (its X-Trace-ID). Parts whose service is not running are left
out and named on the closing card, never faked. Needs chromium + chromidriver (Debian) and ffmpeg.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFont

GYM = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(GYM / "src"))
from gymchain.web.screenshots import chromium

W, H, BAR = 1280, 720, 84
VIEW = (W, H - BAR)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
PASSWORD = "gym-demo-2026"
MANAGER = "gerente.sp@gymchain.example.com"
ADMIN = "admin@gymchain.example.com"


def fail(message: str) -> None:
    print(f"demo_video: {message}", file=sys.stderr)
    raise SystemExit(2)


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default()


@dataclass
class Film:
    """The frames so far: (png path, seconds on screen, caption)."""
    workdir: Path
    frames: list[tuple[Path, float, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, image: Image.Image, caption: str, seconds: float) -> None:
        frame = Image.new("RGB", (W, H), "#0b1f33")
        image = image.convert("RGB")
        image.thumbnail(VIEW)
        frame.paste(image, ((W - image.width) // 2, 0))
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, H - BAR, W, H), fill="#0b1f33")
        step = f"{len(self.frames) + 1}"
        draw.text((24, H - BAR + 14), step, font=font(FONT_BOLD, 30), fill="#7fb8ff")
        lines = textwrap.wrap(caption, 98)[:2]
        for i, line in enumerate(lines):
            draw.text((84, H - BAR + 12 + i * 30), line, font=font(FONT, 22), fill="white")
        path = self.workdir / f"frame{len(self.frames):03d}.png"
        frame.save(path)
        self.frames.append((path, seconds, caption))
        print(f"  [{step:>2}] {caption}")

    def card(self, title: str, body: str, caption: str, seconds: float, mono: bool = True) -> None:
        image = Image.new("RGB", VIEW, "#10263d")
        draw = ImageDraw.Draw(image)
        draw.text((48, 36), title, font=font(FONT_BOLD, 30), fill="#7fb8ff")
        f = font(MONO if mono else FONT, 19 if mono else 24)
        y = 96
        for raw in body.splitlines():
            for line in (textwrap.wrap(raw, 104 if mono else 80, subsequent_indent="  ") or [""]):
                if y > VIEW[1] - 36:
                    draw.text((48, y), "...", font=f, fill="#c9d6e3")
                    break
                draw.text((48, y), line, font=f, fill="#e8eef5")
                y += 26 if mono else 34
        self.add(image, caption, seconds)

    def encode(self, out: Path) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if not ffmpeg:
            fail("ffmpeg not found (apt-get install ffmpeg)")
        listing = self.workdir / "frames.txt"
        lines = []
        for path, seconds, _ in self.frames:
            lines += [f"file '{path.name}'", f"duration {seconds:.2f}"]
        lines.append(f"file '{self.frames[-1][0].name}'")  # the concat demuxer needs the last one twice
        listing.write_text("\n".join(lines) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
               "-vf", "fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "medium", "-tune", "stillimage",
               "-crf", "26", "-movflags", "+faststart", str(out)]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.workdir, check=False, timeout=600)
        if result.returncode != 0:
            fail(f"ffmpeg failed: {result.stderr.strip().splitlines()[-1] if result.stderr else result.returncode}")


class Demo:
    def __init__(self, gateway: str, film: Film, driver):
        self.gateway, self.film, self.driver = gateway, film, driver
        self.http = httpx.Client(base_url=gateway, timeout=30)

    # ---- API -------------------------------------------------------------------------------------------------
    def token(self, email: str) -> str:
        r = self.http.post("/api/auth/token", data={"username": email, "password": PASSWORD})
        if r.status_code != 200:
            fail(f"login of {email} failed ({r.status_code}): is the demo chain seeded (gymchain seed)?")
        return r.json()["access_token"]

    def api(self, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, path, headers=headers, **kw)

    def api_card(self, title: str, method: str, path: str, token: str | None, caption: str, keep=None,
                 seconds: float = 5.0) -> httpx.Response:
        r = self.api(method, path, token)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text[:2000]
        if keep:
            body = keep(body)
        auth = ' -H "Authorization: Bearer $TOKEN"' if token else ""
        text = (f"$ curl -s{' -X ' + method if method != 'GET' else ''} localhost:8000{path}{auth}\n"
                f"HTTP {r.status_code}\n" + json.dumps(body, ensure_ascii=False, indent=2)[:3000])
        self.film.card(title, text, caption, seconds)
        return r

    # ---- browser ---------------------------------------------------------------------------------------------
    def wait_for(self, css: str, timeout: float = 25) -> bool:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(self.driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
            return True
        except TimeoutException:
            return False

    def viewport(self) -> None:
        """The page area itself is VIEW (a window size would include the browser's own frame)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": VIEW[0], "height": VIEW[1], "deviceScaleFactor": 1, "mobile": False})

    def settle(self, timeout: float = 90) -> None:
        """Wait until no panel of the page says it is still loading (analytics panels load one by one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.driver.execute_script(
                    "return [...document.querySelectorAll('main [role=status]')].some(e => e.offsetParent);"):
                return
            time.sleep(1)
        self.film.skipped.append(f"{self.driver.current_url}: still loading after {timeout:.0f} s")

    def shot(self, caption: str, seconds: float = 4.5) -> None:
        time.sleep(0.5)  # let transitions finish
        png = self.film.workdir / "shot.png"
        self.driver.save_screenshot(str(png))
        self.film.add(Image.open(png), caption, seconds)

    def page(self, url: str, ready: str, caption: str, seconds: float = 4.5) -> bool:
        self.driver.get(url)
        if not self.wait_for(ready):
            self.film.skipped.append(f"{url} (nothing matched {ready!r})")
            return False
        self.shot(caption, seconds)
        return True

    def login(self, email: str, lang: str = "en") -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.gateway}/app/icon.svg")
        self.driver.execute_script("sessionStorage.clear(); localStorage.setItem('gymchain.lang', arguments[0]);",
                                   lang)
        self.driver.get(f"{self.gateway}/app/#/login")
        self.wait_for("#email")
        self.driver.find_element(By.ID, "email").send_keys(email)
        self.driver.find_element(By.ID, "password").send_keys(PASSWORD)
        self.shot(f"Logging in as {email} (demo password): the token comes from the auth service", 3.5)
        self.driver.find_element(By.ID, "login-submit").click()
        if not self.wait_for("nav.tabs"):
            fail(f"the web front end did not log {email} in")

    def assistant_scene(self, token: str) -> None:
        """Ask the fitness assistant as the member (its first answer may wait for the models to load)."""
        conv = self.api("POST", "/api/assistant/conversations", token, json={"title": "Demo"})
        if conv.status_code != 201:
            self.film.skipped.append(f"assistant ({conv.status_code} creating a conversation)")
            return
        question = "Como faço um agachamento com boa postura?"
        path = f"/api/assistant/conversations/{conv.json()['_id']}/ask"
        for _ in range(3):
            answer = self.api("POST", path, token, json={"text": question})
            if answer.status_code != 503:
                break
            time.sleep(20)  # the gateway gave up while the assistant loaded its models; they stay loaded
        if answer.status_code != 200:
            self.film.skipped.append(f"assistant answer ({answer.status_code})")
            return
        reply = answer.json().get("reply", {})
        shown = {"intent": reply.get("intent"), "text": reply.get("text"),
                 "sources": [{k: src.get(k) for k in ("source", "fact_id", "score")}
                             for src in reply.get("sources", [])[:3]]}
        self.film.card("The fitness assistant (as the member)",
                       f"$ curl -s -X POST localhost:8000{path} -H \"Authorization: Bearer $TOKEN\" \\\n"
                       f"    -d '{{\"text\": \"{question}\"}}'\nHTTP 200\n"
                       + json.dumps(shown, ensure_ascii=False, indent=2)[:2200],
                       "The assistant answers from its curated knowledge base and cites the sources it retrieved "
                       "(the phrasing model is small: see assistant.md)", 7)

    # ---- the story -------------------------------------------------------------------------------------------
    def run(self, observatory: str) -> None:
        from selenium.webdriver.common.by import By

        g = self.gateway
        self.film.card("gymchain - demonstration",
                       "Management platform for a chain of gyms (seed 002)\n\n"
                       "FastAPI microservices behind a gateway, PostgreSQL, RabbitMQ, a Kafka-protocol stream,\n"
                       "Redis, offline-tolerant unit sync, analytics, vision and a fitness assistant.\n\n"
                       "Everything in this video is the real platform running on one machine\n"
                       f"(started with: bash gym/scripts/start.sh), recorded on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
                       "by gym/scripts/demo_video.py in headless Chromium.",
                       "What follows: a member books a class, the manager's console and analytics, the API, and "
                       "the observability of that booking", 6, mono=False)
        admin = self.token(ADMIN)
        self.api_card("Health of every service, through the gateway", "GET", "/health", None,
                      "GET /health: the gateway asks each service, which checks its database; Redis for rate limits",
                      keep=lambda b: {"status": b.get("status"), "redis": b.get("redis"),
                                      "services": {k: v.get("status") for k, v in b.get("services", {}).items()}})
        users = self.api("GET", "/api/auth/users", admin, params={"role": "member", "unit_id": 1, "limit": 1}).json()
        if not users:
            fail("no member login in unit 1 (is the demo chain seeded?)")
        member_email = users[0]["email"]

        # the member
        self.viewport()
        self.login(member_email)
        self.shot("The member portal: this week's classes at the member's unit, with free seats and wait-lists")
        buttons = self.driver.find_elements(By.CSS_SELECTOR, "[data-action='book']")
        booked_title = None
        if buttons:
            card = buttons[0].find_element(By.XPATH, "./ancestor::li[1]")
            booked_title = card.text.splitlines()[0] if card.text else "a class"
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", buttons[0])
            buttons[0].click()
            self.wait_for("#notice .alert", 15)
            self.shot(f"One click books '{booked_title}': one transaction locks the class, checks the contract, "
                      "confirms or wait-lists", 5.5)
        else:
            self.film.skipped.append("booking in the portal (no bookable class for this member)")
        self.page(f"{g}/app/#/portal/bookings", "main h1", "My bookings: the new booking is here, with a two-step "
                  "cancel that frees the seat for the wait-list")
        self.page(f"{g}/app/#/portal/visits", "main h1", "My visits: check-ins at the unit (the seeded year of data)")
        self.page(f"{g}/app/#/portal/privacy", "#consent", "LGPD: consent to camera analysis, export of all my "
                  "data as JSON, and erasure - each audited")
        member_token = self.token(member_email)
        me = self.api("GET", "/api/members/members/me", member_token).json()
        trace_id = None
        r = self.api_card("The same booking through the API", "GET", f"/api/members/members/{me['id']}/bookings",
                          member_token, "The API gives the member's bookings (their own only: RBAC in every "
                          "service, not only at the gateway)",
                          keep=lambda b: b[:3] if isinstance(b, list) else b)
        trace_id = r.headers.get("X-Trace-ID")
        mine = {b.get("class_id") for b in (r.json() if isinstance(r.json(), list) else [])}
        classes = self.api("GET", "/api/members/classes", member_token, params={"limit": 100}).json()
        free = [c for c in classes if c["id"] not in mine and c["seats_left"] > 0 and c["status"] == "scheduled"]
        if free:
            cls = free[-1]
            booking = self.api("POST", "/api/members/bookings", member_token, json={"class_id": cls["id"]})
            trace_id = booking.headers.get("X-Trace-ID") or trace_id
            self.film.card("Booking through the API",
                           f"$ curl -s -X POST localhost:8000/api/members/bookings -H \"Authorization: Bearer $TOKEN\""
                           f" \\\n    -H 'Content-Type: application/json' -d '{{\"class_id\": {cls['id']}}}'\n"
                           f"HTTP {booking.status_code}   X-Trace-ID: {trace_id}\n"
                           + json.dumps(booking.json(), ensure_ascii=False, indent=2)[:2000],
                           f"The same booking by API for '{cls['title']}': 201, and the trace id that follows it "
                           "through every process", 5.5)
        else:
            self.film.skipped.append("API booking (no free class left for the member)")

        self.assistant_scene(member_token)

        # the manager
        self.login(MANAGER)
        self.shot("The manager console: members of the unit (names decrypted for staff; stored as AES-256-GCM "
                  "ciphertext)")
        self.page(f"{g}/app/#/console/classes", ".class-card, .empty", "Classes with occupancy and rosters; the "
                  "front desk can book a member by e-mail or CPF")
        self.page(f"{g}/app/#/console/occupancy", "#occupancy-live .card, .empty", "Live occupancy per area: open "
                  "check-ins beside the sensors' latest people count")
        self.driver.get(f"{g}/app/#/console/analytics")
        if self.wait_for("main h1"):
            self.settle()
            self.shot("Analytics: members at risk with their reasons (SHAP) and the behavioural segments", 6)
            for anchor, caption in (("#forecast-chart", ("Class demand: the forecast (fitted only on earlier weeks) "
                                     "against what happened")),
                                    ("#timetable-grid", ("The proposed timetable (OR-Tools CP-SAT) and its expected "
                                     "gain over the current one"))):
                found = self.driver.find_elements(By.CSS_SELECTOR, anchor)
                if found:
                    self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", found[0])
                    self.shot(caption, 5)
                else:
                    self.film.skipped.append(f"analytics panel {anchor} (not shown by the page)")
        manager = self.token(MANAGER)
        risk = self.api("GET", "/api/analytics/units/1/churn-risk", manager, params={"limit": 3})
        if risk.status_code == 200:
            self.api_card("Churn risk of the unit, from the API", "GET", "/api/analytics/units/1/churn-risk?limit=3",
                          manager, "Ranked members at risk with the top reasons; scored at request time with the "
                          "registered model", keep=lambda b: b if not isinstance(b, dict) else
                          {k: (v[:3] if isinstance(v, list) else v) for k, v in b.items()})
        else:
            self.film.skipped.append(f"churn risk API ({risk.status_code}: {risk.json().get('detail', '')[:80]})")
        self.page(f"{g}/docs", ".swagger-ui .opblock, #swagger-ui", "Every service's API in one document at the "
                  "gateway's /docs (Swagger UI served offline); reference in gym/docs/api/")

        # observability, when it runs
        try:
            up = httpx.get(f"{observatory}/dashboard", timeout=5).status_code == 200
        except httpx.HTTPError:
            up = False
        if up:
            self.page(f"{observatory}/dashboard", "body", "Dashboard: RED metrics per route, queue depth, consumer "
                      "lag, model latency and drift, from Prometheus", 6)
            if trace_id:
                time.sleep(8)  # spans are exported in batches; the relay publishes within a second
                try:
                    spans = httpx.get(f"{observatory}/api/traces/{trace_id}", timeout=10).json()
                except (httpx.HTTPError, ValueError):
                    spans = []
                hops = []
                for span in sorted(spans, key=lambda sp: sp.get("start_ns", 0)):
                    name = str(span.get("service", "?")).removeprefix("gymchain-")
                    if name not in hops:
                        hops.append(name)
                self.page(f"{observatory}/traces/{trace_id}", "body", "The API booking's trace as stored: "
                          f"{len(spans)} spans across {' -> '.join(hops) or 'no process yet'}, with its log lines", 7)
        else:
            self.film.skipped.append(f"observability views ({observatory} not running: "
                                     "bash gym/scripts/start_observability.sh)")

        left_out = "\n".join(f"- {s}" for s in self.film.skipped) or "- nothing"
        self.film.card("Try it yourself",
                       "bash gym/scripts/start.sh           # the platform with the demo chain\n"
                       "open http://127.0.0.1:8000/         # portal and console (password gym-demo-2026)\n"
                       "open http://127.0.0.1:8000/docs     # the API\n"
                       "gym/.venv/bin/python gym/scripts/demo_video.py   # this video\n\n"
                       "Docs: gym/docs/README.md (architecture, API, runbooks, deployment, LGPD, AI report)\n\n"
                       f"Left out of this recording:\n{left_out}",
                       "The end: every frame came from the running platform; nothing was staged", 7)


def bookings_consumer() -> subprocess.Popen | None:
    """A consumer of the bookings stream for the length of the recording (its own group), so the booking's trace
    reaches a Kafka consumer as it would in production; it ships traces when the observability stack runs
    (gym/.run/observability.env, written by start_observability.sh). Started first: joining a group takes a while."""
    env_file = GYM / ".run" / "observability.env"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line) \
        if env_file.exists() else {}
    import os
    import uuid

    return subprocess.Popen([sys.executable, "-m", "gymchain.common.messaging.stream", "--topic", "bookings",
                             "--group", f"demo-video-{uuid.uuid4().hex[:8]}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ | env, cwd=GYM)


def healthy(gateway: str) -> bool:
    try:
        return httpx.get(f"{gateway}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--observatory", default="http://127.0.0.1:8290", help="dashboard and trace store")
    parser.add_argument("--out", default=str(GYM / "var" / "demo" / "gymchain-demo.mp4"))
    parser.add_argument("--poster", default=None, help="also save this frame index's image here (see --poster-frame)")
    parser.add_argument("--poster-frame", type=int, default=3)
    parser.add_argument("--start", action="store_true", help="start the platform first if it is not running "
                                                             "(and stop it afterwards)")
    args = parser.parse_args(argv)
    if not args.gateway.startswith(("http://127.0.0.1", "http://localhost")):
        fail(f"--gateway {args.gateway!r}: loopback only (it logs in with the demo passwords)")
    started = False
    if not healthy(args.gateway):
        if not args.start:
            fail(f"no platform at {args.gateway} (start it: bash gym/scripts/start.sh, or pass --start)")
        print("demo_video: starting the platform (gym/scripts/start.sh)")
        subprocess.run(["bash", str(GYM / "scripts" / "start.sh")], check=True)
        started = True
    out = Path(args.out)
    t0 = time.monotonic()
    consumer = bookings_consumer()
    with tempfile.TemporaryDirectory() as work:
        film = Film(Path(work))
        profile = Path(work) / "profile"
        driver = chromium(str(profile))
        try:
            print("demo_video: recording")
            Demo(args.gateway, film, driver).run(args.observatory)
        finally:
            driver.quit()
            if consumer:
                consumer.terminate()
                consumer.wait(timeout=30)
            if started:
                subprocess.run(["bash", str(GYM / "scripts" / "stop.sh")], check=False)
        film.encode(out)
        if args.poster:
            poster = Image.open(film.frames[min(args.poster_frame, len(film.frames) - 1)][0])
            poster.thumbnail((960, 540))
            Path(args.poster).parent.mkdir(parents=True, exist_ok=True)
            poster.save(args.poster, optimize=True)
        seconds = sum(s for _, s, _ in film.frames)
    print(f"demo_video: {out} - {len(film.frames)} scenes, {seconds:.0f} s, {out.stat().st_size / 1e6:.2f} MB "
          f"(recorded in {time.monotonic() - t0:.0f} s)")
    if film.skipped:
        print("demo_video: left out: " + "; ".join(film.skipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
