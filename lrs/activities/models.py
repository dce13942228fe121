"""The canonical Activity definitions (the Activities resource, Communication 2.5).

``Activity`` is the LRS's canonical definition of each Activity it has seen in a
statement, maintained by ``lrs.activities.definitions.activity_definitions_update``.
"""

from __future__ import annotations

from django.db import models


class Activity(models.Model):
    id = models.BigAutoField(primary_key=True)
    activity_id = models.TextField(unique=True)
    definition = models.JSONField(default=dict, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.activity_id
