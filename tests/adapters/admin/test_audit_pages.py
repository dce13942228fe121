"""Deliveries, attempts, outbox batches and statements in the admin: read-only audit records
named by what they are, times to the second, the request an attempt sent (secrets redacted),
and a statement's deliveries on its page."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from adapters.models import Attempt, OutboxBatch

pytestmark = pytest.mark.django_db


def page(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_delivery_page_is_titled_by_target_name_and_offers_neither_save_nor_delete(admin_client, scene):
    html = page(admin_client.get(f"/admin/adapters/delivery/{scene.dead.pk}/change/"))
    short = str(scene.dead.statement_uuid)[:8]
    assert f"deliver {short} to hook" in html
    assert "-&gt; " not in html and f"-> {scene.hook.pk}" not in html
    assert 'name="_save"' not in html and "deletelink" not in html
    assert admin_client.post(f"/admin/adapters/delivery/{scene.dead.pk}/delete/").status_code == 403


def test_delivery_list_shows_short_statement_ids_with_the_full_id_on_hover(admin_client, scene):
    html = page(admin_client.get("/admin/adapters/delivery/"))
    full = str(scene.dead.statement_uuid)
    assert f'title="{full}">{full[:8]}<' in html
    assert "delete_selected" not in html


def test_times_are_shown_to_the_second(admin_client, scene):
    html = page(admin_client.get(f"/admin/adapters/delivery/{scene.delivered.pk}/change/"))
    created = timezone.localtime(scene.delivered.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert created in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page(admin_client.get("/admin/lrs/statement/")))


def test_dead_attempt_shows_the_request_sent_with_secrets_redacted_and_the_answer(admin_client, scene):
    attempt = Attempt.objects.get(delivery=scene.dead)
    html = page(admin_client.get(f"/admin/adapters/attempt/{attempt.pk}/change/"))
    assert f"attempt 1 of deliver {str(scene.dead.statement_uuid)[:8]} to hook" in html
    assert f"attempt 1 of {scene.dead.pk}" not in html
    assert "POST https://hooks.example.com/lrs" in html
    assert "webhook-signature: [redacted]" in html
    assert "s3cret-value" not in html
    assert "unknown course" in html
    assert 'name="_save"' not in html and "deletelink" not in html


def test_attempts_are_linked_from_their_delivery(admin_client, scene):
    attempt = Attempt.objects.get(delivery=scene.dead)
    html = page(admin_client.get(f"/admin/adapters/delivery/{scene.dead.pk}/change/"))
    assert f"/admin/adapters/attempt/{attempt.pk}/change/" in html


def test_outbox_batches_cannot_be_deleted_or_edited(admin_client, scene):
    batch = OutboxBatch.objects.create(
        id=10**9, statement_pks=[10**9], last_statement_pk=10**9, target_ids=[1], created_at=timezone.now()
    )
    html = page(admin_client.get(f"/admin/adapters/outboxbatch/{batch.pk}/change/"))
    assert 'name="_save"' not in html and "deletelink" not in html
    assert admin_client.post(f"/admin/adapters/outboxbatch/{batch.pk}/delete/").status_code == 403


def test_statement_page_links_to_its_deliveries_with_their_state(admin_client, scene):
    html = page(admin_client.get(f"/admin/lrs/statement/{scene.dead.statement_id}/change/"))
    assert f"/admin/adapters/delivery/{scene.dead.pk}/change/" in html
    assert "dead letter" in html
    assert f"/admin/adapters/delivery/?q={scene.dead.statement_uuid}" in html


def test_statement_list_shows_verb_display_names_and_short_ids(admin_client, scene):
    html = page(admin_client.get("/admin/lrs/statement/"))
    full = str(scene.dead.statement_uuid)
    assert f'title="{full}">{full[:8]}<' in html
    assert 'title="http://adlnet.gov/expapi/verbs/passed">passed<' in html


def test_target_list_counts_held_and_shows_paused_and_lag(admin_client, scene):
    html = page(admin_client.get("/admin/adapters/target/"))
    assert "held" in html and "0 / 0 / 2 / 0 / 0" in html
    assert "<b>paused</b> until" in html
    assert "lag p50 / p95" in html.lower()
