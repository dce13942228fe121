"""Agents, Groups, IFIs, authority and the agent parameter (Data 2.4.2, 2.4.9; Communication 2.1.3)."""

from __future__ import annotations

import pytest

from lrs.xapi.agents import (
    validate_actor,
    validate_agent,
    validate_authority,
    validate_group,
)
from tests.lrs.xapi.examples import assert_rejected, learner

SHA1 = "cd9b00a5611f94eaa7b1661edab976068e364975"
IFIS = {
    "mbox": "mailto:xapi@adlnet.gov",
    "mbox_sha1sum": SHA1,
    "openid": "http://openid.example.org/12345",
    "account": {"homePage": "http://www.example.com", "name": "xAPI account name"},
}


@pytest.mark.parametrize("ifi", sorted(IFIS))
def test_an_agent_with_exactly_one_ifi_is_accepted(ifi):
    agent = {"objectType": "Agent", "name": "Ada", ifi: IFIS[ifi]}
    assert validate_agent(agent, path="statement.actor") is agent


def test_an_agent_may_omit_object_type_and_name():
    validate_agent({"mbox": "mailto:a@example.com"}, path="statement.actor")


def test_an_agent_with_two_ifis_is_rejected_naming_the_path():
    error = assert_rejected(
        lambda: validate_agent(
            {"mbox": "mailto:a@example.com", "openid": "http://openid.example.org/1"},
            path="statements[3].actor",
        ),
        path="statements[3].actor",
        rule="one-ifi",
    )
    assert "mbox, openid" in error.message


def test_an_agent_without_an_ifi_is_rejected():
    assert_rejected(
        lambda: validate_agent({"objectType": "Agent", "name": "Nobody"}, path="statement.actor"),
        path="statement.actor",
        rule="one-ifi",
    )


@pytest.mark.parametrize(
    "value",
    [
        "mailto:should.fail.com",
        "http://should.fail.com",
        "xapi@adlnet.gov",
        "MAILTO:xapi@adlnet.gov",
        "mailto:",
        "mailto:@example.com",
        "mailto:a@",
        "mailto:a b@example.com",
        "mailto:a@b@c",
        "mailto:a@example.com?subject=x",
    ],
)
def test_mbox_must_be_a_mailto_iri_of_an_email_address(value):
    assert_rejected(
        lambda: validate_agent({"mbox": value}, path="statement.context.instructor"),
        path="statement.context.instructor.mbox",
        rule="mbox-format",
    )


@pytest.mark.parametrize(
    "value",
    [
        "cd9b00a5611f94eaa7b1661edab976068e36497",
        "cd9b00a5611f94eaa7b1661edab976068e364975a",
        "zd9b00a5611f94eaa7b1661edab976068e364975",
        "",
    ],
)
def test_mbox_sha1sum_must_be_forty_hex_digits(value):
    assert_rejected(
        lambda: validate_agent({"mbox_sha1sum": value}, path="statement.actor"),
        path="statement.actor.mbox_sha1sum",
        rule="sha1",
    )


def test_mbox_sha1sum_accepts_upper_case_hex():
    validate_agent({"mbox_sha1sum": SHA1.upper()}, path="statement.actor")


@pytest.mark.parametrize("ifi", ["mbox", "mbox_sha1sum", "openid"])
@pytest.mark.parametrize("value", [123, {"key": "value"}, ["mailto:a@b.c"]])
def test_string_ifis_must_be_strings(ifi, value):
    assert_rejected(
        lambda: validate_agent({ifi: value}, path="statement.actor"),
        path=f"statement.actor.{ifi}",
        rule="type",
    )


def test_openid_must_be_an_absolute_uri():
    assert_rejected(
        lambda: validate_agent({"openid": "openid.example.org/1"}, path="statement.actor"),
        path="statement.actor.openid",
        rule="iri",
    )


def test_account_home_page_must_be_an_irl():
    assert_rejected(
        lambda: validate_agent(
            {"account": {"homePage": "ab=c://should.fail.com", "name": "x"}}, path="statement.actor"
        ),
        path="statement.actor.account.homePage",
        rule="irl",
    )


def test_account_home_page_must_not_be_a_urn():
    assert_rejected(
        lambda: validate_agent({"account": {"homePage": "urn:lms:1", "name": "x"}}, path="statement.actor"),
        path="statement.actor.account.homePage",
        rule="irl",
    )


@pytest.mark.parametrize("missing", ["homePage", "name"])
def test_account_requires_home_page_and_name(missing):
    account = {"homePage": "http://www.example.com", "name": "1625378"}
    del account[missing]
    assert_rejected(
        lambda: validate_agent({"account": account}, path="statement.actor"),
        path=f"statement.actor.account.{missing}",
        rule="required",
    )


def test_account_name_must_be_a_string():
    assert_rejected(
        lambda: validate_agent(
            {"account": {"homePage": "http://a.example.com", "name": 1625378}}, path="statement.actor"
        ),
        path="statement.actor.account.name",
        rule="type",
    )


def test_account_name_must_not_contain_nul():
    # It is part of the identifier the LRS indexes as text (PostgreSQL text cannot hold U+0000).
    assert_rejected(
        lambda: validate_agent(
            {"account": {"homePage": "http://a.example.com", "name": "a\x00b"}}, path="statement.actor"
        ),
        path="statement.actor.account.name",
        rule="no-nul",
    )


def test_account_rejects_unknown_properties():
    assert_rejected(
        lambda: validate_agent(
            {"account": {"homePage": "http://a.example.com", "name": "x", "accountServiceHomePage": "x"}},
            path="statement.actor",
        ),
        path="statement.actor.account.accountServiceHomePage",
        rule="unknown-property",
    )


@pytest.mark.parametrize("object_type", ["agent", "Person", 123, {"objectType": "Agent"}])
def test_agent_object_type_must_be_exactly_agent(object_type):
    assert_rejected(
        lambda: validate_agent(
            {"objectType": object_type, "mbox": "mailto:a@b.c"}, path="statement.authority"
        ),
        path="statement.authority.objectType",
        rule="objecttype",
    )


@pytest.mark.parametrize("name", [123, {"key": "value"}, ["Ada"]])
def test_agent_name_must_be_a_string(name):
    assert_rejected(
        lambda: validate_agent({"name": name, "mbox": "mailto:a@b.c"}, path="statement.actor"),
        path="statement.actor.name",
        rule="type",
    )


def test_agent_rejects_unknown_properties_and_nulls():
    assert_rejected(
        lambda: validate_agent({"mbox": "mailto:a@b.c", "email": "a@b.c"}, path="statement.actor"),
        path="statement.actor.email",
        rule="unknown-property",
    )
    assert_rejected(
        lambda: validate_agent({"mbox": "mailto:a@b.c", "name": None}, path="statement.actor"),
        path="statement.actor.name",
        rule="not-null",
    )


def test_an_agent_with_members_is_told_that_only_groups_have_members():
    assert_rejected(
        lambda: validate_agent({"mbox": "mailto:a@b.c", "member": []}, path="statement.actor"),
        path="statement.actor.member",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", ["mailto:a@b.c", 1, ["mailto:a@b.c"], None])
def test_an_agent_must_be_an_object(value):
    assert_rejected(
        lambda: validate_actor(value, path="statement.actor"),
        path="statement.actor",
        rule="not-null" if value is None else "type",
    )


# -- Groups ----------------------------------------------------------------------------------------


def test_an_anonymous_group_with_members_is_accepted():
    validate_group(
        {
            "objectType": "Group",
            "name": "Team",
            "member": [{"mbox": "mailto:a@b.c"}, {"objectType": "Agent", "openid": "http://o.example/1"}],
        },
        path="statement.actor",
    )


@pytest.mark.parametrize("ifi", sorted(IFIS))
def test_an_identified_group_with_or_without_members_is_accepted(ifi):
    validate_group({"objectType": "Group", ifi: IFIS[ifi]}, path="statement.actor")
    validate_group({"objectType": "Group", ifi: IFIS[ifi], "member": []}, path="statement.actor")
    validate_group({"objectType": "Group", ifi: IFIS[ifi], "member": [learner()]}, path="statement.actor")


def test_an_anonymous_group_without_member_is_rejected():
    assert_rejected(
        lambda: validate_group({"objectType": "Group", "name": "Group Anonymous"}, path="statement.actor"),
        path="statement.actor.member",
        rule="required",
    )


def test_an_anonymous_group_with_no_members_is_rejected():
    assert_rejected(
        lambda: validate_group({"objectType": "Group", "member": []}, path="statement.actor"),
        path="statement.actor.member",
        rule="min-items",
    )


def test_an_identified_group_with_two_ifis_is_rejected():
    assert_rejected(
        lambda: validate_group(
            {"objectType": "Group", "mbox": "mailto:team@b.c", "mbox_sha1sum": SHA1}, path="statement.object"
        ),
        path="statement.object",
        rule="one-ifi",
    )


def test_a_group_inside_member_is_rejected_naming_the_member():
    assert_rejected(
        lambda: validate_group(
            {
                "objectType": "Group",
                "member": [
                    {"mbox": "mailto:a@b.c"},
                    {"objectType": "Group", "member": [{"mbox": "mailto:c@d.e"}]},
                ],
            },
            path="statement.context.team",
        ),
        path="statement.context.team.member[1].objectType",
        rule="group-member",
    )


def test_an_invalid_member_is_reported_at_its_index():
    assert_rejected(
        lambda: validate_group(
            {"objectType": "Group", "member": [{"mbox": "mailto:a@b.c"}, {"mbox": "mailto:bad"}]},
            path="statement.actor",
        ),
        path="statement.actor.member[1].mbox",
        rule="mbox-format",
    )


@pytest.mark.parametrize("member", [{"mbox": "mailto:a@b.c"}, "mailto:a@b.c"])
def test_member_must_be_an_array(member):
    assert_rejected(
        lambda: validate_group({"objectType": "Group", "member": member}, path="statement.actor"),
        path="statement.actor.member",
        rule="type",
    )


def test_a_group_requires_object_type_group():
    assert_rejected(
        lambda: validate_group({"member": [{"mbox": "mailto:a@b.c"}]}, path="statement.context.team"),
        path="statement.context.team.objectType",
        rule="required",
    )


def test_an_agent_is_not_a_group():
    assert_rejected(
        lambda: validate_group(
            {"objectType": "Agent", "mbox": "mailto:a@b.c"}, path="statement.context.team"
        ),
        path="statement.context.team.objectType",
        rule="objecttype",
    )


def test_actor_dispatches_on_object_type_and_rejects_other_values():
    validate_actor({"objectType": "Group", "member": [{"mbox": "mailto:a@b.c"}]}, path="statement.actor")
    validate_actor({"mbox": "mailto:a@b.c"}, path="statement.actor")
    assert_rejected(
        lambda: validate_actor({"objectType": "group", "member": []}, path="statement.actor"),
        path="statement.actor.objectType",
        rule="objecttype",
    )


# -- Authority -------------------------------------------------------------------------------------


def test_authority_may_be_an_agent():
    validate_authority(
        {"account": {"homePage": "https://lrs.example.com", "name": "client-1"}}, path="s.authority"
    )


def test_authority_may_be_an_anonymous_group_of_two_agents_for_three_legged_oauth():
    validate_authority(
        {
            "objectType": "Group",
            "member": [
                {
                    "account": {
                        "homePage": "http://example.com/xAPI/OAuth/Token",
                        "name": "oauth_consumer_x75db",
                    }
                },
                {"mbox": "mailto:bob@example.com"},
            ],
        },
        path="statement.authority",
    )


@pytest.mark.parametrize(
    "group",
    [
        {"objectType": "Group", "member": [{"mbox": "mailto:bob@example.com"}]},
        {
            "objectType": "Group",
            "member": [
                {"mbox": "mailto:a@example.com"},
                {"mbox": "mailto:b@example.com"},
                {"mbox": "mailto:c@example.com"},
            ],
        },
        {
            "objectType": "Group",
            "mbox": "mailto:team@example.com",
            "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}],
        },
        {"objectType": "Group", "mbox": "mailto:team@example.com"},
    ],
    ids=["one member", "three members", "identified with two members", "identified without members"],
)
def test_an_authority_group_must_be_anonymous_with_exactly_two_members(group):
    assert_rejected(
        lambda: validate_authority(group, path="statement.authority"),
        path="statement.authority",
        rule="authority",
    )
