"""The base class of a delivery channel. Subclass it for a channel of your
own (docs/channels.md has a webhook channel) and name it in
``CHANNEL_CLASSES``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Skip(Exception):
    """Raised by a channel when there is nothing to send and nothing to retry
    (no email address, no push subscription): the delivery is marked skipped."""


@dataclass
class Outgoing:
    """One message for one recipient: a single notification, or several when
    it is a digest (``digest`` is then "hourly" or "daily")."""

    recipient: Any
    category: str
    notifications: list[Any]
    digest: str = ""
    deliveries: list[Any] = field(default_factory=list)

    @property
    def notification(self) -> Any:
        return self.notifications[0]


class Channel:
    """Sends notifications one way. ``send`` sends one message and raises on
    failure (it is then retried with backoff) or raises ``Skip``.
    ``send_many`` sends a batch; override it to share a connection. Both run
    in a worker thread, never on a server's event loop."""

    #: The name it is known by in settings, preferences and rows (set from the registry).
    name: str = ""
    #: Shown on the preferences page.
    label: str = ""
    #: Whether users may choose hourly or daily digests for it.
    supports_digest: bool = False
    #: Whether DELIVERY_LIMITS holds its messages past a recipient's limit and
    #: sends them as one: it must then send an ``Outgoing`` of several
    #: notifications as one message (email and Web Push do).
    coalesces: bool = False

    def send(self, outgoing: Outgoing) -> None:
        raise NotImplementedError

    def send_many(self, batch: list[Outgoing]) -> list[BaseException | None]:
        """One result per message, in order: None when sent, else the error."""
        results: list[BaseException | None] = []
        for outgoing in batch:
            try:
                self.send(outgoing)
            except Exception as exc:
                results.append(exc)
            else:
                results.append(None)
        return results

    def check(self) -> list[str]:
        """What stops this channel from working (for the system checks)."""
        return []
