"""A limit on what a site's users can trigger, for the site's own views: a
user who assigns 300 tasks in seven seconds notifies someone 300 times.

    from notifications.ratelimit import allow

    if not allow(f"tasks:{request.user.pk}", count=30, seconds=60):
        return HttpResponse("Too many tasks; wait a minute.", status=429)

A fixed window counted in Django's cache: across server processes with a
shared cache (Redis, Memcached, the database), per process with the default
local-memory one. Redis and Memcached count atomically; the database cache's
``incr`` is a read then a write, so concurrent requests may undercount.
DELIVERY_LIMITS bounds what reaches a recipient by email and Web Push
whatever the site limits; this stops the cause.
"""

from __future__ import annotations

import time

from django.core.cache import cache


def allow(key: str, *, count: int, seconds: int) -> bool:
    """Whether one more event of ``key`` fits ``count`` per ``seconds``; it
    is counted either way."""
    if count < 1 or seconds < 1:
        raise ValueError("count and seconds must be positive.")
    window = int(time.time() // seconds)
    slot = f"notifications.ratelimit:{key}:{window}"
    if cache.add(slot, 1, timeout=seconds + 1):
        return True
    try:
        return cache.incr(slot) <= count
    except ValueError:  # expired between add and incr
        cache.add(slot, 1, timeout=seconds + 1)
        return True
