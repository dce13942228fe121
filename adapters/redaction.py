"""What an operator may be shown of a request that was sent: the values of fields whose names
look secret are replaced by ``REDACTED`` wherever the request names them: in its query string, its
headers, and a JSON or form-encoded body (a token request's ``client_secret`` and
``refresh_token``).

Two rules of what looks secret. Query strings, headers and form bodies: a name that merely
contains a secret-sounding part (``SECRET_NAME``: auth, sign, key, code, ...), since their names
are few and a miss shows a credential (``X-Hub-Signature-256``). JSON bodies: a field name that
ends with a secret word (``secret_json_field``), since a payload's ordinary fields
(``competencyCode``, ``authorName``, ``sessionCount``) are what an operator reads to see what
was sent."""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson

from adapters.outbound import OutboundRequest
from adapters.secrets import resolved_values

REDACTED = "[redacted]"
# An idempotency key (``Idempotency-Key``, a batch item's ``idempotencyKey``) is no secret: an
# operator matches attempts and receivers' logs by it.
SECRET_NAME = re.compile(
    r"auth|sign|secret|token|(?<!idempotency.)(?<!idempotency)key|password|cookie|session|code",
    re.IGNORECASE,
)
FORM_TYPE = "application/x-www-form-urlencoded"
# Matched against a JSON field name lowercased with everything but letters and digits removed, so
# ``clientSecret``, ``client_secret``, ``client-secret`` and ``API Key`` read alike: the name ends
# with a secret word, or is one of the words too short to tell apart inside a longer name (a bare
# ``code`` is an OAuth authorisation code; ``competencyCode`` is not).
SECRET_JSON_FIELD = re.compile(
    r"(secret|token|password|passwd|passphrase|cookie|signature|authorization|assertion"
    r"|credentials?|authcode)$|(?<!idempotency)key$|^(auth|code)$"
)


# Credentials named by their place in free text (an error message, a target's answer echoing the
# request, a log line): a URL's password (``https://user:password@host``) and secret-named query
# parameters, the credential after
# ``Authorization`` ("Authorization: Bearer ...", {'Authorization': 'Basic ...'}), and OAuth token
# and secret fields in JSON, Python reprs or forms.
_BETWEEN = r"""\\?["']?\s*[:=]\s*\\?["']?"""
_VALUE = r"""[^\s"'\\,;&{}\[\]]+"""
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]+@")
# After Authorization: a known scheme word is kept, and the rest of the value (to the end of the
# line, a quote or a separator, spaces included) goes: a letters-only credential followed by more
# text must not pass for the scheme.
_SCHEMES = "basic|bearer|digest|token|negotiate|ntlm|hoba|mutual|vapid|hmac|apikey|sharedkey|oauth|dsn"
_REST = r"""[^\s"'\\,;&{}\[\]][^\r\n"'\\,;&{}\[\]]*"""
AUTHORIZATION = re.compile(rf"(?i)(\bauthorization{_BETWEEN}(?:(?:{_SCHEMES})[ \t]+)?){_REST}")
# A bearer token wherever it is shown (RFC 6750 2.1, b64token): an echoing server may show the header
# as {"Authorization":["Bearer ..."]} (Go), Authorization,Bearer ... (Node's rawHeaders) or a pair
# list, none of which the pattern above reads. A challenge's parameters (3: realm, scope, error...)
# are no token.
BEARER = re.compile(
    r"(?i)(\bbearer[ \t]+)(?!(?:realm|scope|error|error_description|error_uri)[ \t]*=)[A-Za-z0-9\-._~+/]+=*"
)
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "client_secret", "password")
TOKEN_FIELD = re.compile(rf"(?i)(\b(?:{'|'.join(TOKEN_FIELDS)}){_BETWEEN}){_VALUE}")


# A URL's query string in free text: its secret-named parameters (?code=, ?token=, ?sig=...).
_URL_QUERY = re.compile(r"""(?i)(\b[a-z][a-z0-9+.-]*://[^\s"'<>?#]*\?)([^\s"'<>#]+)""")


def _query_redacted(match: re.Match[str]) -> str:
    pairs = []
    for pair in match.group(2).split("&"):
        name, sep, _value = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if sep and SECRET_NAME.search(name) else pair)
    return match.group(1) + "&".join(pairs)


def redacted_credentials(text: str) -> str:
    """``text`` with every credential named by its place (above) replaced. The patterns run only
    where their word occurs: they cost more than the rest of a log line's formatting."""
    if "://" in text:
        if "@" in text:
            text = URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
        if "?" in text:
            text = _URL_QUERY.sub(_query_redacted, text)
    lowered = text.lower()
    if "authorization" in lowered:
        text = AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    if "bearer" in lowered:
        text = BEARER.sub(rf"\1{REDACTED}", text)
    if any(name in lowered for name in TOKEN_FIELDS):
        text = TOKEN_FIELD.sub(rf"\1{REDACTED}", text)
    return text


def secret_forms(value: str) -> set[str]:
    """The ways a secret can show up in text: as is, JSON-escaped, percent-encoded, and for a
    secret URL (a Slack or Teams incoming webhook) its path and query, which is what urllib3
    prints of the URL it failed on."""
    forms = {value, json.dumps(value)[1:-1], quote(value, safe="")}
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        forms.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return forms


@functools.lru_cache(maxsize=8)
def secret_forms_of(values: frozenset[str], min_length: int) -> tuple[str, ...]:
    """Every form (``secret_forms``) of these secrets at least ``min_length`` long, longest first
    (a secret URL masked whole before its path is looked for); built once per set of secrets."""
    forms = {form for value in values for form in secret_forms(value) if len(form) >= min_length}
    return tuple(sorted(forms, key=len, reverse=True))


def masked(text: str, forms: Iterable[str]) -> str:
    """``text`` with each of these secret forms and every credential named by its place replaced."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return redacted_credentials(text)


def redacted_text(text: str) -> str:
    """Free text kept for an operator (an attempt's error, a target's answer, the request sent):
    every secret value resolved in this process (``adapters.secrets``), in each of its forms, and
    every credential named by its place replaced."""
    if not text:
        return text
    return masked(text, secret_forms_of(resolved_values(), 4))


def redacted_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The name-value pairs, each value whose name looks secret replaced."""
    return [(name, REDACTED if SECRET_NAME.search(name) else value) for name, value in pairs]


def secret_json_field(name: str) -> bool:
    """Whether a JSON field of this name holds a secret: its name (case-insensitive, camelCase,
    snake_case or kebab-case) ends with secret, token, password, passwd, passphrase, cookie,
    signature, authorization, assertion, credential(s), auth code or key (an idempotency key
    aside: no secret, and what an operator matches attempts by), or is auth or code."""
    return SECRET_JSON_FIELD.search(re.sub(r"[^0-9a-z]", "", name.lower())) is not None


def redacted_json(value: Any) -> Any:
    """The JSON value with every scalar held under a secret field name (``secret_json_field``)
    replaced, at any depth (an object or array under such a name is walked, not hidden whole)."""
    if isinstance(value, dict):
        return {
            name: redacted_json(item)
            if isinstance(item, dict | list) or not secret_json_field(str(name))
            else REDACTED
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redacted_json(item) for item in value]
    return value


def readable_body(request: OutboundRequest) -> str:
    """The request's body as an operator reads it, secret-named fields redacted: JSON indented,
    a form-encoded body as its pairs, anything else as text."""
    if request.json is not None:
        return orjson.dumps(redacted_json(request.json), option=orjson.OPT_INDENT_2).decode()
    text = (request.body or b"").decode("utf-8", errors="replace")
    if not text:
        return ""
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.dumps(redacted_json(orjson.loads(text)), option=orjson.OPT_INDENT_2).decode()
    content_type = next(
        (value for name, value in request.headers.items() if name.lower() == "content-type"), ""
    )
    if content_type.split(";")[0].strip().lower() == FORM_TYPE:
        return urlencode(redacted_pairs(parse_qsl(text, keep_blank_values=True)), safe="[]")
    return text
