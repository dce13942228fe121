"""The target change list computes health once per page, per request: the admin instance is shared
by the requests a process serves at once, so one page's figures never show on another's."""

from __future__ import annotations

import threading

import pytest
from django.contrib import admin

from adapters.models import Target

pytestmark = pytest.mark.django_db


def test_each_thread_keeps_its_own_page_figures(target, monkeypatch):
    model_admin = admin.site._registry[Target]
    calls = []
    monkeypatch.setattr("adapters.admin.targets.target_health", lambda obj: calls.append(obj.pk) or object())
    model_admin._page.health, model_admin._page.held = {}, None
    mine = model_admin._health(target)
    seen_elsewhere = []

    def another_request() -> None:
        model_admin._page.health, model_admin._page.held = {}, None  # its own page starts
        seen_elsewhere.append(model_admin._health(target))

    thread = threading.Thread(target=another_request)
    thread.start()
    thread.join()
    assert seen_elsewhere[0] is not mine  # computed for that page
    assert model_admin._health(target) is mine  # this page's figure, not reset by the other
    assert calls == [target.pk, target.pk]
