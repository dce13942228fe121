"""A JSON body of the identity and privacy APIs is read in the charset its Content-Type declares,
as DRF's parser read it before ``StrictJSONParser`` became the default: ``charset=iso-8859-1``
with Latin-1 bytes was taken (200) and must keep its meaning. The strict parser read every body as
UTF-8 against what the client said: such a body became a 400 (rule ``utf-8``), and one whose
Latin-1 bytes happen to be valid UTF-8 (``Ã©``, bytes C3 A9) was silently read as ``é``, another
account. A body the declared charset cannot decode is a 400 naming ``body`` and rule ``charset``.
"""

from __future__ import annotations

import base64
import json

import pytest

from adapters.models import IdentityLink

pytestmark = pytest.mark.django_db

URL = "/api/identity/employees/E1"


@pytest.fixture
def auth(make_credential) -> dict[str, str]:
    credential, secret = make_credential("hris", ["identity/write"])
    return {"Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()}


def _account(name: str) -> dict[str, list[dict[str, str]]]:
    return {"accounts": [{"homePage": "https://lms.example.com", "name": name}]}


@pytest.mark.parametrize("name", ["josé", "Ã©"], ids=["not UTF-8", "also UTF-8"])
@pytest.mark.parametrize("charset", ["iso-8859-1", "ISO-8859-1", "latin1"])
def test_a_body_is_read_in_the_charset_it_declares(client, auth, name, charset):
    body = json.dumps(_account(name), ensure_ascii=False).encode("latin-1")
    response = client.patch(URL, body, content_type=f"application/json; charset={charset}", headers=auth)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    stored = list(IdentityLink.objects.values_list("value", flat=True))
    assert stored == [f"https://lms.example.com {name}"], stored


def test_a_body_its_declared_charset_cannot_decode_is_a_400_naming_the_rule(client, auth):
    body = json.dumps(_account("josé"), ensure_ascii=False).encode("latin-1")
    response = client.patch(URL, body, content_type="application/json; charset=us-ascii", headers=auth)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert any("(rule charset)" in message for message in response.json().get("body", [])), response.json()
    assert not IdentityLink.objects.exists()


def test_a_utf8_body_is_read_as_before(client, auth):
    body = json.dumps(_account("josé"), ensure_ascii=False).encode()
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF8",
    ):
        response = client.patch(URL, body, content_type=content_type, headers=auth)
        assert response.status_code == 200, (content_type, response.status_code, response.content[:300])


@pytest.mark.parametrize("charset", ["hex", "zlib", "rot13", "idna", "punycode"])
def test_a_charset_that_is_no_text_encoding_is_a_400_never_a_500(client, auth, charset):
    """Django takes any charset Python's codecs know, transforms (hex, zlib) included: decoding
    by one raises LookupError, or UnicodeError, not UnicodeDecodeError, so each is a 400 too."""
    body = json.dumps(_account("josé"), ensure_ascii=False).encode()
    response = client.patch(URL, body, content_type=f"application/json; charset={charset}", headers=auth)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert any("(rule charset)" in message for message in response.json().get("body", [])), response.json()
