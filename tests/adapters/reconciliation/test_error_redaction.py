"""A reconciliation run that fails keeps its error for the admin: redacted as a delivery attempt's
error is (adapters.redaction.redacted_text), since a target's failure may quote a credential, the
URL it was asked with or what it answered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.models import ReconciliationRun, Target
from adapters.outbound import AdapterError
from adapters.pms.adapter import PMSAdapter
from adapters.reconciliation.run import reconcile

pytestmark = pytest.mark.django_db

LEAKY = (
    "the target answered 401: {'error': 'invalid_token', 'access_token': 'tok-Xy12ab34cd'}"
    " at https://pms.example.com/api/v1/learning-events?signature=sig-Qw98er76"
    " (client_secret pms-secret)"
)


@pytest.mark.parametrize(
    "failure", [AdapterError(LEAKY), ValueError(LEAKY)], ids=["adapter-error", "unexpected-error"]
)
def test_a_failed_run_keeps_no_credential_a_target_quoted(pms_target, monkeypatch, failure):
    def read_back(self, since):
        raise failure
        yield  # a generator, as the adapter's is

    monkeypatch.setattr(PMSAdapter, "read_back", read_back)
    now = timezone.now()
    with pytest.raises(type(failure)):
        reconcile(target=Target.objects.get(name="pms"), since=now - timedelta(hours=1), until=now)
    error = ReconciliationRun.objects.get().error
    assert error.startswith(type(failure).__name__), error
    for secret in ("tok-Xy12ab34cd", "sig-Qw98er76", "pms-secret"):
        assert secret not in error, error


def test_the_reconcile_command_prints_no_credential_a_target_quoted(pms_target, monkeypatch):
    """The command's failure line goes to stderr, so to a cron log or a CI job's output: redacted
    as the stored run's error is."""
    from django.core.management import CommandError, call_command

    def read_back(self, since):
        raise AdapterError(LEAKY)
        yield  # a generator, as the adapter's is

    monkeypatch.setattr(PMSAdapter, "read_back", read_back)
    with pytest.raises(CommandError) as failed:
        call_command("reconcile", "--target", "pms", "--no-progress")
    assert "reconciliation of pms failed" in str(failed.value)
    for secret in ("tok-Xy12ab34cd", "sig-Qw98er76", "pms-secret"):
        assert secret not in str(failed.value), failed.value
