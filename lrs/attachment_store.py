"""Where attachment bytes live: a small interface with a database implementation.

Statements carry only attachment metadata; the raw parts of multipart requests
(Data 2.4.11, Communication 1.5.2) are kept here, deduplicated by their SHA-2
hash. Another backend (object storage) only needs ``put_many`` and ``get_many``;
``LRS_ATTACHMENT_STORE`` names the class.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2411-attachments
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Protocol

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string

from lrs.xapi.errors import XAPIPayloadTooLarge
from lrs.xapi.multipart import AttachmentPart


class AttachmentContent(models.Model):
    """Attachment bytes, kept apart from statements and stored once per SHA-2 hash.

    Statements reference attachments by ``sha2`` (Data 2.4.11); two statements sending
    the same file share one row. Read and written through ``DatabaseAttachmentStore`` below.
    """

    sha2 = models.CharField(max_length=128, unique=True)
    content_type = models.CharField(max_length=255)
    length = models.BigIntegerField()
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha2


class AttachmentStore(Protocol):
    def put_many(self, parts: Iterable[AttachmentPart]) -> None: ...

    def get_many(self, sha2s: Iterable[str]) -> dict[str, AttachmentPart]: ...


class DatabaseAttachmentStore:
    """Attachment bytes in the ``AttachmentContent`` table, one row per hash."""

    def put_many(self, parts: Iterable[AttachmentPart]) -> None:
        rows = {
            part.sha2: AttachmentContent(
                sha2=part.sha2, content_type=part.content_type, length=len(part.data), data=part.data
            )
            for part in parts
        }
        if rows:
            # An upsert, not DO NOTHING: it locks an existing row until the statement naming it
            # commits, so an erasure deleting unreferenced bytes meanwhile waits and then sees the
            # reference (or deleted first, and the insert writes the bytes again). See
            # lrs.statements.erasure._delete_unreferenced_attachments.
            AttachmentContent.objects.bulk_create(
                rows.values(), update_conflicts=True, unique_fields=["sha2"], update_fields=["length"]
            )

    def get_many(self, sha2s: Iterable[str]) -> dict[str, AttachmentPart]:
        wanted = set(sha2s)
        if not wanted:
            return {}
        return {
            row.sha2: AttachmentPart(sha2=row.sha2, content_type=row.content_type, data=bytes(row.data))
            for row in AttachmentContent.objects.filter(sha2__in=wanted)
        }


@cache
def attachment_store() -> AttachmentStore:
    path = getattr(settings, "LRS_ATTACHMENT_STORE", "lrs.attachment_store.DatabaseAttachmentStore")
    return import_string(path)()


def check_attachment_sizes(parts: Iterable[AttachmentPart]) -> None:
    limit = settings.LRS_MAX_ATTACHMENT_BYTES
    for part in parts:
        if len(part.data) > limit:
            raise XAPIPayloadTooLarge(
                f"attachment {part.sha2} is {len(part.data)} bytes; the limit is {limit}",
                path="attachments",
                rule="attachment-size",
            )
