"""What a socket's ``sync`` and ``get`` frames answer: the user's
notifications after a cursor, page by page, each with its group."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from notifications import protocol
from notifications.conf import conf
from notifications.realtime.frames import ENVELOPE_BYTES, encoded_size, fitting
from notifications.selectors.groups import groups_of, row_of
from notifications.selectors.notifications import notification_payload, notifications_of, with_related


def notifications_after(*, user: Any, after: int | None, limit: int, max_bytes: int | None = None) -> dict[str, Any]:
    """What a reconnecting client missed: the user's notifications above
    ``after``, in id order, bounded by ``limit`` and, with ``max_bytes``, by
    what one frame may hold (``more``: the client syncs again from the
    highest id it then has). A notification too big for a frame on its own
    is its stub (protocol.fitted).

    Ids are allocated at insert but transactions commit in any order, so an
    id below the client's cursor can become visible after the cursor moved
    past it. ``recent`` therefore lists the ids at or below ``after`` created
    in the last SYNC_OVERLAP_SECONDS; a client that lacks one of them syncs
    again from just below it.
    """
    mine = notifications_of(user=user)
    last_id = mine.aggregate(last_id=Max("id"))["last_id"]
    if after is not None and after > (last_id or 0):
        # Ahead of the user's own newest: the database was restored or reset,
        # or rows were deleted. The client starts over. Compared with the
        # user's own ids, never the table's, which would tell any user how
        # many notifications everyone has.
        return {"notifications": [], "complete": False, "last_id": last_id}
    fresh = mine if after is None else mine.filter(id__gt=after)
    page = list(with_related(fresh.order_by("id"))[: limit + 1])
    complete = len(page) <= limit
    page = page[:limit]
    groups = groups_of([row_of(n) for n in page])
    payloads = [notification_payload(n) for n in page]
    if max_bytes is not None:
        payloads = [protocol.fitted(payload, max_bytes) for payload in payloads]
    items = [{**payload, "group": groups[n.pk]} for n, payload in zip(page, payloads, strict=True)]
    result: dict[str, Any] = {"notifications": items, "complete": complete, "last_id": last_id}
    if after is not None:
        overlap_since: datetime = timezone.now() - timedelta(seconds=conf.sync_overlap_seconds)
        late = mine.filter(id__lte=after, timestamp__gte=overlap_since).order_by("-id")
        result["recent"] = sorted(late.values_list("id", flat=True)[:limit])
    if max_bytes is not None and encoded_size(result) > max_bytes - ENVELOPE_BYTES:
        room = max_bytes - ENVELOPE_BYTES - encoded_size(result.get("recent", []))
        # At least the first item, or a client that follows `more` would ask
        # for the same page again and again.
        result["notifications"] = items[: max(1, fitting(items, room))]
        result["more"] = True
    return result


def notification_item(*, user: Any, notification_id: int) -> dict[str, Any] | None:
    """One of the user's notifications as frames carry it, whole, with its
    ``group``; None if it is not theirs."""
    found = list(with_related(notifications_of(user=user).filter(id=notification_id)))
    if not found:
        return None
    return {**notification_payload(found[0]), "group": groups_of([row_of(found[0])])[found[0].pk]}
