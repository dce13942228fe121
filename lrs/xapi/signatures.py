"""Signed Statements: the JWS signature attachment.

xAPI 1.0.3 Data 2.6 (Signed Statements):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#26-signed-statements
RFC 7515 (JSON Web Signature): https://www.rfc-editor.org/rfc/rfc7515

* "A Signed Statement MUST include a JSON web signature (JWS) ... as an
  Attachment with a usageType of http://adlnet.gov/expapi/attachments/signature
  and a contentType of application/octet-stream" (rules
  ``signature-content-type``, ``signature-missing``).
* "JWS Compact Serialization SHOULD* be used ... JSON Serialization is strongly
  discouraged ... and will be forbidden in a future version": only the compact
  form is accepted (rule ``signature-malformed``).
* "The JWS signature MUST have a payload of a valid JSON serialization of the
  complete Statement before the signature was added" (rule
  ``signature-payload``) and "MUST use an algorithm of RS256, RS384, or RS512"
  (rule ``signature-algorithm``).
* The LRS MUST "Validate that the original Statement is logically equivalent
  to the received Statement" using the Statement comparison requirements
  (:func:`lrs.xapi.comparison.statements_equivalent`: ``attachments``, ``id``,
  ``stored``, ``timestamp``, ``authority``, ``version`` are ignored and
  durations compare to 0.01 s, as the 2.0 conformance suite requires). An
  ``id`` present in both that differs is still a mismatch: the signature is for
  another statement (rule ``signature-mismatch``).
* "If the JWS header includes an X.509 certificate, validate the signature
  against that certificate as defined in JWS" (rule ``signature-invalid``): the
  first ``x5c`` certificate's RSA public key verifies the signature. The spec's
  note: this "is intended as a way to catch mistakes in the signature, not as a
  security measure", so the chain, expiry and trust are not checked.

Without ``x5c`` the LRS has no key, so the signature cannot be verified
cryptographically: only its form, algorithm and payload are checked (the ADL
conformance suite signs without ``x5c``). Headers ``jwk``/``x5u`` are not used
(the LRS fetches nothing); a ``crit`` header is rejected, since no extension is
understood (RFC 7515 4.1.11).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.xapi.attachments import SIGNATURE_USAGE_TYPE
from lrs.xapi.comparison import statements_equivalent
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import fail, parse_json
from lrs.xapi.multipart import AttachmentPart, media_type

__all__ = ["SIGNATURE_USAGE_TYPE", "JWSParts", "decode_compact_jws", "verify_signed_statement"]

SIGNATURE_CONTENT_TYPE = "application/octet-stream"
ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


@dataclass(frozen=True)
class JWSParts:
    """A decoded JWS Compact Serialization (RFC 7515 section 7.1)."""

    header: dict[str, Any]
    payload: bytes
    signature: bytes
    signing_input: bytes  # ASCII(BASE64URL(header) '.' BASE64URL(payload)), what the signature covers


def _base64url(segment: str, what: str, path: str) -> bytes:
    if not _BASE64URL.match(segment) or len(segment) % 4 == 1:
        fail(f"the JWS {what} is not base64url (RFC 7515 section 2)", path, "signature-malformed")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_compact_jws(data: bytes, *, path: str) -> JWSParts:
    """Split and decode ``header.payload.signature``; the header must be a JSON object."""
    try:
        text = data.strip(b" \t\r\n").decode("ascii")
    except UnicodeDecodeError:
        fail("the signature is not a JWS Compact Serialization (non-ASCII data)", path, "signature-malformed")
    segments = text.split(".")
    if len(segments) != 3:
        fail(
            "the signature must be a JWS Compact Serialization 'header.payload.signature'",
            path,
            "signature-malformed",
        )
    header_b64, payload_b64, signature_b64 = segments
    try:
        header = parse_json(_base64url(header_b64, "header", path), path=f"{path}.header")
    except (XAPIValidationError, RecursionError) as error:
        fail(f"the JWS header is not JSON: {getattr(error, 'message', error)}", path, "signature-malformed")
    if type(header) is not dict:
        fail("the JWS header must be a JSON object", path, "signature-malformed")
    signature = _base64url(signature_b64, "signature", path)
    if not signature:
        fail("the JWS has an empty signature", path, "signature-malformed")
    return JWSParts(
        header=header,
        payload=_base64url(payload_b64, "payload", path),
        signature=signature,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
    )


def _certificate_key(x5c: object, path: str) -> rsa.RSAPublicKey:
    if type(x5c) is not list or not x5c or type(x5c[0]) is not str:
        fail("the JWS header x5c must be a non-empty array of certificates", path, "signature-certificate")
    try:
        der = base64.b64decode(x5c[0], validate=True)  # base64, not base64url (RFC 7515 4.1.6)
        public_key = x509.load_der_x509_certificate(der).public_key()
    except (binascii.Error, ValueError) as error:
        fail(f"the first x5c certificate cannot be read: {error}", path, "signature-certificate")
    if not isinstance(public_key, rsa.RSAPublicKey):
        fail(
            "the x5c certificate must hold an RSA public key for RS256/384/512", path, "signature-certificate"
        )
    return public_key


def _verify_jws(jws: JWSParts, path: str) -> dict[str, Any]:
    """Check the header and (with x5c) the signature; return the payload statement."""
    algorithm = jws.header.get("alg")
    if type(algorithm) is not str or algorithm not in ALGORITHMS:  # an array or object is unhashable
        fail(
            f"the JWS algorithm must be RS256, RS384 or RS512, got {algorithm!r}",
            f"{path}.header.alg",
            "signature-algorithm",
        )
    if "crit" in jws.header:
        fail("the JWS header has crit extensions the LRS does not understand", path, "signature-malformed")
    if "x5c" in jws.header:
        public_key = _certificate_key(jws.header["x5c"], f"{path}.header.x5c")
        try:
            public_key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), ALGORITHMS[algorithm]())
        except InvalidSignature:
            fail(
                "the JWS signature does not verify with the x5c certificate's public key",
                path,
                "signature-invalid",
            )
    try:
        payload = parse_json(jws.payload, path=f"{path}.payload")
    except XAPIValidationError as error:
        fail(f"the JWS payload is not a JSON statement: {error.message}", path, "signature-payload")
    except RecursionError:
        fail("the JWS payload is nested too deeply", path, "signature-payload")
    if type(payload) is not dict:
        fail("the JWS payload must be a JSON statement object", path, "signature-payload")
    return payload


def _same_id(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if "id" not in a or "id" not in b:
        return True
    return str(a["id"]).lower() == str(b["id"]).lower()


def verify_signed_statement(
    statement: dict[str, Any], parts_by_sha2: dict[str, AttachmentPart], *, path: str
) -> None:
    """Check every signature attachment of ``statement``; raise XAPIValidationError (400) if malformed.

    ``statement`` is the statement as received (before the LRS sets ``id``,
    ``stored`` ...); ``parts_by_sha2`` maps lower-case digests to parts, as
    returned by :func:`lrs.xapi.multipart.match_attachments`. A statement with no
    attachment of usageType ``SIGNATURE_USAGE_TYPE`` passes unchanged.
    """
    attachments = statement.get("attachments")
    if type(attachments) is not list:
        return
    for index, attachment in enumerate(attachments):
        if type(attachment) is not dict or attachment.get("usageType") != SIGNATURE_USAGE_TYPE:
            continue
        attachment_path = f"{path}.attachments[{index}]"
        content_type = attachment.get("contentType")
        if type(content_type) is not str or media_type(content_type) != SIGNATURE_CONTENT_TYPE:
            fail(
                f"a signature's contentType must be {SIGNATURE_CONTENT_TYPE}, not {content_type!r}",
                f"{attachment_path}.contentType",
                "signature-content-type",
            )
        sha2 = attachment.get("sha2")
        part = parts_by_sha2.get(sha2.lower()) if type(sha2) is str else None
        if part is None:
            fail(
                "a signature attachment needs its JWS in a multipart part (a fileUrl cannot be verified)",
                f"{attachment_path}.sha2",
                "signature-missing",
            )
        if part.content_type and media_type(part.content_type) != SIGNATURE_CONTENT_TYPE:
            fail(
                f"the JWS part Content-Type must be {SIGNATURE_CONTENT_TYPE}, not {part.content_type!r}",
                f"{attachment_path}.contentType",
                "signature-content-type",
            )
        jws_path = f"{attachment_path}.jws"
        payload = _verify_jws(decode_compact_jws(part.data, path=jws_path), jws_path)
        if not _equivalent(payload, statement):
            fail(
                "the signed statement (JWS payload) differs from the statement sent: "
                + _first_difference(payload, statement),
                attachment_path,
                "signature-mismatch",
            )


def _equivalent(signed: dict[str, Any], sent: dict[str, Any]) -> bool:
    try:
        return _same_id(signed, sent) and statements_equivalent(signed, sent)
    except RecursionError:  # absurdly deep JSON cannot be compared, so it does not match
        return False


def _first_difference(signed: dict[str, Any], sent: dict[str, Any]) -> str:
    """A short hint naming the top-level properties that differ."""
    try:
        names = sorted(
            name
            for name in (set(signed) | set(sent))
            - {"attachments", "stored", "authority", "version", "timestamp"}
            if json.dumps(signed.get(name), sort_keys=True) != json.dumps(sent.get(name), sort_keys=True)
        )
    except (RecursionError, TypeError, ValueError):
        names = []
    return f"compare {', '.join(names)}" if names else "they are not equivalent"
