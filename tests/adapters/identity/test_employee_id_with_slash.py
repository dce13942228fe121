"""An employee id with a slash (``DE/1234``: HRIS ids carry a country or company prefix) is
addressed by the identity API as any other, percent-encoded (``DE%2F1234``) or not: the HRIS feed
and the CSV import take it, so the API must reach what they made. Before, such a URL matched no
route: Django's HTML 404, naming nothing, and the employee's links unreachable by the API."""

from __future__ import annotations

import base64

import pytest

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import IdentityLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(make_credential) -> dict[str, str]:
    credential, secret = make_credential("hris", ["identity/write"])
    return {"Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()}


@pytest.mark.parametrize("spelled", ["DE%2F1234", "DE/1234"])
def test_an_employee_id_with_a_slash_is_read_linked_and_unlinked(client, auth, spelled):
    identity_links_upsert(employee_id="DE/1234", identifiers=Identifiers(emails=["ada@example.com"]))
    url = f"/api/identity/employees/{spelled}"
    shown = client.get(url, headers=auth)
    assert shown.status_code == 200, (shown.status_code, shown.content[:200])
    assert [link["value"] for link in shown.json()["links"]] == ["ada@example.com"]
    added = client.patch(
        url, {"emails": ["grace@example.com"]}, content_type="application/json", headers=auth
    )
    assert added.status_code == 200, (added.status_code, added.content[:200])
    removed = client.delete(
        url, {"emails": ["ada@example.com"]}, content_type="application/json", headers=auth
    )
    assert removed.status_code == 200, (removed.status_code, removed.content[:200])
    assert list(IdentityLink.objects.values_list("employee_id", "value")) == [
        ("DE/1234", "grace@example.com")
    ]


@pytest.mark.parametrize("spelled", ["E1/", "/E1", "E1%2F"])
def test_a_slash_ending_or_beginning_the_url_id_names_no_employee(client, auth, spelled):
    """``<path:employee_id>`` took the rest of the URL whole, so a trailing slash (a client's
    habit, or a router's) named another employee, ``E1/``: GET answered 200 with no links for the
    E1 who has some, and PATCH linked an address to a phantom ``E1/``. A slash can be inside an id
    (DE/1234), never at either end of the URL's: a JSON 404, as before the route took paths."""
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=["ada@example.com"]))
    url = f"/api/identity/employees/{spelled}"
    shown = client.get(url, headers=auth)
    assert (shown.status_code, shown.json().get("rule")) == (404, "no-such-resource"), shown.content[:200]
    added = client.patch(
        url, {"emails": ["grace@example.com"]}, content_type="application/json", headers=auth
    )
    assert added.status_code == 404, (added.status_code, added.content[:200])
    assert list(IdentityLink.objects.values_list("employee_id", "value")) == [("E1", "ada@example.com")]


def test_the_answer_names_the_employee_the_service_acted_on(client, auth):
    """The identity service strips an employee id (links.checked_employee_id) before it links, so
    PATCH of ``E1%20`` linked E1; the view answered with the links of the unstripped ``E1 ``
    (none: as if nothing was added), and GET of that URL told E1 had no links."""
    url = "/api/identity/employees/E1%20"
    added = client.patch(url, {"emails": ["ada@example.com"]}, content_type="application/json", headers=auth)
    assert added.status_code == 200, (added.status_code, added.content[:200])
    assert (added.json()["employee_id"], [link["value"] for link in added.json()["links"]]) == (
        "E1",
        ["ada@example.com"],
    )
    shown = client.get(url, headers=auth).json()
    assert (shown["employee_id"], [link["value"] for link in shown["links"]]) == ("E1", ["ada@example.com"])
