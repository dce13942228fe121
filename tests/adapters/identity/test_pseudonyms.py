"""An erased person's pseudonym and retention's: both name no one a delivery could send for, but
only the first is an erased learner (``adapters.identity.resolution``), which decides whether a
void still reaches a PMS keeping history (adapters/pms/adapter.py)."""

from __future__ import annotations

import pytest

from adapters.base import NothingToSend
from adapters.identity.resolution import erased_actor, nothing_for_erased, retention_pseudonym_homepage
from adapters.privacy.erasure import pseudonym
from adapters.privacy.retention import retention_pseudonym


def agent(account: dict) -> dict:
    return {"objectType": "Agent", "account": account}


def test_retentions_pseudonym_has_a_homepage_of_its_own(settings):
    settings.LRS_PSEUDONYM_HOMEPAGE = "https://lrs.example.com/pseudonyms"
    assert retention_pseudonym_homepage() == "https://lrs.example.com/pseudonyms/retention"
    assert retention_pseudonym("mbox::mailto:a@example.com") == {
        "homePage": "https://lrs.example.com/pseudonyms/retention",
        "name": pseudonym("mbox::mailto:a@example.com")["name"],
    }


def test_only_an_erasures_pseudonym_is_an_erased_learner():
    erased = agent(pseudonym("mbox::mailto:a@example.com"))
    aged = agent(retention_pseudonym("mbox::mailto:a@example.com"))
    assert erased_actor(erased)
    assert not erased_actor(aged)
    assert erased_actor({"objectType": "Group", "member": [erased, erased]})
    assert not erased_actor({"objectType": "Group", "member": [aged, erased]})


@pytest.mark.parametrize("made_by", ["erasure", "retention"])
def test_a_delivery_needing_the_learner_of_either_pseudonym_has_nothing_to_send(made_by):
    make = pseudonym if made_by == "erasure" else retention_pseudonym
    with pytest.raises(NothingToSend, match="erased" if made_by == "erasure" else "aged out"):
        nothing_for_erased(agent(make("mbox::mailto:a@example.com")))
    with pytest.raises(NothingToSend):
        nothing_for_erased({"objectType": "Group", "member": [agent(make("mbox::mailto:b@example.com"))]})
    nothing_for_erased({"objectType": "Agent", "mbox": "mailto:a@example.com"})  # a person: no
