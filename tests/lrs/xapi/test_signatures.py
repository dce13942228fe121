"""Signed Statements (Data 2.6): real RSA keys, self-signed certificates and JWS built here.

The request layout follows the ADL suite's helper.js signStatement and
E.Data2.6-SignedStatements.js; the duration case follows the 2.0 suite's
4.2.7-Additional-Requirements-for-Data-Types.js.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.multipart import AttachmentPart, match_attachments, parse_statement_request
from lrs.xapi.signatures import SIGNATURE_USAGE_TYPE, decode_compact_jws, verify_signed_statement
from tests.lrs.xapi.examples import cmi5_completed, scorm_choice_answered

HASHES = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rejects(call: Callable[[], object], *, rule: str, path: str | None = None) -> XAPIValidationError:
    with pytest.raises(XAPIValidationError) as caught:
        call()
    error = caught.value
    assert error.status == 400
    assert error.rule == rule, error.describe()
    if path is not None:
        assert error.path == path, error.describe()
    return error


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(private_key: Any) -> str:
    """A self-signed certificate for ``private_key``, base64 DER as in the x5c header."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xAPI statement signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(private_key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def jws(
    payload: object,
    private_key: rsa.RSAPrivateKey,
    alg: str = "RS256",
    *,
    sign_with: str | None = None,
    **header: Any,
) -> bytes:
    """A JWS Compact Serialization; ``payload`` is JSON-serialised unless it is bytes already."""
    payload_bytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps({'alg': alg, **header}).encode())}.{b64url(payload_bytes)}".encode()
    algorithm = sign_with or alg
    if algorithm.startswith("HS"):
        signature = hmac.new(b"a shared secret", signing_input, hashlib.sha256).digest()
    else:
        signature = private_key.sign(signing_input, padding.PKCS1v15(), HASHES[algorithm]())
    return signing_input + b"." + b64url(signature).encode()


def signed(
    statement: dict[str, Any], token: bytes, *, content_type: str = "application/octet-stream"
) -> tuple[dict[str, Any], dict[str, AttachmentPart]]:
    """The statement with its signature attachment (as signStatement adds it) and the matched parts."""
    sent = {key: value for key, value in statement.items() if key != "attachments"}
    sent["attachments"] = [
        *statement.get("attachments", []),
        {
            "usageType": SIGNATURE_USAGE_TYPE,
            "display": {"en-US": "Signed by the Test Suite"},
            "description": {"en-US": "Signed by the Test Suite"},
            "contentType": content_type,
            "length": len(token),
            "sha2": hashlib.sha256(token).hexdigest(),
        },
    ]
    part = AttachmentPart(hashlib.sha256(token).hexdigest(), content_type, token)
    return sent, match_attachments([sent], [part], path_prefix="statement")


def original() -> dict[str, Any]:
    statement = cmi5_completed()
    del statement["attachments"]
    return statement


def verify(statement: dict[str, Any], parts: dict[str, AttachmentPart]) -> None:
    verify_signed_statement(statement, parts, path="statement")


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_algorithms_without_certificate(key: rsa.RSAPrivateKey, alg: str) -> None:
    """XAPI-00117: the suite signs without x5c, so only form, algorithm and payload can be checked."""
    verify(*signed(original(), jws(original(), key, alg)))


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_algorithms_with_certificate(key: rsa.RSAPrivateKey, alg: str) -> None:
    verify(*signed(original(), jws(original(), key, alg, x5c=[self_signed(key)])))


def test_suite_request_end_to_end(key: rsa.RSAPrivateKey) -> None:
    """helper.js:843 layout: CRLF preamble, no space after colons, no CRLF after the close delimiter."""
    statement = original()
    token = jws(statement, key, "RS384", x5c=[self_signed(key)])
    sent, _ = signed(statement, token)
    boundary = "-------------__6f1c0e4a-3f0b-4c55-9d6e-2b7f0a1d9c3e__123__456"
    body = (
        (
            f"\r\n--{boundary}\r\nContent-Type:application/json\r\n\r\n{json.dumps(sent)}"
            f"\r\n--{boundary}\r\nContent-Type:application/octet-stream\r\nContent-Transfer-Encoding:binary\r\n"
            f"X-Experience-API-Hash:{hashlib.sha256(token).hexdigest()}\r\n\r\n"
        ).encode()
        + token
        + f"\r\n--{boundary}--".encode()
    )
    parsed, parts = parse_statement_request(body, f"multipart/mixed; boundary={boundary}")
    assert isinstance(parsed, dict)
    verify(parsed, match_attachments([parsed], parts, path_prefix="statement"))


def test_statement_without_signature_is_untouched() -> None:
    verify(cmi5_completed(), {})
    verify(original(), {})


def test_payload_with_lrs_set_properties_and_other_serialisation(key: rsa.RSAPrivateKey) -> None:
    """Comparison ignores stored/authority/version/timestamp; ids compare case-insensitively."""
    statement = original()
    payload = {**statement, "id": statement["id"].upper(), "version": "1.0.3"}
    del payload["stored"], payload["authority"]
    payload["object"] = {"id": statement["object"]["id"]}  # definition and objectType are not compared
    verify(*signed(statement, jws(payload, key)))


def test_other_attachments_are_ignored_in_the_comparison(key: rsa.RSAPrivateKey) -> None:
    statement = cmi5_completed()  # has a certificate attachment, which the payload omits
    verify(*signed(statement, jws(original(), key)))


def test_duration_compared_to_hundredths(key: rsa.RSAPrivateKey) -> None:
    """4.2.7 (2.0): the payload says 0.12S, the statement sent says 0.1237S -> accepted."""
    payload = scorm_choice_answered()
    payload["result"]["duration"] = "P1DT12H36M0.12S"
    statement = json.loads(json.dumps(payload).replace("0.12S", "0.1237S"))
    verify(*signed(statement, jws(payload, key)))
    statement["result"]["duration"] = "P1DT12H36M0.13S"
    rejects(lambda: verify(*signed(statement, jws(payload, key))), rule="signature-mismatch")


# --- rejected -------------------------------------------------------------------------------


def test_tampered_payload_fails_the_certificate_check(key: rsa.RSAPrivateKey) -> None:
    token = jws(original(), key, x5c=[self_signed(key)])
    header, _, signature = token.split(b".")
    changed = original()
    changed["result"]["score"]["raw"] = 100
    forged = header + b"." + b64url(json.dumps(changed).encode()).encode() + b"." + signature
    rejects(
        lambda: verify(*signed(changed, forged)),
        path="statement.attachments[0].jws",
        rule="signature-invalid",
    )


def test_certificate_of_another_key(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    token = jws(original(), key, "RS512", x5c=[self_signed(other_key)])
    rejects(lambda: verify(*signed(original(), token)), rule="signature-invalid")


def test_signature_made_with_another_hash_than_alg_says(key: rsa.RSAPrivateKey) -> None:
    token = jws(original(), key, "RS256", sign_with="RS512", x5c=[self_signed(key)])
    rejects(lambda: verify(*signed(original(), token)), rule="signature-invalid")


def test_payload_differs_from_statement_without_certificate(key: rsa.RSAPrivateKey) -> None:
    payload = original()
    payload["verb"]["id"] = "http://adlnet.gov/expapi/verbs/failed"
    error = rejects(
        lambda: verify(*signed(original(), jws(payload, key))),
        path="statement.attachments[0]",
        rule="signature-mismatch",
    )
    assert "verb" in error.message


def test_payload_for_another_statement_id(key: rsa.RSAPrivateKey) -> None:
    payload = {**original(), "id": "0b0e7d2c-4c4f-4d6c-9a3e-6f1c2b3a4d5e"}
    rejects(lambda: verify(*signed(original(), jws(payload, key))), rule="signature-mismatch")


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256", "PS256", "rs256"])
def test_other_algorithms(key: rsa.RSAPrivateKey, alg: str) -> None:
    """XAPI-00117: the suite sends HS256."""
    token = jws(original(), key, alg, sign_with="HS256" if alg.upper() != "PS256" else "RS256")
    rejects(
        lambda: verify(*signed(original(), token)),
        path="statement.attachments[0].jws.header.alg",
        rule="signature-algorithm",
    )


def test_wrong_content_type(key: rsa.RSAPrivateKey) -> None:
    """XAPI-00115: the suite sends 'text/plain; charset=ascii' (attachment and part alike)."""
    token = jws(original(), key)
    rejects(
        lambda: verify(*signed(original(), token, content_type="text/plain; charset=ascii")),
        path="statement.attachments[0].contentType",
        rule="signature-content-type",
    )
    statement, parts = signed(original(), token)
    sha2 = statement["attachments"][0]["sha2"]
    parts = {sha2: AttachmentPart(sha2, "text/plain", token)}
    rejects(lambda: verify(statement, parts), rule="signature-content-type")


def test_content_type_parameters_and_case_are_allowed(key: rsa.RSAPrivateKey) -> None:
    verify(*signed(original(), jws(original(), key), content_type="Application/Octet-Stream; x=1"))


def test_payload_not_json(key: rsa.RSAPrivateKey) -> None:
    """XAPI-00115/00116: breakJson replaces the first '"' by "'"."""
    broken = json.dumps(original()).replace('"', "'", 1).encode()
    rejects(
        lambda: verify(*signed(original(), jws(broken, key))),
        path="statement.attachments[0].jws",
        rule="signature-payload",
    )


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"a statement"', b'{"id": 1, "id": 2}'])
def test_payload_not_a_statement_object(key: rsa.RSAPrivateKey, payload: bytes) -> None:
    rejects(lambda: verify(*signed(original(), jws(payload, key))), rule="signature-payload")


@pytest.mark.parametrize("depth", [100_000, 950])
def test_deeply_nested_payload_is_a_400_not_a_crash(key: rsa.RSAPrivateKey, depth: int) -> None:
    payload = b'{"actor": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(XAPIValidationError) as caught:
        verify(*signed(original(), jws(payload, key)))
    assert caught.value.rule in {"signature-payload", "signature-mismatch"}


@pytest.mark.parametrize(
    "token",
    [
        b"only.two",
        b"a.b.c.d",
        b"",
        b"eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",  # padding is not base64url
        b"eyJhbGciOiJSUzI1NiJ9.e30.",  # empty signature
        b"bm90IGpzb24.e30.c2ln",  # header 'not json'
        b"WzFd.e30.c2ln",  # header [1]
        b'{"payload": "e30", "signatures": []}',  # JWS JSON Serialization
        "ëyJ.e30.c2ln".encode(),
    ],
)
def test_not_a_compact_jws(token: bytes) -> None:
    rejects(lambda: verify(*signed(original(), token)), rule="signature-malformed")


def test_crit_header_is_not_understood(key: rsa.RSAPrivateKey) -> None:
    token = jws(original(), key, crit=["exp"], exp=1)
    rejects(lambda: verify(*signed(original(), token)), rule="signature-malformed")


def test_signature_data_missing() -> None:
    """A signature attachment whose JWS is not in the request (fileUrl only)."""
    statement = {
        **original(),
        "attachments": [
            {
                "usageType": SIGNATURE_USAGE_TYPE,
                "display": {"en-US": "Signature"},
                "contentType": "application/octet-stream",
                "length": 10,
                "sha2": "ab" * 32,
                "fileUrl": "https://example.com/signature.jws",
            }
        ],
    }
    rejects(lambda: verify(statement, {}), path="statement.attachments[0].sha2", rule="signature-missing")


@pytest.mark.parametrize("x5c", [[], "MIIB", ["not base64!"], [base64.b64encode(b"not DER").decode()], [1]])
def test_unreadable_certificate(key: rsa.RSAPrivateKey, x5c: object) -> None:
    rejects(lambda: verify(*signed(original(), jws(original(), key, x5c=x5c))), rule="signature-certificate")


def test_certificate_with_a_non_rsa_key(key: rsa.RSAPrivateKey) -> None:
    ec_certificate = self_signed(ec.generate_private_key(ec.SECP256R1()))
    rejects(
        lambda: verify(*signed(original(), jws(original(), key, x5c=[ec_certificate]))),
        path="statement.attachments[0].jws.header.x5c",
        rule="signature-certificate",
    )


def test_decode_compact_jws_tolerates_surrounding_whitespace(key: rsa.RSAPrivateKey) -> None:
    decoded = decode_compact_jws(jws({"a": 1}, key, "RS384") + b"\r\n", path="jws")
    assert decoded.header == {"alg": "RS384"}
    assert json.loads(decoded.payload) == {"a": 1}
    assert len(decoded.signature) == 256


# --- the spec's own example ---------------------------------------------------------------------

# Data Appendix D (Example Signed Statement): RS256 with a two-certificate x5c chain (a 1024-bit key,
# certificates long expired), CRLF-formatted JSON header and payload.
SPEC_APPENDIX_D_JWS = (
    "ew0KICAgICJhbGciOiAiUlMyNTYiLA0KICAgICJ4NWMiOiBbDQogICAgICAgICJNSUlEQVRDQ0FtcWdBd0lCQWdJSkFNQjFj"
    "c051QTYra01BMEdDU3FHU0liM0RRRUJCUVVBTUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlFd2xVWlc1dVpYTnpa"
    "V1V4R0RBV0JnTlZCQW9URDBWNFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlhoaGJYQnNaVEVpTUNBR0NTcUdT"
    "SWIzRFFFSkFSWVRaWGhoYlhCc1pVQmxlR0Z0Y0d4bExtTnZiVEFlRncweE16QTBNRFF4TlRJNE16QmFGdzB4TkRBME1EUXhO"
    "VEk0TXpCYU1JR1dNUXN3Q1FZRFZRUUdFd0pWVXpFU01CQUdBMVVFQ0JNSlZHVnVibVZ6YzJWbE1SRXdEd1lEVlFRSEV3aEdj"
    "bUZ1YTJ4cGJqRVlNQllHQTFVRUNoTVBSWGhoYlhCc1pTQkRiMjF3WVc1NU1SQXdEZ1lEVlFRTEV3ZEZlR0Z0Y0d4bE1SQXdE"
    "Z1lEVlFRREV3ZEZlR0Z0Y0d4bE1TSXdJQVlKS29aSWh2Y05BUWtCRmhObGVHRnRjR3hsUUdWNFlXMXdiR1V1WTI5dE1JR2ZN"
    "QTBHQ1NxR1NJYjNEUUVCQVFVQUE0R05BRENCaVFLQmdRRGp4dlpYRjMwV0w0b0tqWllYZ1IwWnlhWCt1M3k2K0pxVHFpTmtG"
    "YS9WVG5ldDZMeTJPVDZabW1jSkVQbnEzVW5ld3BIb09RK0dmaGhUa1cxM2owNmo1aU5uNG9iY0NWV1RMOXlYTnZKSCtLbyt4"
    "dTRZbC95U1BScklQeVRqdEhkRzBNMlh6SWxtbUxxbStDQVMrS0NiSmVINHRmNTQza0lXQzVwQzVwM2NWUUlEQVFBQm8zc3dl"
    "VEFKQmdOVkhSTUVBakFBTUN3R0NXQ0dTQUdHK0VJQkRRUWZGaDFQY0dWdVUxTk1JRWRsYm1WeVlYUmxaQ0JEWlhKMGFXWnBZ"
    "MkYwWlRBZEJnTlZIUTRFRmdRVVZzM3Y1YWZFZE9lb1llVmFqQVFFNHYwV1MxUXdId1lEVlIwakJCZ3dGb0FVeVZJYzN5dnJh"
    "NEVCejIwSTRCRjM5SUFpeEJrd0RRWUpLb1pJaHZjTkFRRUZCUUFEZ1lFQWdTL0ZGNUQwSG5qNDRydlQ2a2duM2tKQXZ2Mmxq"
    "L2Z5anp0S0lyWVMzM2xqWEduNmdHeUE0cXRiWEEyM1ByTzR1Yy93WUNTRElDRHBQb2JoNjJ4VENkOXFPYktoZ3dXT2kwNVBT"
    "QkxxVXUzbXdmQWUxNUxKQkpCcVBWWjRLMGtwcGVQQlU4bTZhSVpvSDU3TC85dDRPb2FMOHlLcy9xaktGZUkxT0ZXWnh2QT0i"
    "LA0KICAgICAgICAiTUlJRE56Q0NBcUNnQXdJQkFnSUpBTUIxY3NOdUE2K2pNQTBHQ1NxR1NJYjNEUUVCQlFVQU1IRXhDekFK"
    "QmdOVkJBWVRBbFZUTVJJd0VBWURWUVFJRXdsVVpXNXVaWE56WldVeEdEQVdCZ05WQkFvVEQwVjRZVzF3YkdVZ1EyOXRjR0Z1"
    "ZVRFUU1BNEdBMVVFQXhNSFJYaGhiWEJzWlRFaU1DQUdDU3FHU0liM0RRRUpBUllUWlhoaGJYQnNaVUJsZUdGdGNHeGxMbU52"
    "YlRBZUZ3MHhNekEwTURReE5USTFOVE5hRncweU16QTBNREl4TlRJMU5UTmFNSEV4Q3pBSkJnTlZCQVlUQWxWVE1SSXdFQVlE"
    "VlFRSUV3bFVaVzV1WlhOelpXVXhHREFXQmdOVkJBb1REMFY0WVcxd2JHVWdRMjl0Y0dGdWVURVFNQTRHQTFVRUF4TUhSWGho"
    "YlhCc1pURWlNQ0FHQ1NxR1NJYjNEUUVKQVJZVFpYaGhiWEJzWlVCbGVHRnRjR3hsTG1OdmJUQ0JuekFOQmdrcWhraUc5dzBC"
    "QVFFRkFBT0JqUUF3Z1lrQ2dZRUExc0JuQldQWjBmN1dKVUZUSnk1KzAxU2xTNVo2RERENlV5ZTl2SzlBeWNnVjVCMytXQzhI"
    "QzV1NWg5MU11akFDMUFSUFZVT3RzdlBSczQ1cUtORklnSUdSWEtQQXdaamF3RUkyc0NKUlNLVjQ3aTZCOGJEdjRXa3VHdlFh"
    "dmVaR0kwcWxtTjVSMUVpbTJnVUl0UmoxaGdjQzlyUWF2amxuRktEWTJybFhHdWtDQXdFQUFhT0IxakNCMHpBZEJnTlZIUTRF"
    "RmdRVXlWSWMzeXZyYTRFQnoyMEk0QkYzOUlBaXhCa3dnYU1HQTFVZEl3U0JtekNCbUlBVXlWSWMzeXZyYTRFQnoyMEk0QkYz"
    "OUlBaXhCbWhkYVJ6TUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlFd2xVWlc1dVpYTnpaV1V4R0RBV0JnTlZCQW9U"
    "RDBWNFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlhoaGJYQnNaVEVpTUNBR0NTcUdTSWIzRFFFSkFSWVRaWGho"
    "YlhCc1pVQmxlR0Z0Y0d4bExtTnZiWUlKQU1CMWNzTnVBNitqTUF3R0ExVWRFd1FGTUFNQkFmOHdEUVlKS29aSWh2Y05BUUVG"
    "QlFBRGdZRUFEaHdUZWJHazczNXlLaG04RHFDeHZObkVaME54c1lFWU9qZ1JHMXlYVGxXNXBFNjkxZlNINUFaK1Q2ZnB3cFpj"
    "V1k1UVlrb042RG53ak94R2tTZlFDMy95R21jVURLQlB3aVo1TzJzOUMrZkUxa1VFbnJYMlhlYTRhZ1ZuZ016UjhEUTZvT2F1"
    "TFdxZWhEQitnMkVOV1JMb1ZnUyttYTUvWWNzMEdUeXJFQ1k9Ig0KICAgIF0NCn0.ew0KICAgICJ2ZXJzaW9uIjogIjEuMC4w"
    "IiwNCiAgICAiaWQiOiAiMzNjZmY0MTYtZTMzMS00YzlkLTk2OWUtNTM3M2ExNzU2MTIwIiwNCiAgICAiYWN0b3IiOiB7DQog"
    "ICAgICAgICJtYm94IjogIm1haWx0bzpleGFtcGxlQGV4YW1wbGUuY29tIiwNCiAgICAgICAgIm5hbWUiOiAiRXhhbXBsZSBM"
    "ZWFybmVyIiwNCiAgICAgICAgIm9iamVjdFR5cGUiOiAiQWdlbnQiDQogICAgfSwNCiAgICAidmVyYiI6IHsNCiAgICAgICAg"
    "ImlkIjogImh0dHA6Ly9hZGxuZXQuZ292L2V4cGFwaS92ZXJicy9leHBlcmllbmNlZCIsDQogICAgICAgICJkaXNwbGF5Ijog"
    "ew0KICAgICAgICAgICAgImVuLVVTIjogImV4cGVyaWVuY2VkIg0KICAgICAgICB9DQogICAgfSwNCiAgICAib2JqZWN0Ijog"
    "ew0KICAgICAgICAiaWQiOiAiaHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g_dj14aDRrSWlIM1NtOCIsDQogICAgICAg"
    "ICJvYmplY3RUeXBlIjogIkFjdGl2aXR5IiwNCiAgICAgICAgImRlZmluaXRpb24iOiB7DQogICAgICAgICAgICAibmFtZSI6"
    "IHsNCiAgICAgICAgICAgICAgICAiZW4tVVMiOiAiVGF4IFRpcHMgJiBJbmZvcm1hdGlvbiA6IEhvdyB0byBGaWxlIGEgVGF4"
    "IFJldHVybiAiDQogICAgICAgICAgICB9LA0KICAgICAgICAgICAgImRlc2NyaXB0aW9uIjogew0KICAgICAgICAgICAgICAg"
    "ICJlbi1VUyI6ICJGaWxpbmcgYSB0YXggcmV0dXJuIHdpbGwgcmVxdWlyZSBmaWxsaW5nIG91dCBlaXRoZXIgYSAxMDQwLCAx"
    "MDQwQSBvciAxMDQwRVogZm9ybSINCiAgICAgICAgICAgIH0NCiAgICAgICAgfQ0KICAgIH0sDQogICAgInRpbWVzdGFtcCI6"
    "ICIyMDEzLTA0LTAxVDEyOjAwOjAwWiINCn0.FWuwaPhwUbkk7h9sKW5zSvjsYNugvxJ-TrVaEgt_DCUT0bmKhQScRrjMB6P9"
    "O50uznPwT66oF1NnU_G0HVhRzS5voiXE-y7tT3z0M3-8A6YK009Bk_digVUul-HA4Fpd5IjoBBGe3yzaQ2ZvzarvRuipvNEQ"
    "CI0onpfuZZJQ0d8"
)


def test_spec_appendix_d_example_verifies() -> None:
    token = SPEC_APPENDIX_D_JWS.encode()
    payload = json.loads(decode_compact_jws(token, path="jws").payload)
    assert payload["id"] == "33cff416-e331-4c9d-969e-5373a1756120"
    verify(*signed(payload, token))
    changed = {**payload, "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"}}
    rejects(lambda: verify(*signed(changed, token)), rule="signature-mismatch")
