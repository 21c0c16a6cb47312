"""Names shared by the delivery channels, their settings and their rows."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelName:
    INBOX = "inbox"  # stored and pushed live: always on, not a delivery row
    EMAIL = "email"
    WEBPUSH = "webpush"


class Rule:
    """When a channel fires for a verb or category (DELIVERY_RULES)."""

    FALLBACK = "fallback"  # after FALLBACK_DELAY_SECONDS, if still unread and no socket was open
    IMMEDIATE = "immediate"
    OFF = "off"

    ALL = (FALLBACK, IMMEDIATE, OFF)


# Every notification belongs to a category; this one unless CATEGORIES or the
# send names another.
DEFAULT_CATEGORY = "default"


class Frequency(models.TextChoices):
    """A user's choice per category and channel. Digests are email only."""

    IMMEDIATE = "immediate", _("Immediately")
    HOURLY = "hourly", _("Hourly digest")
    DAILY = "daily", _("Daily digest")
    NEVER = "never", _("Never")


DIGESTS = {Frequency.HOURLY: 3600, Frequency.DAILY: 24 * 3600}

# A delivery's digest when it waited for the recipient's limit (DELIVERY_LIMITS)
# and goes out with the others held with it, as one message.
COALESCED = "coalesced"
DIGEST_CHOICES = [*Frequency.choices, (COALESCED, _("Held by the limit"))]


class State(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")
