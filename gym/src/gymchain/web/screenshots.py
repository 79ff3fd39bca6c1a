"""Screenshots of the web front end against a running platform with the demo chain (for gym/docs/web.md).

    gym/.venv/bin/python -m gymchain.web.screenshots --gateway http://127.0.0.1:8000 --out gym/docs/images

Logs in as the demo manager of the first unit and as that unit's demo member (password of the demo seed), walks
the main pages on a phone (390x844) and a desktop (1280x900) window in headless Chromium, and saves PNGs. It only
reads (no booking is made), so it can run against a live demo. Needs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

PHONE = (390, 844)
DESKTOP = (1280, 900)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--force-device-scale-factor=1")


def fail(message: str) -> None:
    print(f"screenshots: {message}", file=sys.stderr)
    raise SystemExit(2)


def chromium(profile: str):
    from selenium import webdriver

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        fail("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
    # a member in Brazil sees Brazilian local time (this machine's clock is UTC)
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/Sao_Paulo"})
    return browser


def demo_member_email(gateway: str, password: str) -> str:
    token = httpx.post(f"{gateway}/api/auth/token", data={"username": "admin@gymchain.example.com",
                                                          "password": password}, timeout=30)
    if token.status_code != 200:
        fail(f"admin login failed ({token.status_code}): is the demo chain seeded?")
    users = httpx.get(f"{gateway}/api/auth/users", params={"role": "member", "unit_id": 1, "limit": 1},
                      headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30).json()
    if not users:
        fail("no member login in unit 1")
    return users[0]["email"]


class Shooter:
    def __init__(self, driver, gateway: str, out: Path):
        self.driver, self.gateway, self.out = driver, gateway, out

    def session(self, email: str, password: str, lang: str, size: tuple[int, int]) -> None:
        from selenium.webdriver.common.by import By

        self.driver.set_window_size(*size)
        self.driver.get(f"{self.gateway}/app/icon.svg")
        self.driver.execute_script("sessionStorage.clear(); localStorage.setItem('gymchain.lang', arguments[0]);",
                                   lang)
        self.driver.get(f"{self.gateway}/app/#/login")
        self.wait_for("#email")
        self.driver.find_element(By.ID, "email").send_keys(email)
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.driver.find_element(By.ID, "login-submit").click()
        self.wait_for("nav.tabs")

    def wait_for(self, css: str, timeout: float = 60) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def shoot_full(self, route: str, ready: str, name: str, timeout: float = 120) -> Path:
        """A long page whole: the window grows to the page's height for the shot (desktop width)."""
        self.driver.set_window_size(*DESKTOP)
        self.driver.get(f"{self.gateway}/app/#/{route}")
        self.wait_for(ready, timeout)
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(lambda d: d.execute_script(  # every panel has loaded
            "return document.querySelectorAll('.panel-body > [role=status]').length === 0"))
        time.sleep(0.4)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(DESKTOP[0], min(height + 120, 5000))
        time.sleep(0.4)
        path = self.out / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*DESKTOP)
        print(path)
        return path

    def shoot(self, route: str, ready: str, name: str, size: tuple[int, int] | None = None) -> Path:
        if size:
            self.driver.set_window_size(*size)
        self.driver.get(f"{self.gateway}/app/#/{route}")
        self.wait_for(ready)
        time.sleep(0.4)  # let the meters finish their transition
        path = self.out / f"{name}.png"
        self.driver.save_screenshot(str(path))
        print(path)
        return path


ANALYTICS_READY = "#timetable-gain, #panel-timetable .alert"


def analytics_shots(shots: Shooter, args) -> None:
    """The Analytics page (risk list, segments, forecast chart, timetable proposal) in both languages."""
    shots.session(args.manager, args.password, "pt-BR", DESKTOP)
    shots.shoot_full("console/analytics", ANALYTICS_READY, "console-analytics-desktop")
    shots.session(args.manager, args.password, "en", DESKTOP)
    shots.shoot_full("console/analytics", ANALYTICS_READY, "console-analytics-desktop-en")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="gym/docs/images")
    parser.add_argument("--password", default="gym-demo-2026", help="the demo seed's password")
    parser.add_argument("--manager", default="gerente.sp@gymchain.example.com")
    parser.add_argument("--only", choices=("all", "analytics"), default="all",
                        help="'analytics': only the manager's Analytics page (PT and EN)")
    args = parser.parse_args(argv)
    if not args.gateway.startswith(("http://127.0.0.1", "http://localhost")):
        fail(f"--gateway {args.gateway!r}: loopback only")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    member = demo_member_email(args.gateway, args.password)
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(profile)
        try:
            shots = Shooter(driver, args.gateway, out)
            if args.only == "analytics":
                analytics_shots(shots, args)
                return 0
            driver.set_window_size(*PHONE)
            driver.get(f"{args.gateway}/app/icon.svg")
            driver.execute_script("sessionStorage.clear(); localStorage.setItem('gymchain.lang', 'pt-BR');")
            shots.shoot("login", "#email", "login-phone")
            shots.session(member, args.password, "pt-BR", PHONE)
            shots.shoot("portal/classes", ".class-card, .empty", "portal-classes-phone")
            shots.shoot("portal/bookings", "main h1", "portal-bookings-phone")
            shots.shoot("portal/visits", ".visits, .empty", "portal-visits-phone")
            shots.shoot("portal/plan", ".facts", "portal-plan-phone")
            shots.shoot("portal/privacy", "#consent", "portal-privacy-phone")
            shots.shoot("portal/classes", ".class-card, .empty", "portal-classes-desktop", DESKTOP)
            shots.session(member, args.password, "en", PHONE)
            shots.shoot("portal/classes", ".class-card, .empty", "portal-classes-phone-en")
            shots.session(args.manager, args.password, "pt-BR", DESKTOP)
            shots.shoot("console/members", "table.table", "console-members-desktop")
            first = driver.find_element("css selector", "tbody tr").get_attribute("data-member-id")
            shots.shoot(f"console/members/{first}", "#book-form, .facts", "console-member-desktop")
            shots.shoot("console/classes", ".class-card, .empty", "console-classes-desktop")
            shots.shoot("console/occupancy", "#occupancy-live .card, .empty", "console-occupancy-desktop")
            shots.shoot("console/members", "table.table", "console-members-phone", PHONE)
            shots.shoot("console/occupancy", "#occupancy-live .card, .empty", "console-occupancy-phone")
            shots.session(args.manager, args.password, "en", DESKTOP)
            shots.shoot("console/classes", ".class-card, .empty", "console-classes-desktop-en")
            analytics_shots(shots, args)
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
