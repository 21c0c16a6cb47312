"""Reads for the delivery channels: preferences and who had a socket open."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from notifications.outbound import registry
from notifications.outbound.constants import Frequency
from notifications.outbound.models import ChannelPreference, SocketPresence


def frequencies_of(*, keys: Iterable[tuple[int, str, str]]) -> dict[tuple[int, str, str], str]:
    """The chosen frequency of each (user id, category, channel); a key
    without a row is left out (immediate)."""
    keys = set(keys)
    if not keys:
        return {}
    rows = ChannelPreference.objects.filter(
        user_id__in={k[0] for k in keys},
        category__in={k[1] for k in keys},
        channel__in={k[2] for k in keys},
    ).values_list("user_id", "category", "channel", "frequency")
    return {(u, cat, ch): f for u, cat, ch, f in rows if (u, cat, ch) in keys}


def preferences_of(*, user_id: int) -> dict[str, Any]:
    """The preferences page and its JSON: every category with the user's
    frequency on every enabled channel. Channels other than email offer
    on (immediate) or off (never)."""
    channels = [registry.get_channel(name) for name in registry.configured_channels()]
    stored = {(row.category, row.channel): row.frequency for row in ChannelPreference.objects.filter(user_id=user_id)}
    return {
        "channels": [{"name": c.name, "label": str(c.label), "choices": frequency_choices(c.name)} for c in channels],
        "categories": [
            {
                "name": category,
                "label": registry.category_label(category),
                "frequencies": {c.name: stored.get((category, c.name), Frequency.IMMEDIATE) for c in channels},
            }
            for category in registry.known_categories()
        ],
    }


def frequency_choices(channel: str) -> list[str]:
    if registry.get_channel(channel).supports_digest:
        return list(Frequency.values)
    return [Frequency.IMMEDIATE, Frequency.NEVER]


def users_last_seen(*, user_ids: Iterable[int]) -> dict[int, datetime]:
    """When a server process last recorded a socket of each of these users
    (user id -> time); users never recorded are absent."""
    user_ids = set(user_ids)
    if not user_ids:
        return {}
    return dict(SocketPresence.objects.filter(user_id__in=user_ids).values_list("user_id", "seen_at"))
