"""django-notifications' slug helpers. The offset keeps existing URLs valid."""

SLUG_OFFSET = 110909


def slug2id(slug: int | str) -> int:
    return int(slug) - SLUG_OFFSET


def id2slug(notification_id: int) -> int:
    return notification_id + SLUG_OFFSET
