"""A webhook's extra ``headers`` (adapters/config.py): one whose name says it carries a credential
must be a reference, not text (66f88e5). The names refused must be credential names, not every
name holding ``SECRET_NAME``'s fragments: that pattern is made for masking, where a miss shows a
credential and a false hit only hides an ordinary value, so it matches "code" in X-Country-Code
and "sign" in X-Assigned-Team. Refusing those broke webhook configs that were valid before and
are no secret (the system check adapters.E001 then fails for an enabled target)."""

from __future__ import annotations

import pytest

from adapters.config import ConfigProblem, validate_target_config

SIGNING = {"env": "HOOK_SECRET"}


def config_with(name: str) -> dict:
    return {"url": "https://hooks.example.test/lrs", "secret": SIGNING, "headers": {name: "GB-north"}}


@pytest.mark.parametrize(
    "name",
    ["X-Country-Code", "X-Assigned-Team", "X-Author-Team", "X-Design-Version", "X-Keyboard-Layout"],
)
def test_a_plain_header_whose_name_only_contains_a_secret_fragment_is_accepted(name: str) -> None:
    validate_target_config(adapter="webhook", config=config_with(name), filter_rules={})


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "X-Api-Key",
        "X-API-KEY",
        "X-Functions-Key",
        "api_key",
        "X-Auth-Token",
        "X-Access-Token",
        "Cookie",
        "X-Client-Secret",
        "X-Password",
        "X-Hub-Signature-256",
        "X-Session-Id",
        "apikey",
    ],
)
def test_a_credential_header_written_out_is_still_refused(name: str) -> None:
    with pytest.raises(ConfigProblem, match=f"headers.{name}"):
        validate_target_config(adapter="webhook", config=config_with(name), filter_rules={})
