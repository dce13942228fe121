"""The charset of statements sent as JSON: UTF-8, and a ``Content-Type`` saying otherwise is refused.

xAPI 1.0.3 Communication 1.4 (Encoding): "All strings MUST be encoded and interpreted as UTF-8."
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#14-encoding
RFC 8259 8.1: JSON text exchanged between systems that are not part of a closed ecosystem "MUST be
encoded using UTF-8". https://www.rfc-editor.org/rfc/rfc8259#section-8.1

Decision: the statements (a request body, or the first part of a multipart/mixed request,
Communication 1.5.2) whose ``Content-Type`` names a charset other than UTF-8 are a 400 (rule
``charset``) naming that charset, not decoded by it. The spec allows UTF-8 alone, so a client
declaring another charset either sends text xAPI does not allow or mislabels UTF-8; reading the bytes
as UTF-8 against its word could store other text than it meant (ISO-8859-1 "Ã©" is the bytes of
UTF-8 "é"), and decoding by it would accept what another LRS rejects. A declared UTF-8 (any case,
quoted, or the common label ``utf8``) is accepted, as is US-ASCII, UTF-8's seven-bit subset, when
the bytes are ASCII. Nothing is decoded with the named codec, so one that is no text encoding
(``rot13``, ``base64``: see ``config/wsgi.py``) is refused like any other, never a 500.
"""

from __future__ import annotations

from email.message import Message
from email.utils import collapse_rfc2231_value

from lrs.xapi.json_types import fail

_UTF_8 = frozenset({"utf-8", "utf8"})
_US_ASCII = frozenset({"us-ascii", "ascii"})


def content_type_param(content_type: str, name: str) -> str | None:
    """A parameter of a Content-Type value as sent (quotes removed, an RFC 2231 encoded value
    decoded), or None."""
    header = Message()
    header["Content-Type"] = content_type
    value = header.get_param(name)
    if value is None:
        return None
    if isinstance(value, tuple):  # an RFC 2231 encoded value
        value = collapse_rfc2231_value(value)
    return str(value)


def declared_charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type value as sent, or None."""
    return content_type_param(content_type, "charset")


def check_statements_charset(content_type: str, data: bytes, *, path: str, what: str) -> None:
    """Refuse (400, rule ``charset``, at ``path``) statements whose Content-Type declares a charset
    other than UTF-8 (or US-ASCII holding only ASCII bytes). ``what`` names them in the message."""
    charset = declared_charset(content_type)
    if charset is None:
        return
    label = charset.strip().lower()
    if label in _UTF_8 or (label in _US_ASCII and data.isascii()):
        return
    shown = charset[:40]
    if label in _US_ASCII:
        fail(
            f"{what} declares charset={shown} but holds bytes outside US-ASCII; "
            "send UTF-8 with charset=utf-8 (or no charset)",
            path,
            "charset",
        )
    fail(
        f"{what} declares charset={shown}; statements are UTF-8 JSON (xAPI Communication 1.4, "
        "RFC 8259 8.1): send them in UTF-8 with charset=utf-8 (or no charset)",
        path,
        "charset",
    )


def statements_text(data: bytes, *, path: str, what: str) -> str:
    """The statements' JSON text: UTF-8 (a byte order mark read past, RFC 8259 8.1 allows
    ignoring it), else a 400 (rule ``utf-8``). JSON's old UTF-16/32 detection (RFC 4627 3, which
    ``json.loads`` still does for bytes) is not applied: RFC 8259 dropped it. The one reading of a
    JSON body's bytes: a multipart request's statements part and a JSON request body
    (``lrs.api.request.parse_json``) alike."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass  # refused below, outside the handler: the decode error is no context of the 400
    fail(f"{what} is not UTF-8 text", path, "utf-8")
