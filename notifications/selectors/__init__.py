"""Every read that serves a page, an endpoint or a socket."""

from notifications.selectors.announcements import (
    announcement_payload,
    announcements_for,
    audience_of,
    audience_spec,
    in_audience,
    unread_announcement_counts,
)
from notifications.selectors.notifications import (
    API_EXCLUDED_FIELDS,
    cached_unread_count,
    notification_list,
    notification_payload,
    notification_payloads,
    notifications_after,
    notifications_of,
    object_url,
    recent_ids,
    unread_count,
    unread_count_cache_key,
    unread_counts,
    unread_of,
    with_related,
)
from notifications.selectors.sockets import badge_count, badge_counts, heartbeat_snapshots, hello_snapshot

__all__ = [
    "API_EXCLUDED_FIELDS",
    "announcement_payload",
    "announcements_for",
    "audience_of",
    "audience_spec",
    "badge_count",
    "badge_counts",
    "cached_unread_count",
    "heartbeat_snapshots",
    "hello_snapshot",
    "in_audience",
    "notification_list",
    "notification_payload",
    "notification_payloads",
    "notifications_after",
    "notifications_of",
    "object_url",
    "recent_ids",
    "unread_announcement_counts",
    "unread_count",
    "unread_count_cache_key",
    "unread_counts",
    "unread_of",
    "with_related",
]
