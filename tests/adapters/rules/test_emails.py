"""Canonical e-mail addresses for matching people (xAPI 1.0.3 Data 2.4.2.3 mbox)."""

from __future__ import annotations

import pytest

from adapters.rules.emails import email_from_actor, normalise_email


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("MAILTO:Jane@Example.COM", "jane@example.com"),
        ("  mailto:jane@example.com \n", "jane@example.com"),
        ("Jane.Doe@Example.com", "jane.doe@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("jane@mail.example.co.uk", "jane@mail.example.co.uk"),
    ],
)
def test_mailto_prefix_is_removed_and_address_lower_cased(value: str, expected: str) -> None:
    assert normalise_email(value) == expected


def test_plus_alias_is_stripped_by_default() -> None:
    assert normalise_email("jane+lrs@example.com") == "jane@example.com"
    assert normalise_email("jane+lrs+2024@example.com") == "jane@example.com"


def test_plus_alias_is_kept_when_disabled() -> None:
    assert normalise_email("Jane+LRS@example.com", strip_plus_aliases=False) == "jane+lrs@example.com"


def test_leading_plus_is_not_an_alias() -> None:
    assert normalise_email("+tag@example.com") == "+tag@example.com"


def test_dots_are_removed_for_gmail_and_googlemail() -> None:
    assert normalise_email("mailto:Jane.Doe+x@GMail.com") == "janedoe@gmail.com"
    assert normalise_email("j.a.n.e@googlemail.com") == "jane@googlemail.com"


def test_dots_are_kept_for_other_domains() -> None:
    assert normalise_email("jane.doe@example.com") == "jane.doe@example.com"


def test_dotless_domains_are_configurable_and_case_insensitive() -> None:
    assert (
        normalise_email("j.doe@corp.example", dotless_domains=frozenset({"Corp.Example"}))
        == "jdoe@corp.example"
    )
    assert normalise_email("j.doe@gmail.com", dotless_domains=frozenset()) == "j.doe@gmail.com"


def test_plus_and_dots_together_with_aliases_disabled() -> None:
    assert normalise_email("j.doe+x@gmail.com", strip_plus_aliases=False) == "jdoe+x@gmail.com"


def test_mailto_percent_escapes_are_decoded() -> None:
    assert (
        normalise_email("mailto:jane%2Blrs@example.com", strip_plus_aliases=False) == "jane+lrs@example.com"
    )


def test_non_ascii_addresses_are_lower_cased() -> None:
    assert normalise_email("Jürgen@Bücher.DE") == "jürgen@bücher.de"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "mailto:",
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane@example",
        "jane@localhost",
        "jane@-example.com",
        "jane@example-.com",
        "jane@exa_mple.com",
        "jane@example..com",
        "jane@example.com.",
        "jane@192.168.0.1",
        "jane@[192.168.0.1]",
        ".jane@example.com",
        "jane.@example.com",
        "ja..ne@example.com",
        "ja ne@example.com",
        "jane doe <jane@example.com>",
        '"jane doe"@example.com',
        "jane@example.com,bob@example.com",
        "mailto:jane@example.com?subject=hi",
        "mailto:jane%20doe@example.com",
        "a" * 65 + "@example.com",
        "jane@" + "a" * 64 + ".com",
        "jane@" + "a." * 130 + "com",
    ],
)
def test_things_that_are_not_addresses_raise_value_error(garbage: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        normalise_email(garbage)


@pytest.mark.parametrize("not_a_string", [None, 42, b"jane@example.com", {"mbox": "mailto:jane@example.com"}])
def test_non_strings_raise_value_error(not_a_string: object) -> None:
    with pytest.raises(ValueError, match="not a string"):
        normalise_email(not_a_string)  # type: ignore[arg-type]


def test_email_from_agent_is_canonical() -> None:
    assert (
        email_from_actor({"objectType": "Agent", "mbox": "mailto:Jane.Doe+lrs@GMail.com"})
        == "janedoe@gmail.com"
    )


def test_email_from_actor_passes_options_through() -> None:
    actor = {"mbox": "mailto:Jane+lrs@example.com"}
    assert email_from_actor(actor, strip_plus_aliases=False) == "jane+lrs@example.com"


def test_email_from_identified_group_is_the_groups_mbox() -> None:
    group = {
        "objectType": "Group",
        "mbox": "mailto:Team@Example.com",
        "member": [{"mbox": "mailto:ann@example.com"}],
    }
    assert email_from_actor(group) == "team@example.com"


def test_anonymous_group_has_no_email_even_if_members_do() -> None:
    group = {"objectType": "Group", "member": [{"mbox": "mailto:ann@example.com"}]}
    assert email_from_actor(group) is None


@pytest.mark.parametrize(
    "actor",
    [
        {"mbox_sha1sum": "a" * 40},
        {"openid": "https://id.example.com/jane"},
        {"account": {"homePage": "https://hr.example.com", "name": "jane@example.com"}},
        {},
        None,
    ],
)
def test_actor_without_mbox_has_no_email(actor: dict | None) -> None:
    assert email_from_actor(actor) is None


def test_invalid_mbox_raises_rather_than_hiding_the_problem() -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        email_from_actor({"mbox": "mailto:not-an-address"})
