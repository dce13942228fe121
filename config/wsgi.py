"""WSGI entry point (gunicorn config.wsgi).

Django's own request takes any charset ``codecs.lookup`` finds in the Content-Type as the
request's encoding, and setting it evaluates the query string with it: a charset that names a
codec but no text encoding (``rot13``, ``base64``, ``zlib``) raises LookupError there, before any
middleware or view, and the client gets the server's 500 for a bad request. The request served
here takes such a charset for no encoding (query strings are UTF-8, as is every JSON body the LRS
reads); it stays in ``content_params``, where the alternate request syntax, whose form body is
text in that charset, refuses it (``lrs.api.alternate``).
"""

import contextlib
import os

from django.core.handlers.wsgi import WSGIRequest
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def is_text_encoding(charset: str) -> bool:
    try:
        "".encode(charset)  # LookupError for an unknown codec and for one that is no text encoding
    except LookupError:
        return False
    return True


class LRSRequest(WSGIRequest):
    def _set_content_type_params(self, meta: dict) -> None:
        with contextlib.suppress(LookupError):  # from the encoding's setter, after the params are set
            super()._set_content_type_params(meta)
        if self.encoding and not is_text_encoding(self.encoding):
            self._encoding = None  # nothing decoded with it is cached: it failed, or was not read yet


application = get_wsgi_application()
application.request_class = LRSRequest
