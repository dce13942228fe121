"""The LRS's tables, gathered here so Django registers them; each lives in its room:
statements and their index rows in :mod:`lrs.statements.models`, credentials in
:mod:`lrs.credentials.models`, documents in :mod:`lrs.documents.models`, canonical activity
definitions in :mod:`lrs.activities.models`, attachment bytes in :mod:`lrs.attachment_store`.
Import a model from its room, not from here."""

from lrs.activities.models import Activity
from lrs.attachment_store import AttachmentContent
from lrs.credentials.models import Credential
from lrs.documents.models import Document
from lrs.statements.models import (
    ErasureMark,
    Statement,
    StatementActivity,
    StatementAgent,
    StatementAttachment,
)

__all__ = [
    "Activity",
    "AttachmentContent",
    "Credential",
    "Document",
    "ErasureMark",
    "Statement",
    "StatementActivity",
    "StatementAgent",
    "StatementAttachment",
]
