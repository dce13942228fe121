"""A chat channel is told the learner's name, never an identifier (3dbe3e9, adapters/rules/
notifications.py learner_name): a name that is an e-mail address, the account name or the OpenID
is replaced by "A learner". An LMS filling ``name`` with the login of an mbox-identified learner
gives the mailbox's local part, which is still told."""

from __future__ import annotations

import pytest

from adapters.rules.notifications import NO_NAME, learner_name
from tests.conftest import make_statement


@pytest.mark.xfail(
    strict=True,
    reason="product decision: a name equal to the mbox's local part is the login as often as it is a "
    "first name (john@smallbiz.example named 'John'); refusing it would turn those real names into "
    "'A learner', and the local part alone (no domain) says less than the address the fix hides",
)
def test_a_name_that_is_the_mailboxs_local_part_is_not_told() -> None:
    actor = {"objectType": "Agent", "name": "alice.example", "mbox": "mailto:alice.example@corp.example"}
    assert learner_name(make_statement(actor=actor)) == NO_NAME
