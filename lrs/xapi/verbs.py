"""Verbs.

xAPI 1.0.3 Data 2.4.3 (Verb): ``id`` (IRI, required) and ``display`` (Language
Map, recommended); Data 2.3.2 (Voiding) reserves
``http://adlnet.gov/expapi/verbs/voided``.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#243-verb
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.2 (Verb table) is identical.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.identifier_lengths import check_identifier_length
from lrs.xapi.iris import is_iri
from lrs.xapi.json_types import check_properties, fail, require_object, require_string, short
from lrs.xapi.language_maps import validate_language_map
from lrs.xapi.valid_memo import remembers_valid

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_PROPERTIES = frozenset({"id", "display"})
_REQUIRED = ("id",)


@remembers_valid()
def validate_verb(obj: object, *, path: str) -> dict[str, Any]:
    verb = obj if type(obj) is dict else require_object(obj, path)
    check_properties(verb, path, _PROPERTIES, _REQUIRED, what="a Verb")
    if not is_iri(verb["id"]):
        verb_id = require_string(verb["id"], f"{path}.id")
        fail(f"a Verb id must be an absolute IRI, got {short(verb_id)}", f"{path}.id", "iri")
    check_identifier_length(verb["id"], f"{path}.id", "a Verb id")
    if "display" in verb:
        validate_language_map(verb["display"], path=f"{path}.display")
    return verb
