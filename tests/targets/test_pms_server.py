"""Self-tests of the fake PMS: a lenient or flaky fake would make the adapter tests worthless."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from typing import Any

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session

from tests.adapters.helpers import port_refuses
from tests.targets.fake_base import applied_then, hang, ok, refuse, retry_after, status
from tests.targets.pms_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PMSServer

AUTH = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)


def event(**overrides: Any) -> dict[str, Any]:
    body = {
        "statementId": "0b1c6a8e-8f0e-4c8e-9a41-000000000001",
        "schemaVersion": "2",
        "employeeId": "E-1001",
        "eventType": "course.completed",
        "courseId": "safety-101",
        "courseName": "Safety 101",
        "score": 87.5,
        "scoreRaw": 35,
        "scoreMin": 0,
        "scoreMax": 40,
        "timestamp": "2024-05-01T12:30:00.123Z",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def get_token(server: PMSServer) -> str:
    response = requests.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=AUTH, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def post_event(
    server: PMSServer,
    body: Any = None,
    *,
    key: str | None = None,
    token: str | None = None,
    headers: dict[str, str | None] | None = None,
    timeout: float = 5,
) -> requests.Response:
    sent: dict[str, str | None] = {
        "Authorization": f"Bearer {token or get_token(server)}",
        "Idempotency-Key": key or str(uuid.uuid4()),
        **(headers or {}),
    }
    return requests.post(
        server.events_url,
        json=event() if body is None else body,
        timeout=timeout,
        headers={k: v for k, v in sent.items() if v is not None},
    )


def test_the_requests_oauthlib_client_credentials_flow_works(
    pms_server: PMSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The way ``adapters.oauth.fetch_token`` asks (HTTP Basic, requests-oauthlib)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib insists on https otherwise
    session = OAuth2Session(client=BackendApplicationClient(client_id=DEFAULT_CLIENT_ID))
    token = session.fetch_token(
        token_url=pms_server.token_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        timeout=5,
    )
    assert token["access_token"] == pms_server.tokens[0].value and token["token_type"] == "Bearer"
    with pytest.raises(InvalidClientError):
        session.fetch_token(
            token_url=pms_server.token_url, client_id=DEFAULT_CLIENT_ID, client_secret="wrong", timeout=5
        )


def test_token_endpoint_issues_bearer_tokens_with_basic_or_form_credentials(pms_server: PMSServer) -> None:
    basic = requests.post(
        pms_server.token_url, data={"grant_type": "client_credentials"}, auth=AUTH, timeout=5
    )
    form = requests.post(
        pms_server.token_url,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    for response in (basic, form):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        payload = response.json()
        assert payload["token_type"] == "Bearer" and payload["expires_in"] == 3600 and payload["access_token"]
    assert [t.value for t in pms_server.tokens] == [basic.json()["access_token"], form.json()["access_token"]]
    assert {r.route for r in pms_server.requests} == {"token"}


@pytest.mark.parametrize(
    ("kwargs", "code", "error"),
    [
        (
            {"data": {"grant_type": "client_credentials"}, "auth": (DEFAULT_CLIENT_ID, "wrong")},
            401,
            "invalid_client",
        ),
        ({"data": {"grant_type": "password"}, "auth": AUTH}, 400, "unsupported_grant_type"),
        ({"data": {}, "auth": AUTH}, 400, "invalid_request"),
        ({"json": {"grant_type": "client_credentials"}, "auth": AUTH}, 400, "invalid_request"),
        (
            {"data": {"grant_type": "client_credentials", "client_secret": "x"}, "auth": AUTH},
            400,
            "invalid_request",
        ),
        (
            {"data": {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID}},
            400,
            "invalid_request",
        ),
    ],
)
def test_token_endpoint_refuses_bad_requests(
    pms_server: PMSServer, kwargs: dict[str, Any], code: int, error: str
) -> None:
    response = requests.post(pms_server.token_url, timeout=5, **kwargs)
    assert (response.status_code, response.json()["error"]) == (code, error)
    assert pms_server.tokens == []


def test_accepts_a_well_formed_event_and_applies_it_once(pms_server: PMSServer) -> None:
    response = post_event(pms_server, key="k-1")
    assert response.status_code == 201
    event_id = response.json()["id"]
    assert pms_server.effects() == {"k-1": 1}
    assert pms_server.events() == {"k-1": {"id": event_id, **event()}}
    recorded = pms_server.requests_for("learning-events.create")[0]
    assert recorded.status == 201 and recorded.idempotency_key == "k-1" and recorded.json == event()
    assert post_event(pms_server, event(score=None, timestamp="2024-05-01T12:30:00Z")).status_code == 201


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (event(grade="A"), {}, "Additional properties are not allowed ('grade' was unexpected)"),
        (event(score=101), {}, "body.score: 101 is greater than the maximum of 100"),
        (event(score=-1), {}, "body.score: -1 is less than the minimum of 0"),
        (event(score="90"), {}, "body.score: '90' is not of type 'number', 'null'"),
        (event(score=...), {}, "'score' is a required property"),
        (event(courseId=...), {}, "'courseId' is a required property"),
        (event(employeeId=""), {}, "body.employeeId"),
        (event(statementId="not-a-uuid"), {}, "body.statementId"),
        (event(schemaVersion="1"), {}, "body.schemaVersion"),
        (event(scoreRaw=...), {}, "'scoreRaw' is a required property"),
        (event(timestamp="2024-05-01T12:30:00+02:00"), {}, "is not a 'utc-timestamp'"),
        (event(timestamp="2024-05-01 12:30:00Z"), {}, "is not a 'utc-timestamp'"),
        (event(timestamp="2024-13-01T12:30:00Z"), {}, "is not a 'utc-timestamp'"),
        ([event()], {}, "is not of type 'object'"),
        (event(), {"Idempotency-Key": None}, "missing Idempotency-Key"),
        (event(), {"Content-Type": "text/plain"}, "Content-Type must be application/json"),
    ],
)
def test_refuses_wrong_shapes_with_400_and_the_reason(
    pms_server: PMSServer, body: Any, headers: dict[str, str | None], reason: str
) -> None:
    pms_server.enqueue(status(503))  # a rejected request must not consume the script
    response = post_event(pms_server, body, headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["error_description"]
    assert response.headers["X-Fake-Reason"] == response.json()["error_description"]
    assert pms_server.rejected()[0].rejected == response.json()["error_description"]
    assert pms_server.effects() == {}
    assert post_event(pms_server).status_code == 503


def test_invalid_json_is_a_contract_violation(pms_server: PMSServer) -> None:
    response = requests.post(
        pms_server.events_url,
        data=b"{not json",
        timeout=5,
        headers={
            "Authorization": f"Bearer {get_token(pms_server)}",
            "Idempotency-Key": "k",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400 and response.json()["error_description"] == "body must be valid JSON"


def test_missing_unknown_and_expired_tokens_get_401(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    missing = requests.post(pms_server.events_url, json=event(), headers={"Idempotency-Key": "k"}, timeout=5)
    unknown = post_event(pms_server, token="not-a-token")
    assert post_event(pms_server, token=token).status_code == 201
    assert pms_server.expire_tokens() == 1
    expired = post_event(pms_server, token=token)
    for response in (missing, unknown, expired):
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="pms", error="invalid_token"')
    assert "expired" in expired.json()["error_description"]
    assert post_event(pms_server).status_code == 201  # a fresh token works again
    assert len(pms_server.effects()) == 2


def test_tokens_expire_by_themselves_after_their_ttl() -> None:
    with PMSServer(token_ttl=0.3) as server:
        token = get_token(server)
        assert post_event(server, token=token).status_code == 201
        time.sleep(0.4)
        assert post_event(server, token=token).status_code == 401
        assert server.tokens[0].expired


def test_a_repeated_key_replays_the_first_answer_without_a_second_effect(pms_server: PMSServer) -> None:
    first, second = post_event(pms_server, key="k-1"), post_event(pms_server, key="k-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert pms_server.effects() == {"k-1": 1} and len(pms_server.accepted("learning-events.create")) == 2
    conflict = post_event(pms_server, event(score=12), key="k-1")
    assert conflict.status_code == 422 and conflict.json()["error"] == "idempotency_key_reused"
    assert pms_server.effects() == {"k-1": 1}


def test_a_receiver_without_deduplication_shows_the_duplicate() -> None:
    with PMSServer(honour_idempotency=False) as server:
        assert post_event(server, key="k-1").status_code == 201
        assert post_event(server, key="k-1").status_code == 201
        assert server.effects() == {"k-1": 2}


def test_delete_retracts_an_event_by_its_id_idempotently(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    created = post_event(pms_server, key="k/1 x", token=token)
    assert created.status_code == 201
    url = f"{pms_server.events_url}/{created.json()['id']}"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.delete(url, headers=headers, timeout=5).status_code == 204
    assert requests.delete(url, headers=headers, timeout=5).status_code == 204
    assert pms_server.retractions() == ["k/1 x"] and pms_server.events() == {}
    assert [e.kind for e in pms_server.effect_log()] == ["create", "retract"]
    assert pms_server.effects() == {"k/1 x": 1}
    assert requests.delete(f"{pms_server.events_url}/never", headers=headers, timeout=5).status_code == 404
    assert (
        requests.delete(f"{pms_server.events_url}/k%2F1%20x", headers=headers, timeout=5).status_code == 404
    )
    assert requests.delete(url, timeout=5).status_code == 401


def test_lists_the_events_it_holds_by_statement_and_time_with_a_cursor(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    headers = {"Authorization": f"Bearer {token}"}
    ids = [
        post_event(
            pms_server, event(statementId=f"0b1c6a8e-8f0e-4c8e-9a41-00000000000{n}"), token=token
        ).json()["id"]
        for n in range(5)
    ]
    requests.delete(f"{pms_server.events_url}/{ids[1]}", headers=headers, timeout=5)
    first = requests.get(pms_server.events_url, params={"limit": 2}, headers=headers, timeout=5).json()
    assert [e["id"] for e in first["data"]] == [ids[0], ids[2]] and first["nextCursor"]
    rest = requests.get(
        pms_server.events_url, params={"limit": 2, "cursor": first["nextCursor"]}, headers=headers, timeout=5
    ).json()
    assert [e["id"] for e in rest["data"]] == ids[3:] and rest["nextCursor"] is None
    assert set(rest["data"][0]) >= {"id", "idempotencyKey", "updatedAt", "statementId"}
    one = requests.get(
        pms_server.events_url,
        params={"statementId": "0b1c6a8e-8f0e-4c8e-9a41-000000000003"},
        headers=headers,
        timeout=5,
    ).json()
    assert [e["id"] for e in one["data"]] == [ids[3]]
    later = requests.get(
        pms_server.events_url, params={"updatedSince": "2999-01-01T00:00:00Z"}, headers=headers, timeout=5
    ).json()
    assert later["data"] == []
    bad = requests.get(pms_server.events_url, params={"since": "x"}, headers=headers, timeout=5)
    assert bad.status_code == 400
    assert requests.get(pms_server.events_url, timeout=5).status_code == 401


def test_unknown_paths_and_methods(pms_server: PMSServer) -> None:
    assert requests.patch(pms_server.events_url, timeout=5).status_code == 405
    assert requests.put(f"{pms_server.events_url}/k", timeout=5).status_code == 405
    assert requests.post(f"{pms_server.url}/api/v2/other", timeout=5).status_code == 404
    assert requests.get(pms_server.token_url, timeout=5).status_code == 405


def test_scripted_behaviours_answer_in_order_then_the_fake_applies(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    pms_server.enqueue(
        status(503), retry_after(7), status(500, {"X-Why": "db"}, b'{"error":"db down"}'), ok()
    )
    unavailable, throttled, custom, applied = (post_event(pms_server, key="k", token=token) for _ in range(4))
    assert unavailable.status_code == 503 and unavailable.json() == {"error": "http_503"}
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert (
        custom.status_code == 500
        and custom.json() == {"error": "db down"}
        and custom.headers["X-Why"] == "db"
    )
    assert applied.status_code == 201 and pms_server.effects() == {"k": 1}
    pms_server.set_default(status(502))
    assert post_event(pms_server, token=token).status_code == 502


def test_applied_then_failing_keeps_the_effect_but_answers_the_error(pms_server: PMSServer) -> None:
    pms_server.enqueue(applied_then(500))
    failed = post_event(pms_server, key="k-applied")
    assert failed.status_code == 500
    assert pms_server.effects() == {"k-applied": 1} and list(pms_server.events()) == ["k-applied"]
    again = post_event(pms_server, key="k-applied")  # the sender retries: a repeat, no second event
    assert again.status_code == 201 and pms_server.effects() == {"k-applied": 1}


def test_the_token_endpoint_has_its_own_queue(pms_server: PMSServer) -> None:
    pms_server.enqueue_token(retry_after(2, 503))
    response = requests.post(
        pms_server.token_url, data={"grant_type": "client_credentials"}, auth=AUTH, timeout=5
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert post_event(pms_server).status_code == 201


def test_hang_past_the_client_timeout_still_applies_the_event(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    pms_server.enqueue(hang(0.6))
    with pytest.raises(requests.Timeout):
        post_event(pms_server, key="slow", token=token, timeout=0.2)
    assert pms_server.wait_for(lambda s: s.effects() == {"slow": 1}, timeout=5)
    retry = post_event(pms_server, key="slow", token=token)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"


def test_stop_during_a_hang_drops_the_request_without_effect(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    pms_server.enqueue(hang(30))
    errors: list[Exception] = []

    def call() -> None:
        try:
            post_event(pms_server, token=token, timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert pms_server.wait_for(lambda s: len(s.requests_for("learning-events.create")) == 1)
    started = time.monotonic()
    pms_server.stop()
    caller.join(5)
    assert time.monotonic() - started < 3 and len(errors) == 1
    (dropped,) = pms_server.requests_for("learning-events.create")
    assert dropped.finished and dropped.status is None and pms_server.effects() == {}


def test_refuse_stops_listening_until_restart_on_the_same_port(pms_server: PMSServer) -> None:
    token, port = get_token(pms_server), pms_server.port
    pms_server.enqueue(refuse())
    with pytest.raises(requests.ConnectionError):
        post_event(pms_server, token=token)
    assert not pms_server.running and port_refuses(port)
    pms_server.restart()
    assert pms_server.port == port and post_event(pms_server, token=token).status_code == 201


def test_reset_forgets_requests_effects_and_events_but_keeps_tokens(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    post_event(pms_server, key="k", token=token)
    pms_server.enqueue(status(500))
    pms_server.reset()
    assert pms_server.requests == [] and pms_server.effects() == {} and pms_server.events() == {}
    assert post_event(pms_server, key="k", token=token).status_code == 201


def test_reset_forgets_losses_set_up_before_it(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    pms_server.lose_every(1)
    post_event(pms_server, key="lost", token=token)
    pms_server.lose_next_retractions(1)
    pms_server.reset()
    assert pms_server.lost_statement_ids() == []
    created = post_event(pms_server, key="kept", token=token)
    assert list(pms_server.events()) == ["kept"]
    retracted = requests.delete(
        f"{pms_server.events_url}/{created.json()['id']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert retracted.status_code == 204 and pms_server.events() == {}


def test_an_event_dropped_silently_is_no_longer_held(pms_server: PMSServer) -> None:
    token = get_token(pms_server)
    first = post_event(pms_server, key="first", token=token).json()["id"]
    post_event(pms_server, event(statementId=str(uuid.uuid4())), key="second", token=token)
    pms_server.drop_event(first)
    assert list(pms_server.events()) == ["second"]


def _open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _expect_failure(server: PMSServer, token: str) -> None:
    with pytest.raises(requests.RequestException):
        post_event(server, token=token, timeout=10)


def test_start_stop_cycles_leak_no_threads_or_sockets() -> None:
    baseline_threads, baseline_fds = set(threading.enumerate()), _open_fds()
    server = PMSServer()
    for _ in range(3):
        server.start()
        token = get_token(server)
        assert post_event(server, token=token).status_code == 201
        server.enqueue(hang(30))
        caller = threading.Thread(target=_expect_failure, args=(server, token))
        caller.start()
        assert server.wait_for(lambda s: any(r.status is None and not r.finished for r in s.requests))
        server.stop()
        caller.join(5)
        server.reset()
    assert set(threading.enumerate()) == baseline_threads
    assert _open_fds() == baseline_fds
