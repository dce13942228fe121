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
from django.db import connection, models
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
        """Keep these parts' bytes (a hash already kept is not written again) and, inside the
        caller's transaction on PostgreSQL, hold their rows until it commits.

        The hold (``FOR KEY SHARE``) is what keeps an erasure from deleting bytes a statement is
        being stored with: the erasure locks the rows ``FOR UPDATE`` before it reads whether any
        statement names them (``lrs.statements.erasure._delete_unreferenced_attachments``), so it
        either waits for this transaction and then reads its statements' references, or deleted
        first, and the bytes are written again here. Share locks do not block each other: batches
        sending the same file do not wait on one another. Rows in hash order, as the erasure
        locks them: two transactions never hold two hashes the other waits for.
        https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS"""
        by_hash = {part.sha2: part for part in parts}
        wanted = sorted(by_hash)
        for _attempt in range(5):  # a row deleted between the insert and the lock: written again
            if not wanted:
                return
            AttachmentContent.objects.bulk_create(
                [
                    AttachmentContent(
                        sha2=sha2, content_type=part.content_type, length=len(part.data), data=part.data
                    )
                    for sha2 in wanted
                    for part in (by_hash[sha2],)
                ],
                ignore_conflicts=True,
            )
            if connection.vendor != "postgresql":
                return
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(AttachmentContent._meta.db_table)
                cursor.execute(
                    f"SELECT sha2 FROM {table} WHERE sha2 = ANY(%s) ORDER BY sha2 FOR KEY SHARE",  # noqa: S608
                    [wanted],
                )
                held = {row[0] for row in cursor.fetchall()}
            wanted = [sha2 for sha2 in wanted if sha2 not in held]
        raise RuntimeError(f"attachment rows kept vanishing while being stored: {wanted}")

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
