"""Extensions maps.

xAPI 1.0.3 Data 4.1 (Extensions): "The keys of an extensions map MUST be IRIs."
"An LRS MUST NOT reject a Statement based on the values of the extensions map."
Data 2.2: null values are rejected "except inside extensions".
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#41-extensions
IEEE 9274.1.1 (xAPI 2.0) 4.2.7: "The LRS shall reject any Statement where a key
of an extensions map is not an IRI."

The map itself must be a JSON object; values are any JSON, including null and
empty objects, and are never inspected.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.iris import is_iri
from lrs.xapi.json_types import fail, key_path, require_object, short


def validate_extensions(value: object, *, path: str) -> dict[str, Any]:
    extensions = value if type(value) is dict else require_object(value, path)
    for key in extensions:
        if not is_iri(key):
            fail(f"extension keys must be absolute IRIs, got {short(key)}", key_path(path, key), "iri")
    return extensions
