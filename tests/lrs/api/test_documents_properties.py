"""Property: any sequence of document requests answers what a plain model of the spec says.

Communication 2.2 (Document Resources, the JSON merge), 2.3 (State), 2.6/2.7 (profiles) and 3.1
(Concurrency), with xAPI 1.0.3 and 2.0.0 clients on the same documents. Random PUT/POST (JSON
objects, other JSON, invalid JSON, non-JSON bytes; with or without If-Match / If-None-Match
holding the current ETag, a stale one or ``*``), GET of one document (with or without
If-None-Match) and of the id lists (with ``since``), DELETE of one and, for State, of all the
states of an activity + agent (+ registration), across agents named in different but
equivalent forms (the domain of an mbox in another case, with or without objectType and name),
activities and registrations.

After each step the status code, body, Content-Type and ETag are compared with the model, and
the ETag a GET returned is what later If-Match headers send (so the ETag of a GET must be the one
a later If-Match accepts). The model's choices where the spec leaves room are the LRS's
documented ones (lrs/xapi/documents.py): a POST onto nothing stores the body as sent, a merged
document takes the posted Content-Type, a State list or DELETE without ``registration`` covers
every registration, and in 1.0.3 a profile PUT without either header onto nothing is a 400.

``LRS_DOCUMENT_PROPERTY_EXAMPLES`` raises the number of examples (default 40).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.lrs.api.document_helpers import ACTIVITY_PROFILE, AGENT_PROFILE, STATE, query, send

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LRS_DOCUMENT_PROPERTY_EXAMPLES", "40"))
VERSIONS = ("1.0.3", "2.0.0")
KINDS = ("state", "activity_profile", "agent_profile")
PATHS = {"state": STATE, "activity_profile": ACTIVITY_PROFILE, "agent_profile": AGENT_PROFILE}
ACTIVITIES = ("http://example.com/act/a", "http://example.com/act/b")
REGISTRATIONS = (None, "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f")
DOCUMENT_IDS = ("x", "X", "é ü/?&=#")
# A registration in another case is the same UUID.
REGISTRATION_FORMS = {None: (None,), **{r: (r, r.upper()) for r in REGISTRATIONS if r}}
# Each person in equivalent forms (the same IFI), and the key the model files them under.
AGENTS = {
    "ann": (
        {"mbox": "mailto:ann@example.com"},
        {"objectType": "Agent", "mbox": "mailto:ann@EXAMPLE.com"},
        {"name": "Ann", "mbox": "mailto:ann@Example.Com"},
    ),
    "bob": (
        {"account": {"homePage": "http://example.com/home", "name": "bob"}},
        {
            "objectType": "Agent",
            "name": "Bob",
            "account": {"homePage": "http://example.com/home", "name": "bob"},
        },
    ),
    "cid": (
        {"mbox_sha1sum": "ab" * 20},
        {"objectType": "Agent", "mbox_sha1sum": "AB" * 20},
    ),
}
# (body, Content-Type)
BODIES = (
    (b'{"a": 1}', "application/json"),
    (b'{"b": [1, 2], "a": "two"}', "application/json"),
    (b'{"c": {"d": null}}', "application/json; charset=utf-8"),
    (b"[1, 2]", "application/json"),
    (b'"text"', "application/json"),
    (b"{not json", "application/json"),
    (b"plain words", "text/plain"),
    (b'{"a": 9}', "text/plain"),
    (b"\x00\x01\xff", "application/octet-stream"),
    (b"", "text/plain"),
    (b"", "application/json"),
    ('{"é": "ü"}'.encode(), "application/json"),
)
PRECONDITIONS = (
    "none",
    "if-match-current",
    "if-match-stale",
    "if-match-list",
    "if-match-star",
    "if-none-match-star",
    "if-none-match-current",
    "if-none-match-stale",
)


def etag_of(content: bytes) -> str:
    return '"' + hashlib.sha1(content).hexdigest() + '"'


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def parse(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return ...


@dataclass
class Doc:
    content: bytes
    content_type: str
    changed: int  # the step of the last change


@dataclass
class Model:
    docs: dict[tuple, Doc] = field(default_factory=dict)
    step: int = 0

    @staticmethod
    def key(kind: str, activity: str, agent: str, registration: str | None, doc_id: str) -> tuple:
        if kind == "activity_profile":
            return (kind, activity, "", None, doc_id)
        if kind == "agent_profile":
            return (kind, "", agent, None, doc_id)
        return (kind, activity, agent, registration, doc_id)

    def context(self, kind: str, activity: str, agent: str, registration: str | None) -> list[tuple]:
        probe = self.key(kind, activity, agent, registration, "")[:3]
        return [
            key
            for key in self.docs
            if key[:3] == probe and (kind != "state" or registration is None or key[3] == registration)
        ]


def precondition_status(pre: str, current: Doc | None, stale: str) -> int | None:
    """412 when the header fails (RFC 7232: If-Match, then If-None-Match); None when it holds."""
    if pre == "if-match-star" and current is None:
        return 412
    if pre in ("if-match-current", "if-match-list", "if-match-stale") and (
        current is None or pre == "if-match-stale"
    ):
        return 412
    if pre == "if-none-match-star" and current is not None:
        return 412
    if pre == "if-none-match-current" and current is not None:
        return 412
    return None


@dataclass
class World:
    clients: dict[str, Any]
    places: list[tuple]
    model: Model = field(default_factory=Model)
    marks: list[datetime] = field(default_factory=list)  # marks[i]: after step i
    seen_etags: dict[tuple, str] = field(default_factory=dict)  # the ETag the last GET of a key returned
    form: int = 0  # picks the form of the registration

    def params(self, kind, activity, agent_form, registration, doc_id=None):
        params: dict[str, Any] = {}
        if kind != "agent_profile":
            params["activityId"] = activity
        if kind != "activity_profile":
            params["agent"] = agent_form
        if kind == "state" and registration is not None:
            forms = REGISTRATION_FORMS[registration]
            params["registration"] = forms[self.form % len(forms)]
        if doc_id is not None:
            params["stateId" if kind == "state" else "profileId"] = doc_id
        return params

    def headers(self, pre: str, key: tuple) -> dict[str, str]:
        current = self.model.docs.get(key)
        # The current ETag as a GET returned it, when one did since the last change; else computed.
        current_tag = self.seen_etags.get(key) or (etag_of(current.content) if current else '"0" ')
        return {
            "none": {},
            "if-match-current": {"If-Match": current_tag},
            "if-match-stale": {"If-Match": etag_of(b"stale")},
            "if-match-list": {"If-Match": f"{etag_of(b'stale')}, {current_tag}"},
            "if-match-star": {"If-Match": "*"},
            "if-none-match-stale": {"If-None-Match": etag_of(b"stale")},
            "if-none-match-star": {"If-None-Match": "*"},
            "if-none-match-current": {"If-None-Match": current_tag},
        }[pre]

    def run(self, step: tuple) -> None:
        self.model.step += 1
        self.form = self.model.step
        name, version, slot, *rest = step
        kind, activity, agent, registration, doc_id = self.places[slot % len(self.places)]
        if name == "ids":
            self.ids(version, kind, activity, agent, rest[0], registration, *rest[1:])
        elif name == "delete_all":
            self.delete_all(version, activity, agent, rest[0], None if slot % 2 else registration)
        else:
            getattr(self, name)(version, kind, activity, agent, rest[0], registration, doc_id, *rest[1:])
        self.marks.append(timezone.now())

    def write(self, method, version, kind, activity, agent, form, registration, doc_id, body, pre):
        content, content_type = BODIES[body]
        key = Model.key(kind, activity, agent, registration, doc_id)
        params = self.params(kind, activity, AGENTS[agent][form % len(AGENTS[agent])], registration, doc_id)
        client = self.clients[version]
        headers = self.headers(pre, key)
        if version == "1.0.3" and self.form % 3 == 0 and content.isascii():
            # The alternate request syntax (Communication 1.3): headers and parameters in a form.
            form = {
                **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()},
                **headers,
                "Content-Type": content_type,
                "content": content.decode(),
            }
            event(f"alternate syntax {method}")
            response = client.client.post(
                f"{PATHS[kind]}?method={method.upper()}",
                urlencode(form),
                content_type="application/x-www-form-urlencoded",
                headers=client._headers({}),
            )
        else:
            # CONTENT_TYPE in the environ too: Django's test client drops it when the body is empty.
            response = getattr(client.client, method)(
                PATHS[kind] + query(params),
                content,
                content_type=content_type,
                headers=client._headers(headers),
                CONTENT_TYPE=content_type,
            )
        expected, stored = self.expect_write(method, version, kind, key, content, content_type, pre)
        assert response.status_code == expected, (method, version, kind, pre, response.content)
        event(f"{method} {pre} {'new' if key not in self.model.docs else 'existing'} -> {expected}")
        if stored is not None:
            self.model.docs[key] = stored
            self.seen_etags.pop(key, None)

    def expect_write(self, method, version, kind, key, content, content_type, pre):
        current = self.model.docs.get(key)
        if is_json(content_type) and parse(content) is ...:
            return 400, None
        failed = precondition_status(pre, current, "stale")
        if failed:
            return failed, None
        if method == "put":
            if pre == "none" and not (kind == "state" and version == "1.0.3"):
                if current is not None:
                    return 409, None
                if version == "1.0.3":
                    return 400, None
            return 204, Doc(content, content_type, self.model.step)
        if current is None:
            return 204, Doc(content, content_type, self.model.step)
        old, new = parse(current.content), parse(content)
        if not (is_json(content_type) and is_json(current.content_type)):
            return 400, None
        if type(old) is not dict or type(new) is not dict:
            return 400, None
        merged = json.dumps({**old, **new}, ensure_ascii=False, separators=(",", ":")).encode()
        return 204, Doc(merged, content_type, self.model.step)

    def put(self, *args):
        self.write("put", *args)

    def post(self, *args):
        self.write("post", *args)

    def get(self, version, kind, activity, agent, form, registration, doc_id, conditional, method="get"):
        key = Model.key(kind, activity, agent, registration, doc_id)
        params = self.params(kind, activity, AGENTS[agent][form % len(AGENTS[agent])], registration, doc_id)
        current = self.model.docs.get(key)
        tag = {"current": etag_of(current.content) if current else None, "stale": etag_of(b"stale")}
        headers = {"If-None-Match": tag[conditional]} if tag.get(conditional) else {}
        response = send(self.clients[version], method, PATHS[kind], params, headers=headers)
        if current is None:
            assert response.status_code == 404, response.content
            return
        not_modified = conditional == "current"
        assert response.status_code == (304 if not_modified else 200), response.content
        assert response["ETag"] == etag_of(current.content)
        assert response["Last-Modified"].endswith("GMT")
        self.seen_etags[key] = response["ETag"]
        if not not_modified:
            assert response.content == (current.content if method == "get" else b"")
            assert response["Content-Type"] == current.content_type

    def head(self, *args):
        self.get(*args, method="head")

    def ids(self, version, kind, activity, agent, form, registration, since_mark):
        params = self.params(kind, activity, AGENTS[agent][form % len(AGENTS[agent])], registration)
        since_step = None
        if since_mark is not None and self.marks:
            since_step = since_mark % len(self.marks)
            mark = self.marks[since_step]
            # The same instant as UTC with "Z" or with another offset.
            params["since"] = (
                mark.isoformat().replace("+00:00", "Z")
                if since_mark % 2
                else mark.astimezone(timezone.get_fixed_timezone(-330)).isoformat()
            )
        response = send(self.clients[version], "get", PATHS[kind], params)
        assert response.status_code == 200, response.content
        assert is_json(response["Content-Type"])
        expected = {
            key[4]
            for key in self.model.context(kind, activity, agent, registration)
            # marks[i] is taken after step i + 1 (steps count from 1)
            if since_step is None or self.model.docs[key].changed > since_step + 1
        }
        found = response.json()
        assert len(found) == len(set(found)), found
        assert set(found) == expected, (params, found, expected)
        assert ("Last-Modified" in response) == bool(expected)
        if expected:
            # The latest Last-Modified of the documents listed (Communication 2.2, Last Modified).
            latest = max(
                parsedate_to_datetime(self.last_modified(version, key))
                for key in self.model.context(kind, activity, agent, registration)
                if key[4] in expected
                and (since_step is None or self.model.docs[key].changed > since_step + 1)
            )
            assert parsedate_to_datetime(response["Last-Modified"]) == latest

    def last_modified(self, version: str, key: tuple) -> str:
        kind, activity, agent, registration, doc_id = key
        params = self.params(kind, activity, AGENTS[agent or "ann"][0], registration, doc_id)
        return send(self.clients[version], "head", PATHS[kind], params)["Last-Modified"]

    def delete(self, version, kind, activity, agent, form, registration, doc_id, pre):
        key = Model.key(kind, activity, agent, registration, doc_id)
        params = self.params(kind, activity, AGENTS[agent][form % len(AGENTS[agent])], registration, doc_id)
        headers = self.headers(pre, key)
        response = send(self.clients[version], "delete", PATHS[kind], params, headers=headers)
        current = self.model.docs.get(key)
        failed = precondition_status(pre, current, "stale")
        assert response.status_code == (failed or 204), (pre, response.content)
        if not failed:
            self.model.docs.pop(key, None)
            self.seen_etags.pop(key, None)

    def delete_all(self, version, activity, agent, form, registration):
        params = self.params("state", activity, AGENTS[agent][form % len(AGENTS[agent])], registration)
        response = send(self.clients[version], "delete", STATE, params)
        assert response.status_code == 204, response.content
        for key in self.model.context("state", activity, agent, registration):
            del self.model.docs[key]
            self.seen_etags.pop(key, None)

    def check_all(self) -> None:
        """Every document the model holds reads back as the model says, in any equivalent form."""
        for key, doc in self.model.docs.items():
            kind, activity, agent, registration, doc_id = key
            for version in VERSIONS:
                self.get(
                    version, kind, activity or ACTIVITIES[0], agent or "ann", 1, registration, doc_id, None
                )
                assert self.model.docs[key] is doc


version = st.sampled_from(VERSIONS)
# A few places per example, so that most steps meet documents earlier steps stored.
place = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(ACTIVITIES),
    st.sampled_from(sorted(AGENTS)),
    st.sampled_from(REGISTRATIONS),
    st.sampled_from(DOCUMENT_IDS),
)
slot = st.integers(0, 3)
form = st.integers(0, 2)
body = st.integers(0, len(BODIES) - 1)
pre = st.sampled_from(PRECONDITIONS)
conditional = st.sampled_from([None, "current", "stale"])
steps = st.one_of(
    st.tuples(st.just("put"), version, slot, form, body, pre),
    st.tuples(st.just("post"), version, slot, form, body, pre),
    st.tuples(st.just("get"), version, slot, form, conditional),
    st.tuples(st.just("head"), version, slot, form, conditional),
    st.tuples(st.just("ids"), version, slot, form, st.none() | st.integers(0, 30)),
    st.tuples(st.just("delete"), version, slot, form, pre),
    st.tuples(st.just("delete_all"), version, slot, form),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(places=st.lists(place, min_size=1, max_size=4), plan=st.lists(steps, min_size=10, max_size=40))
def test_document_requests_answer_what_the_model_says(xapi_for, places, plan):
    with transaction.atomic():
        # Made in the example's transaction, rolled back with it.
        clients = {version: xapi_for(["all"], version=version) for version in VERSIONS}
        world = World(clients, places)
        for step in plan:
            world.run(step)
        world.check_all()
        transaction.set_rollback(True)
