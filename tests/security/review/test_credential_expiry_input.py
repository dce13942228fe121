"""``create_credential`` refuses an expiry beyond the calendar with its usage error (exit status 1,
a message naming the option), as it does an expiry that is not a time. Before, ``--expires-in``
of millions of days stopped with an OverflowError traceback, and ``--expires-at`` in year 9999 with
a negative offset was stored (year 10000 in UTC), which the database then refused to read back:
every request with that key, and the admin's list of credentials, answered 500."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from lrs.credentials.models import Credential

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--expires-in", "1000000000"),
        ("--expires-in", "3000000"),
        ("--expires-at", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_an_expiry_beyond_the_calendar_is_a_usage_error(option, value):
    with pytest.raises(CommandError, match=option):
        call_command("create_credential", "contractor", "--scopes", "all", option, value)
    assert not Credential.objects.filter(name="contractor").exists()
