"""The web front end in headless Chromium (selenium + Debian's chromium-driver) against the real platform.

A member logs in on a phone-sized screen, books a class, joins a wait-list, cancels, and sees their visits; a
manager lists members (paging, search), opens one, books them into a class and watches live occupancy refresh; the
language switch, error messages, session refresh on reload and phone layout are checked too. Every UI action is
verified against the API/database, not only against what the page shows.

Screenshots go to a temporary folder, or to ``GYM_WEB_SCREENSHOTS`` (gym/docs/images when refreshing the docs).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import PASSWORD, bearer, valid_cpf

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian packages chromium and chromium-driver (gym/scripts/setup.sh)")
PHONE = (390, 844)
DESKTOP = (1280, 900)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("GYM_WEB_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--lang=pt-BR", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def api_call(platform, token: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{platform.gateway}/api/{path}", headers=bearer(token), timeout=30, **kwargs)


def created(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def scene(platform, world, tokens):
    """Unit 1 gets its own member with a login and visits, 24 more members (for paging) and three classes:
    one roomy, one small, one already full (so booking it means the wait-list)."""
    manager = tokens["manager1"]
    unit = world.units[0]
    weights, studio = world.areas[unit]
    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    seed = int(stamp[-7:])

    def new_member(name: str, email: str, offset: int) -> dict:
        member = created(api_call(platform, manager, "POST", "members/members", json={
            "unit_id": unit, "full_name": name, "email": email, "cpf": valid_cpf(seed * 50 + offset)}))
        created(api_call(platform, manager, "POST", "members/contracts", json={
            "member_id": member["id"], "plan_id": world.plan_id, "starts_on": datetime.now(UTC).date().isoformat()}))
        return member

    daniela = new_member("Daniela Rocha", f"daniela.{stamp}@example.com", 1)
    created(api_call(platform, manager, "POST", "auth/users", json={
        "email": daniela["email"], "password": PASSWORD, "role": "member", "unit_id": unit,
        "member_id": daniela["id"]}))
    others = [new_member(f"Membro Teste {i:02d}", f"web{i}.{stamp}@example.com", 2 + i) for i in range(24)]
    for area in (weights, studio):  # two finished visits
        visit = created(api_call(platform, manager, "POST", "members/checkins",
                                 json={"member_id": daniela["id"], "area_id": area}))
        created(api_call(platform, manager, "POST", f"members/checkins/{visit['id']}/checkout"))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=2)

    def new_class(title: str, hours: int, capacity: int, area: int) -> dict:
        return created(api_call(platform, manager, "POST", "members/classes", json={
            "area_id": area, "title": title, "starts_at": (start + timedelta(hours=hours)).isoformat(),
            "duration_minutes": 45, "capacity": capacity}))

    classes = {"spinning": new_class("Spinning Web", 0, 20, weights), "pilates": new_class("Pilates Web", 1, 1, studio),
               "funcional": new_class("Funcional Web", 2, 3, studio)}
    created(api_call(platform, manager, "POST", "members/bookings",
                     json={"class_id": classes["pilates"]["id"], "member_id": others[0]["id"]}))
    return {"daniela": daniela, "others": others, "classes": classes, "unit": unit, "areas": (weights, studio)}


def wait(driver, condition, timeout: float = 15):
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        page = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"timed out at {driver.current_url}; the page shows: {page[:600]!r}") from None


def visible(driver, css: str, timeout: float = 15):
    return wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)


def text_in(driver, css: str, text: str, timeout: float = 15) -> None:
    try:
        WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        shown = driver.find_element(By.CSS_SELECTOR, css).text if driver.find_elements(By.CSS_SELECTOR, css) else ""
        raise AssertionError(f"{text!r} not shown in {css}; it shows: {shown[:400]!r}") from None


def open_app(driver, platform, size, lang: str = "pt-BR") -> None:
    """A fresh tab state: no session, the given language, the given window size."""
    driver.set_window_size(*size)
    driver.get(f"{platform.gateway}/app/icon.svg")  # same origin, not the app: nothing runs while we reset
    driver.execute_script("sessionStorage.clear(); localStorage.setItem('gymchain.lang', arguments[0]);", lang)
    driver.get(f"{platform.gateway}/app/#/login")
    visible(driver, "#email")


def log_in(driver, email: str) -> None:
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    visible(driver, "nav.tabs")


def card(driver, class_id: int):
    return visible(driver, f'.class-card[data-class-id="{class_id}"]')


UNNAMED_CONTROLS = """
    const problems = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push(el.outerHTML.slice(0, 90));
    }
    for (const el of document.querySelectorAll('button, a[href], summary')) {
      if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push(el.outerHTML.slice(0, 90));
    }
    if (!document.querySelector('main h1')) problems.push('no h1 in main');
    return problems;"""


def assert_accessible_names(driver) -> None:
    """Every field has a label, every button/link a name, and the page a heading."""
    assert driver.execute_script(UNNAMED_CONTROLS) == []


def fits_width(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def bookings_of(platform, token: str, member_id: int) -> dict[int, dict]:
    rows = created(api_call(platform, token, "GET", f"members/members/{member_id}/bookings", params={"limit": 200}))
    return {b["class_id"]: b for b in rows if b["status"] != "cancelled"}


def test_member_books_waitlists_cancels_and_sees_visits_on_a_phone(browser, platform, tokens, scene, shots):
    daniela, classes = scene["daniela"], scene["classes"]
    open_app(browser, platform, PHONE)
    assert_accessible_names(browser)
    browser.save_screenshot(str(shots / "login-phone.png"))
    log_in(browser, daniela["email"])
    assert browser.current_url.endswith("#/portal/classes")
    spinning = card(browser, classes["spinning"]["id"])
    assert "20 de 20 vagas livres" in spinning.text

    spinning.find_element(By.CSS_SELECTOR, '[data-action="book"]').click()
    text_in(browser, "#notice", "Reserva confirmada: Spinning Web")
    text_in(browser, f'.class-card[data-class-id="{classes["spinning"]["id"]}"]', "Confirmada")
    text_in(browser, f'.class-card[data-class-id="{classes["spinning"]["id"]}"]', "19 de 20 vagas livres")
    held = bookings_of(platform, tokens["manager1"], daniela["id"])
    assert held[classes["spinning"]["id"]]["status"] == "confirmed"

    pilates = card(browser, classes["pilates"]["id"])
    assert "Lotada" in pilates.text
    button = pilates.find_element(By.CSS_SELECTOR, '[data-action="book"]')
    assert button.text == "Entrar na lista de espera"
    button.click()
    text_in(browser, "#notice", "lista de espera de Pilates Web, posição 1")
    text_in(browser, f'.class-card[data-class-id="{classes["pilates"]["id"]}"]', "Lista de espera: posição 1")
    held = bookings_of(platform, tokens["manager1"], daniela["id"])
    assert held[classes["pilates"]["id"]]["status"] == "waitlisted"
    assert held[classes["pilates"]["id"]]["waitlist_position"] == 1
    assert fits_width(browser)
    assert_accessible_names(browser)
    browser.save_screenshot(str(shots / "portal-classes-phone.png"))

    cancel = card(browser, classes["spinning"]["id"]).find_element(By.CSS_SELECTOR, '[data-action="cancel"]')
    cancel.click()  # first tap only asks
    assert "Cancelar a reserva de Spinning Web?" in cancel.text
    assert classes["spinning"]["id"] in bookings_of(platform, tokens["manager1"], daniela["id"])
    cancel.click()
    text_in(browser, "#notice", "Reserva cancelada: Spinning Web")
    text_in(browser, f'.class-card[data-class-id="{classes["spinning"]["id"]}"]', "20 de 20 vagas livres")
    assert classes["spinning"]["id"] not in bookings_of(platform, tokens["manager1"], daniela["id"])

    browser.find_element(By.CSS_SELECTOR, 'a[href="#/portal/bookings"]').click()
    text_in(browser, "main", "Minhas reservas")
    text_in(browser, "main", "Pilates Web")
    assert "Spinning Web" in browser.find_element(By.TAG_NAME, "main").text  # under past and cancelled
    browser.save_screenshot(str(shots / "portal-bookings-phone.png"))

    browser.find_element(By.CSS_SELECTOR, 'a[href="#/portal/visits"]').click()
    text_in(browser, "main", "2 visitas mostradas")
    assert len(browser.find_elements(By.CSS_SELECTOR, "li.visit")) == 2
    assert "Musculação" in browser.find_element(By.CSS_SELECTOR, ".visits").text
    browser.save_screenshot(str(shots / "portal-visits-phone.png"))

    browser.find_element(By.CSS_SELECTOR, 'a[href="#/portal/plan"]').click()
    text_in(browser, "main", "Basic")
    text_in(browser, "main", "Daniela Rocha")
    assert fits_width(browser)
    browser.save_screenshot(str(shots / "portal-plan-phone.png"))


def test_member_privacy_consent_and_data_export(browser, platform, tokens, scene, shots):
    daniela = scene["daniela"]
    open_app(browser, platform, PHONE)
    log_in(browser, daniela["email"])
    browser.find_element(By.CSS_SELECTOR, 'a[href="#/portal/privacy"]').click()
    toggle = visible(browser, "#consent")
    assert not toggle.is_selected()
    browser.find_element(By.CSS_SELECTOR, 'label[for="consent"]').click()
    text_in(browser, "#notice", "Consentimento registrado")
    assert_accessible_names(browser)
    member = created(api_call(platform, tokens["manager1"], "GET", f"members/members/{daniela['id']}"))
    assert member["camera_consent"] is True
    # the export is fetched with the member's token and handed to the browser as a file
    browser.execute_script("window.__saved = null; const create = URL.createObjectURL;"
                           "URL.createObjectURL = (blob) => { window.__saved = blob; return create(blob); };")
    browser.find_element(By.ID, "export").click()
    text_in(browser, "#notice", f"gymchain-member-{daniela['id']}-")
    exported = browser.execute_async_script("const done = arguments[0]; window.__saved.text().then(done);")
    assert '"full_name": "Daniela Rocha"' in exported and '"visits"' in exported
    browser.save_screenshot(str(shots / "portal-privacy-phone.png"))


def test_manager_pages_searches_books_a_member_and_sees_occupancy(browser, platform, tokens, scene, shots):
    daniela, classes = scene["daniela"], scene["classes"]
    open_app(browser, platform, DESKTOP)
    log_in(browser, "manager1@gymchain.example.com")
    assert browser.current_url.endswith("#/console/members")
    visible(browser, "table.table")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 20
    assert browser.find_element(By.ID, "prev-page").get_attribute("disabled") is not None
    assert_accessible_names(browser)
    browser.save_screenshot(str(shots / "console-members-desktop.png"))
    browser.find_element(By.ID, "next-page").click()
    text_in(browser, "#page-number", "Página 2")
    assert 1 <= len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) <= 20

    search = browser.find_element(By.ID, "member-search")
    search.send_keys(daniela["email"] + "\n")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tbody tr")) == 1)
    text_in(browser, "tbody", "Daniela Rocha")
    browser.find_element(By.LINK_TEXT, "Daniela Rocha").click()
    visible(browser, "#book-form")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Daniela Rocha"
    assert_accessible_names(browser)
    Select(browser.find_element(By.ID, "book-class")).select_by_value(str(classes["funcional"]["id"]))
    browser.find_element(By.ID, "book-submit").click()
    text_in(browser, "#notice", "Daniela Rocha: Confirmada em Funcional Web")
    assert bookings_of(platform, tokens["manager1"], daniela["id"])[classes["funcional"]["id"]]["status"] == "confirmed"
    browser.save_screenshot(str(shots / "console-member-desktop.png"))

    waiting = created(api_call(platform, tokens["manager1"], "POST", "members/bookings", json={
        "class_id": classes["pilates"]["id"], "member_id": scene["others"][3]["id"]}))
    assert waiting["status"] == "waitlisted"  # the class is full
    browser.find_element(By.CSS_SELECTOR, 'a[href="#/console/classes"]').click()
    pilates = card(browser, classes["pilates"]["id"])
    text_in(browser, f'.class-card[data-class-id="{classes["pilates"]["id"]}"] .roster', "Membro Teste 03")
    assert "Lista de espera: posição" in browser.find_element(
        By.CSS_SELECTOR, f'.class-card[data-class-id="{classes["pilates"]["id"]}"] .roster').text
    assert "Lotada" in pilates.text
    funcional = card(browser, classes["funcional"]["id"])
    assert "2 de 3 vagas livres" in funcional.text
    browser.save_screenshot(str(shots / "console-classes-desktop.png"))
    # front-desk booking from the class card, by e-mail
    walk_in = scene["others"][2]
    funcional.find_element(By.TAG_NAME, "summary").click()
    desk = visible(browser, f"#desk-{classes['funcional']['id']}")
    desk.send_keys(walk_in["email"] + "\n")
    text_in(browser, "#notice", "Membro Teste 02: Confirmada em Funcional Web")
    assert bookings_of(platform, tokens["manager1"], walk_in["id"])[classes["funcional"]["id"]]["status"] == "confirmed"
    text_in(browser, f'.class-card[data-class-id="{classes["funcional"]["id"]}"] .roster', "Membro Teste 02")
    text_in(browser, f'.class-card[data-class-id="{classes["funcional"]["id"]}"]', "1 de 3 vagas livres")

    browser.find_element(By.CSS_SELECTOR, 'a[href="#/console/occupancy"]').click()
    weights = scene["areas"][0]
    area_card = f'#occupancy-live [data-area-id="{weights}"]'
    visible(browser, area_card)
    occupancy = created(api_call(platform, tokens["manager1"], "GET", "members/occupancy"))
    present = next(a["present"] for a in occupancy["areas"] if a["area_id"] == weights)
    text_in(browser, area_card, f"{present} de 40 pessoas")
    assert_accessible_names(browser)
    # someone checks in at the desk: the page shows it at the next refresh without a reload
    visit = created(api_call(platform, tokens["manager1"], "POST", "members/checkins",
                             json={"member_id": scene["others"][1]["id"], "area_id": weights}))
    try:
        text_in(browser, area_card, f"{present + 1} de 40 pessoas", timeout=20)
        browser.save_screenshot(str(shots / "console-occupancy-desktop.png"))
        browser.set_window_size(*PHONE)
        assert fits_width(browser)
        browser.save_screenshot(str(shots / "console-occupancy-phone.png"))
    finally:
        api_call(platform, tokens["manager1"], "POST", f"members/checkins/{visit['id']}/checkout")


def test_language_switch_translates_and_is_remembered(browser, platform, scene, shots):
    open_app(browser, platform, PHONE)
    assert browser.find_element(By.CSS_SELECTOR, "label[for=email]").text == "E-mail"
    assert browser.find_element(By.ID, "login-submit").text == "Entrar"
    Select(browser.find_element(By.ID, "lang")).select_by_value("en")
    text_in(browser, "#login-submit", "Log in")
    assert browser.execute_script("return document.documentElement.lang") == "en"
    log_in(browser, scene["daniela"]["email"])
    text_in(browser, "main h1", "Upcoming classes")
    assert "Pilates Web" in browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(shots / "portal-classes-phone-en.png"))
    browser.refresh()  # the choice survives a reload
    text_in(browser, "main h1", "Upcoming classes")
    Select(browser.find_element(By.ID, "lang")).select_by_value("pt-BR")
    text_in(browser, "main h1", "Próximas aulas")
    missing = browser.execute_async_script("""
        const done = arguments[0];
        import('/app/i18n.js').then((m) => {
          const pt = m.keys('pt-BR'), en = m.keys('en');
          done([pt.filter((k) => !en.includes(k)), en.filter((k) => !pt.includes(k)), pt.length]);
        });""")
    assert missing[0] == [] and missing[1] == [] and missing[2] > 100


def test_logout_revokes_the_refresh_token(browser, platform, scene):
    open_app(browser, platform, PHONE)
    log_in(browser, scene["daniela"]["email"])
    refresh = browser.execute_script("return sessionStorage.getItem('gymchain.refresh')")
    browser.find_element(By.ID, "logout").click()
    visible(browser, "#email")
    assert browser.execute_script("return sessionStorage.length") == 0
    # the page awaits the revocation before showing the login form; one try only (a second one would be refused
    # anyway, as a reused token, and prove nothing)
    answer = httpx.post(f"{platform.gateway}/api/auth/refresh", json={"refresh_token": refresh}, timeout=10)
    assert answer.status_code == 401, answer.text


def test_login_error_is_the_api_one_line_message(browser, platform, shots):
    open_app(browser, platform, PHONE)
    browser.find_element(By.ID, "email").send_keys("manager1@gymchain.example.com")
    browser.find_element(By.ID, "password").send_keys("wrong-password-123")
    browser.find_element(By.ID, "login-submit").click()
    text_in(browser, "#login-error", "E-mail ou senha incorretos.")
    message = browser.find_element(By.CSS_SELECTOR, "#login-error [role=alert]").text
    assert "Traceback" not in message and len(message.splitlines()) <= 2
    assert browser.switch_to.active_element.get_attribute("id") == "password"
    browser.save_screenshot(str(shots / "login-error-phone.png"))


def test_a_refused_booking_shows_the_api_reason(browser, platform, tokens, scene):
    """A member without a contract may look but not book: the API's one-line 409 reaches the page as an alert."""
    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    member = created(api_call(platform, tokens["manager1"], "POST", "members/members", json={
        "unit_id": scene["unit"], "full_name": "Sem Contrato", "email": f"sem.contrato.{stamp}@example.com",
        "cpf": valid_cpf(int(stamp[-8:]) + 7)}))
    created(api_call(platform, tokens["manager1"], "POST", "auth/users", json={
        "email": member["email"], "password": PASSWORD, "role": "member", "unit_id": scene["unit"],
        "member_id": member["id"]}))
    open_app(browser, platform, PHONE)
    log_in(browser, member["email"])
    spinning = card(browser, scene["classes"]["spinning"]["id"])
    spinning.find_element(By.CSS_SELECTOR, '[data-action="book"]').click()
    text_in(browser, "#notice", "Erro: ")
    alert = browser.find_element(By.CSS_SELECTOR, "#notice [role=alert]").text
    assert "no active contract" in alert and "código da requisição" in alert
    assert scene["classes"]["spinning"]["id"] not in bookings_of(platform, tokens["manager1"], member["id"])


def test_reload_rotates_the_refresh_token_and_keeps_the_session(browser, platform, scene):
    open_app(browser, platform, PHONE)
    log_in(browser, scene["daniela"]["email"])
    first = browser.execute_script("return sessionStorage.getItem('gymchain.refresh')")
    browser.refresh()  # the access token lived in memory only: the page must rotate the refresh token
    text_in(browser, "main h1", "Próximas aulas")
    second = browser.execute_script("return sessionStorage.getItem('gymchain.refresh')")
    assert first and second and first != second
    reused = httpx.post(f"{platform.gateway}/api/auth/refresh", json={"refresh_token": first}, timeout=10)
    assert reused.status_code == 401  # the spent token is refused (and revokes the family)
    browser.refresh()
    text_in(browser, "#notice", "Sua sessão expirou")
    visible(browser, "#email")


def test_admin_picks_the_unit_in_the_console(browser, platform, world):
    open_app(browser, platform, DESKTOP, lang="en")
    log_in(browser, "admin@gymchain.example.com")
    unit = Select(visible(browser, "#unit"))
    assert unit.first_selected_option.get_attribute("value") == str(world.units[0])
    text_in(browser, "tbody", "Ana Souza")
    assert "Carla Dias" not in browser.find_element(By.TAG_NAME, "tbody").text  # one unit at a time
    unit = Select(browser.find_element(By.ID, "unit"))
    unit.select_by_value(str(world.units[1]))
    wait(browser, lambda d: "Ana Souza" not in d.find_element(By.TAG_NAME, "main").text)
    text_in(browser, "tbody", "Carla Dias")  # a member of unit 2; Ana is in unit 1
    browser.find_element(By.CSS_SELECTOR, 'a[href="#/console/occupancy"]').click()
    visible(browser, "#occupancy-live .card")
    shown = {int(c.get_attribute("data-area-id")) for c in browser.find_elements(By.CSS_SELECTOR, "#occupancy-live .card")}
    assert shown == set(world.areas[world.units[1]])


def test_member_cannot_open_the_console(browser, platform, scene):
    open_app(browser, platform, PHONE)
    log_in(browser, scene["daniela"]["email"])
    browser.get(f"{platform.gateway}/app/#/console/members")
    wait(browser, lambda d: d.current_url.endswith("#/portal/classes"))
    assert not browser.find_elements(By.CSS_SELECTOR, "table.table")


def test_static_assets_are_served_with_a_strict_policy(platform):
    index = httpx.get(f"{platform.gateway}/", follow_redirects=True, timeout=10)
    assert index.status_code == 200 and '<script type="module" src="app.js">' in index.text
    assert "script-src 'self'" in index.headers["content-security-policy"]
    script = httpx.get(f"{platform.gateway}/app/app.js", timeout=10)
    assert script.headers["content-type"].startswith("text/javascript")
    for name in ("../__init__.py", "..%2F__init__.py", "nope.js", "__init__.py"):
        answer = httpx.get(f"{platform.gateway}/app/{name}", timeout=10)
        assert answer.status_code == 404, name
        assert "detail" in answer.json()
    assert "http://" not in index.text and "https://" not in index.text  # nothing from a CDN

