"""``manage.py create_credential`` with a name, key or secret a credential cannot have exits 1 with
a CommandError naming the argument and the rule, never a traceback, and changes nothing:

- longer than its column (name 200, key 100 characters): was a DataError traceback;
- empty (a name ``""``): was a credential with no name, which any later ``""`` run updated;
- a lone surrogate (a byte of a non-UTF-8 shell Python read with ``surrogateescape``): was a
  UnicodeEncodeError traceback;
- a key with a colon: HTTP Basic splits the credentials at the first colon (RFC 7617 section 2:
  "a user-id containing a colon character is invalid"), so such a key could never authenticate;
- a key another credential has: was an IntegrityError traceback.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lrs.credentials.models import Credential

pytestmark = pytest.mark.django_db

BAD = [
    (["x" * 201], "NAME", "longer than 200 characters"),
    ([""], "NAME", "required"),
    (["ren\udce9"], "NAME", "unpaired surrogate"),
    (["lms", "--key", "k" * 101], "--key", "longer than 100 characters"),
    (["lms", "--key", "k\udce9"], "--key", "unpaired surrogate"),
    (["lms", "--key", "lms:1"], "--key", "colon"),
    (["lms", "--key", "taken-key"], "--key", "another credential"),
    (["lms", "--secret", "s\udce9"], "--secret", "unpaired surrogate"),
]


@pytest.mark.parametrize(
    ("arguments", "argument", "rule"),
    BAD,
    ids=[
        "long name",
        "empty name",
        "surrogate name",
        "long key",
        "surrogate key",
        "colon",
        "taken",
        "secret",
    ],
)
def test_a_name_key_or_secret_a_credential_cannot_have_is_refused_naming_it(arguments, argument, rule):
    call_command("create_credential", "other", "--key", "taken-key", stdout=StringIO())
    before = list(Credential.objects.order_by("pk").values())
    with pytest.raises(CommandError) as refused:
        call_command("create_credential", *arguments, stdout=StringIO())
    message = str(refused.value)
    assert message.startswith(f"{argument}: ") and rule in message, message
    assert list(Credential.objects.order_by("pk").values()) == before
