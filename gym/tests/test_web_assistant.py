"""The member portal's assistant chat in headless Chromium against the real platform: a member asks a nutrition
question in Portuguese and sees a grounded answer with its sources, then books a class by chat; the booking is
checked through the API, not only on the page. Follows tests/test_web_ui.py (its browser and helpers)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from conftest import bearer
from test_web_ui import CHROMEDRIVER, CHROMIUM, PHONE, browser, log_in, open_app, shots, text_in, visible, wait  # noqa: F401

pytestmark = [pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                 reason="needs Debian packages chromium and chromium-driver (gym/scripts/setup.sh)"),
              pytest.mark.timeout(1200)]  # the models' first load on a busy shared machine
from selenium.webdriver.common.by import By

SLOW = 300  # the first answer may load the embedding model (and the LLM) on a busy machine


@pytest.fixture(scope="module")
def warm(platform, tokens):
    """Wait until the assistant service has loaded its models (asked directly, not through the gateway's 30 s)."""
    url, member = platform.services["assistant"], bearer(tokens["member3"])
    conversation = httpx.post(f"{url}/conversations", json={"title": "warm-up"}, headers=member, timeout=30).json()
    answer = httpx.post(f"{url}/conversations/{conversation['_id']}/ask", json={"text": "How much water per day?"},
                        headers=member, timeout=1100)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def chat_class(platform, world, tokens, warm):
    local = (datetime.now(ZoneInfo("America/Sao_Paulo")) + timedelta(days=1)).replace(hour=11, minute=0, second=0,
                                                                                      microsecond=0)
    response = httpx.post(f"{platform.gateway}/api/members/classes", headers=bearer(tokens["manager1"]), timeout=30,
                          json={"area_id": world.areas[world.units[0]][0], "title": "Treino Funcional Web",
                                "starts_at": local.isoformat(), "capacity": 10})
    assert response.status_code == 201, response.text
    return response.json()


def send(driver, text: str) -> None:
    box = driver.find_element(By.ID, "chat-input")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "chat-send").click()


def test_member_asks_in_portuguese_and_books_a_class_by_chat(browser, platform, world, tokens, chat_class,  # noqa: F811
                                                             shots):  # noqa: F811
    open_app(browser, platform, PHONE)
    log_in(browser, world.logins["member2"])
    browser.find_element(By.CSS_SELECTOR, 'nav.tabs a[href="#/portal/assistant"]').click()
    visible(browser, "#chat-input")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "Assistente"
    browser.find_element(By.ID, "chat-new").click()  # the view resumes the latest conversation; start a fresh one
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#chat-log li"))
    send(browser, "Quantos gramas de proteína por quilo eu preciso por dia?")
    answer = visible(browser, '.chat-assistant[data-intent="nutrition"]', SLOW)
    assert len(answer.find_element(By.CSS_SELECTOR, ".chat-text").text) > 20  # phrased by the LLM or the facts
    answer.find_element(By.CSS_SELECTOR, ".chat-sources summary").click()
    text_in(browser, '.chat-assistant[data-intent="nutrition"] .chat-sources', "ISSN")
    send(browser, "Reserva o treino funcional web amanhã às 11h")
    text_in(browser, "#chat-log", "Reserva feita", SLOW)
    browser.save_screenshot(str(shots / "portal-assistant.png"))
    rows = httpx.get(f"{platform.gateway}/api/members/members/{world.members['member2']}/bookings",
                     headers=bearer(tokens["member2"]), timeout=30).json()
    assert any(b["class_id"] == chat_class["id"] and b["status"] == "confirmed" for b in rows)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
