"""An admin adds an xAPI credential in headless Chromium: the generated secret is shown once, on
the page answering the add, no cookie the browser keeps holds it, and Continue goes on to the
credential list, where it is not shown again (lrs/admin.py, CredentialAdmin.response_add)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from selenium.webdriver.common.by import By

from lrs.credentials.models import Credential
from tests.browser.test_admin_journey import PASSWORD, follow, text

pytestmark = pytest.mark.django_db(transaction=True)


def cookies_text(browser) -> str:
    """Every cookie the browser holds for the site, the message cookie decoded."""
    parts = []
    for cookie in browser.get_cookies():
        parts.append(cookie["value"])
        if cookie["name"] == "messages":
            parts += [str(message) for message in CookieStorage(HttpRequest())._decode(cookie["value"]) or []]
    return "\n".join(parts)


def test_an_admin_adds_a_credential_copies_its_secret_once_and_continues_to_the_list(browser, live_server):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("root")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    browser.get(live_server.url + "/admin/lrs/credential/add/")
    browser.find_element(By.NAME, "name").send_keys("lms")
    browser.find_element(By.CSS_SELECTOR, "input[name=scopes][value='statements/write']").click()
    follow(browser, browser.find_element(By.NAME, "_save"))

    secret = browser.find_element(By.ID, "generated-secret").text
    credential = Credential.objects.get(name="lms")
    assert credential.check_secret(secret)
    assert credential.key in text(browser) and "shown only this once" in text(browser)
    assert secret not in cookies_text(browser)

    follow(browser, browser.find_element(By.LINK_TEXT, "Continue"))
    assert browser.current_url == live_server.url + "/admin/lrs/credential/"
    assert "lms" in text(browser) and secret not in text(browser)
    assert secret not in cookies_text(browser)
