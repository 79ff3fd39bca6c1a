"""The manager's Analytics page in headless Chromium against the real platform (its own unit, analytics_unit.py).

The unit's manager opens the page and sees at-risk members with reasons (in the API's order), segments (and drills
into one's members), the forecast-vs-actual chart (one bar per week the API returns, the period selector refetches)
and the proposed timetable with the API's expected gain (the current/proposed toggle switches the grid); a member
drill-down shows that member's risk; English labels; trainers get no Analytics tab. Screenshots go to
``GYM_WEB_SCREENSHOTS`` when set (gym/docs/images), else a temporary folder.
"""

# ruff: noqa: F811 - test arguments named after the imported fixtures 'browser' and 'shots'
from __future__ import annotations

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from analytics_unit import analytics_unit
from conftest import bearer

# the fixtures 'browser' (module-scoped Chromium) and 'shots' (screenshot folder), used as test arguments
from test_web_ui import (  # noqa: F401
    DESKTOP,
    PHONE,
    assert_accessible_names,
    browser,
    fits_width,
    log_in,
    open_app,
    shots,
    text_in,
    visible,
    wait,
)


@pytest.fixture(scope="module")
def unit(platform, database_url, world):
    """The unit, and a churn model registered (trained on a small simulated chain) so the risk list has a model."""
    from gymchain.ml.churn import train_churn
    from gymchain.ml.loaders import validate_all
    from gymchain.ml.registry import register
    from gymchain.ml.simulator import SimConfig, simulate

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    register(engine, train_churn(validate_all(simulate(SimConfig(members=3000, seed=3))), "2026-05-04", 28), "test")
    engine.dispose()
    with analytics_unit(platform, database_url, world) as made:
        yield made


def full_page_shot(browser, path) -> None:
    """The whole page at desktop width (the window grows to the page's height, then returns to its size)."""
    size = browser.get_window_size()
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size["width"], min(height + 120, 4000))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(path))
    browser.set_window_size(size["width"], size["height"])


def email_of(api, unit) -> str:
    me = api.get("/api/auth/me", headers=bearer(unit["token"]))
    assert me.status_code == 200, me.text
    return me.json()["email"]


def test_manager_sees_risk_segments_forecast_and_timetable(browser, platform, api, unit, shots):
    headers = bearer(unit["token"])
    risk = api.get(f"/api/analytics/units/{unit['id']}/churn-risk", params={"limit": 15}, headers=headers).json()
    segments = api.get(f"/api/analytics/units/{unit['id']}/segments", params={"limit": 2000}, headers=headers).json()
    open_app(browser, platform, DESKTOP)
    log_in(browser, email_of(api, unit))
    tab = visible(browser, 'nav.tabs a[href="#/console/analytics"]')
    assert tab.text == "Análises"
    tab.click()
    text_in(browser, "main h1", "Análises da unidade")
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#risk-table tbody tr") or False, 60)
    assert [int(r.get_attribute("data-member-id")) for r in rows] == [m["member_id"] for m in risk["members"]]
    first = risk["members"][0]
    assert f"{first['churn_risk'] * 100:.1f}".replace(".", ",") in rows[0].text
    assert rows[0].find_element(By.CSS_SELECTOR, "a").text.split()[0] in {
        "Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gina", "Hugo", "Iara", "Júlio"}

    cards = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment") or False, 60)
    assert len(cards) == segments["k"]
    cards[0].find_element(By.CSS_SELECTOR, "button").click()
    label = int(cards[0].get_attribute("data-segment"))
    size = sum(1 for a in segments["assignments"] if a["segment"] == label)
    listed = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#segment-detail li a") or False)
    assert len(listed) == min(12, size)

    forecast = api.get(f"/api/analytics/units/{unit['id']}/demand-forecast", params={"weeks": 8},
                       headers=headers).json()
    text_in(browser, "#panel-forecast", "MASE", 60)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#forecast-chart rect.bar-booked")) == len(forecast["weekly"])
    mase = f"{forecast['mase']['glm']['mase_mean']:.2f}".replace(".", ",")
    text_in(browser, "#forecast-mase", mase)

    proposal = api.get(f"/api/analytics/units/{unit['id']}/timetable-proposal", params={"time_limit_s": 5},
                       headers=headers).json()
    visible(browser, "#timetable-gain", 60)
    gain = proposal["expected_gain"]["attendance_per_week"]
    text_in(browser, "#timetable-gain", f"{gain:.1f}".replace(".", ",").removesuffix(",0"))  # num() drops ",0"
    chips = browser.find_elements(By.CSS_SELECTOR, "#timetable-grid .chip")
    assert len(chips) == proposal["proposed"]["totals"]["sessions"]
    assert_accessible_names(browser)
    assert fits_width(browser)
    full_page_shot(browser, shots / "analytics-test-unit-desktop.png")

    browser.find_element(By.ID, "show-current").click()
    wait(browser, lambda d: d.find_element(By.ID, "show-current").get_attribute("aria-pressed") == "true", 60)
    chips = browser.find_elements(By.CSS_SELECTOR, "#timetable-grid .chip")
    assert len(chips) == proposal["current"]["totals"]["sessions"]

    Select(browser.find_element(By.ID, "forecast-weeks")).select_by_value("4")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#forecast-chart rect.bar-booked")) in (4, 5), 60)
    four = api.get(f"/api/analytics/units/{unit['id']}/demand-forecast", params={"weeks": 4}, headers=headers).json()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#forecast-chart rect.bar-booked")) == len(four["weekly"])

    # drill-down: the riskiest member's page shows their risk and reasons
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#risk-table tbody tr a") or False, 60)[0].click()
    text_in(browser, "#member-risk", "de chance de cancelar", 60)
    assert f"{first['churn_risk'] * 100:.1f}".replace(".", ",") in browser.find_element(By.ID, "member-risk").text


def test_english_labels_and_phone_layout(browser, platform, api, unit, shots):
    open_app(browser, platform, PHONE, lang="en")
    log_in(browser, email_of(api, unit))
    browser.get(f"{platform.gateway}/app/#/console/analytics")
    text_in(browser, "main h1", "Unit analytics")
    text_in(browser, "#panel-risk-title", "Members at risk of leaving")
    visible(browser, "#timetable-gain", 60)
    text_in(browser, "#timetable-gain", "Expected gain")
    assert fits_width(browser)
    browser.set_window_size(*DESKTOP)
    visible(browser, "#forecast-chart", 60)
    full_page_shot(browser, shots / "analytics-test-unit-desktop-en.png")


def test_trainers_get_no_analytics_tab(browser, platform, world):
    open_app(browser, platform, DESKTOP)
    log_in(browser, world.logins["trainer1"])
    assert not browser.find_elements(By.CSS_SELECTOR, 'nav.tabs a[href="#/console/analytics"]')
    browser.get(f"{platform.gateway}/app/#/console/analytics")
    wait(browser, lambda d: d.current_url.endswith("#/console/members"))
