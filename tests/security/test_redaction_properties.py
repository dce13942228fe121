"""Property: whatever text surrounds it, a target's secret is gone from what the LRS keeps of a
failed delivery (``adapters.redaction.redacted_text``, applied to attempt rows and last errors):
a secret value resolved in this process, a URL's password, a secret-named query parameter of a
URL, the credential after Authorization and an OAuth token field. ``LRS_HELPERSEC_EXAMPLES``
raises the number of examples (default 200)."""

from __future__ import annotations

import os
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import secrets as secret_refs
from adapters.redaction import redacted_text

EXAMPLES = int(os.environ.get("LRS_HELPERSEC_EXAMPLES", "200"))
URL_SAFE = string.ascii_letters + string.digits + "-._~"

surrounding = st.text(max_size=60)
# Text before a credential ends a word, as it does in a header block, JSON or a message.
before = st.builds(
    lambda text, gap: text + gap, surrounding, st.sampled_from([" ", "\n", ": ", "(", '"', "\t"])
)
after = st.builds(
    lambda gap, text: gap + text, st.sampled_from([" ", "\n", '"', ",", ")", "\r\n"]), surrounding
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    prefix=before,
    suffix=after,
    secret=st.text(alphabet=URL_SAFE, min_size=8, max_size=40),
    form=st.sampled_from(["resolved", "url-password", "url-query", "authorization", "token-field"]),
    scheme=st.sampled_from(["Bearer ", "Basic ", "token ", ""]),
)
def test_no_secret_survives_redaction_whatever_surrounds_it(
    prefix: str, suffix: str, secret: str, form: str, scheme: str
) -> None:
    secret = "hs" + secret  # never an ordinary word of other tests' text (resolved values are global)
    shown = {
        "resolved": secret,
        "url-password": f"https://svc-user:{secret}@hooks.example.test/in?x=1",
        "url-query": f"https://fn.example.test/api/lrs?tenant=a&code={secret}&x=1",
        "authorization": f"Authorization: {scheme}{secret}",
        "token-field": f'{{"access_token": "{secret}", "expires_in": 3600}}',
    }[form]
    if form == "resolved":
        os.environ["LRS_HELPERSEC_PROPERTY_SECRET"] = secret
        secret_refs.resolve({"env": "LRS_HELPERSEC_PROPERTY_SECRET"}, field="test")
    try:
        kept = redacted_text(prefix + shown + suffix)
    finally:
        os.environ.pop("LRS_HELPERSEC_PROPERTY_SECRET", None)
        secret_refs._resolved.discard(secret)
    assert secret not in kept
