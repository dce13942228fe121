"""An operator's journey through the admin in headless Chromium at 1400 px: log in, filter the
statement list, open a statement and its deliveries, a dead delivery's attempt with the request it
sent, replay it, and read the target list with held and paused. No list scrolls sideways."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from adapters.models import Delivery
from tests.adapters.admin.scene import PASSED, build_scene
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-for-browser-tests"


def scrolls_sideways(browser) -> bool:
    """The page, or the list inside it, is wider than the window."""
    return browser.execute_script(
        "const page = document.documentElement, list = document.querySelector('#changelist .results');"
        "return page.scrollWidth > page.clientWidth + 1"
        " || (list !== null && list.scrollWidth > list.clientWidth + 1);"
    )


def follow(browser, element, keys: str | None = None) -> None:
    """Click a link or button that loads a page (or type ``keys`` ending in Enter into a field),
    and wait until the page it left is gone: a click returns before the navigation ends (the
    login POST hashes a password first), and the page read next would otherwise be the old one.
    https://www.selenium.dev/documentation/webdriver/waits/"""
    old_page = browser.find_element(By.TAG_NAME, "html")
    if keys is None:
        element.click()
    else:
        element.send_keys(keys)
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(old_page))


def text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def test_operator_follows_a_statement_to_its_dead_delivery_replays_it_and_reads_target_health(
    browser, live_server, monkeypatch
):
    scene = build_scene(monkeypatch)
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)

    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("root")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))
    assert "Site administration" in browser.title

    # The statement list, filtered by verb: short ids, verb names, no sideways scrolling.
    browser.get(live_server.url + "/admin/lrs/statement/")
    verb_filter = browser.find_element(By.CSS_SELECTOR, "input[name=verb]")
    follow(browser, verb_filter, PASSED + "\n")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    dead_id = str(scene.dead.statement_uuid)
    short = rows[0].find_element(By.CSS_SELECTOR, "th a span")
    assert short.text == dead_id[:8] and short.get_attribute("title") == dead_id
    assert "passed" in rows[0].text and PASSED not in rows[0].text
    assert not scrolls_sideways(browser)

    # The statement page lists its deliveries and their state.
    follow(browser, rows[0].find_element(By.CSS_SELECTOR, "th a"))
    deliveries = browser.find_element(By.CSS_SELECTOR, "table.statement-deliveries")
    assert "hook" in deliveries.text and "dead letter" in deliveries.text
    follow(browser, deliveries.find_element(By.LINK_TEXT, "hook"))

    # The dead delivery: named, read-only, its attempt with the request sent (secrets redacted).
    assert f"deliver {dead_id[:8]} to hook" in text(browser)
    assert 'name="_save"' not in browser.page_source and "deletelink" not in browser.page_source
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "attempt 1"))
    page = text(browser)
    assert f"attempt 1 of deliver {dead_id[:8]} to hook" in page
    assert f"POST {HOOK}" in page and "webhook-signature: [redacted]" in page
    assert "s3cret-value" not in browser.page_source
    assert "unknown course" in page

    # Replay it from the delivery list.
    browser.get(live_server.url + "/admin/adapters/delivery/?status__exact=dead")
    assert not scrolls_sideways(browser)
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("replay")
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=200, body="ok")
        follow(browser, browser.find_element(By.NAME, "index"))
        messages = browser.find_element(By.CSS_SELECTOR, "ul.messagelist")
        assert "replaying 1 deliveries" in messages.text.lower()
    scene.dead.refresh_from_db()
    assert scene.dead.status in (Delivery.PENDING, Delivery.RETRYING, Delivery.DELIVERED)

    # The target list: held counted, paused target shown paused, lag column on screen.
    browser.get(live_server.url + "/admin/adapters/target/")
    assert not scrolls_sideways(browser)
    paused_row = browser.find_element(By.XPATH, "//tr[.//a[text()='paused-hook']]")
    assert "paused until" in paused_row.text
    assert f"0 / 0 / {len(scene.held_statements)} / 0 / 0" in paused_row.text
    lag_header = browser.find_element(By.CSS_SELECTOR, "th.column-lag")
    assert lag_header.location["x"] + lag_header.size["width"] <= 1400
