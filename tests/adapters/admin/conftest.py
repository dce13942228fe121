"""An admin client logged in as a superuser, and the scene the admin tests look at."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.adapters.admin.scene import Scene, build_scene


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def scene(monkeypatch, django_capture_on_commit_callbacks) -> Scene:
    return build_scene(monkeypatch, capture=django_capture_on_commit_callbacks)
