from django.db import models

from notifications.base.models import AbstractNotification


class Note(AbstractNotification):
    icon = models.CharField(max_length=50, blank=True)

    class Meta(AbstractNotification.Meta):
        abstract = False
        indexes = [
            *AbstractNotification.Meta.indexes,
            models.Index(fields=["recipient", "id"], name="notes_recipient_id_idx"),
        ]
