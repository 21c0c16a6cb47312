"""Which channels exist, which categories, and when each channel fires.

Built-in channels are ``email`` and ``webpush``; ``CHANNEL_CLASSES`` adds a
site's own or replaces one. ``CHANNELS`` lists those that fire by default.
``VERB_RULES`` maps a verb, and ``DELIVERY_RULES`` a category (or ``"*"``
for all), to ``{channel: rule}``; the verb's rule wins.
"""

from __future__ import annotations

import functools
from typing import Any

from django.utils.module_loading import import_string

from notifications.conf import conf
from notifications.outbound.base import Channel
from notifications.outbound.constants import DEFAULT_CATEGORY, ChannelName, Rule

BUILT_IN = {
    ChannelName.EMAIL: "notifications.outbound.email.EmailChannel",
    ChannelName.WEBPUSH: "notifications.outbound.webpush.WebPushChannel",
}


def channel_paths() -> dict[str, str]:
    return {**BUILT_IN, **conf.channel_classes}


def known_channels() -> list[str]:
    return list(channel_paths())


@functools.cache
def _load(path: str, name: str) -> Channel:
    instance = import_string(path)()
    if not isinstance(instance, Channel):
        raise TypeError(f"{path} is not a notifications.outbound.base.Channel.")
    instance.name = name
    instance.label = instance.label or name
    return instance


def get_channel(name: str) -> Channel:
    paths = channel_paths()
    if name not in paths:
        raise ValueError(f"Unknown delivery channel {name!r}; known: {', '.join(paths)}.")
    return _load(paths[name], name)


def configured_channels() -> list[str]:
    """The channels a user can set preferences for: CHANNELS, else all known."""
    return conf.channels or known_channels()


def known_categories() -> list[str]:
    return [DEFAULT_CATEGORY, *(c for c in conf.categories if c != DEFAULT_CATEGORY)]


def category_label(category: str) -> str:
    spec = conf.categories.get(category)
    if isinstance(spec, dict) and spec.get("label"):
        return str(spec["label"])
    return category.replace("_", " ").capitalize()


def category_of(verb: str, category: str | None = None) -> str:
    """The category named by the send, else the one whose ``verbs`` lists
    this verb, else the default one."""
    if category is not None:
        if category not in known_categories():
            raise ValueError(
                f"Unknown notification category {category!r}; add it to "
                f"DJANGO_NOTIFICATIONS_CONFIG['CATEGORIES'] (known: {', '.join(known_categories())})."
            )
        return category
    for name, spec in conf.categories.items():
        if isinstance(spec, dict) and verb in spec.get("verbs", ()):
            return name
    return DEFAULT_CATEGORY


def rules_for(*, verb: str, category: str, channels: Any = None) -> dict[str, str]:
    """{channel: rule} for one send, with the "off" ones left out.

    ``channels`` is the send's own choice: a list of channel names (each at
    its rule in settings, or the fallback rule when settings turn it off) or
    a dict {channel: rule}. Without it, the CHANNELS setting at the rules of
    VERB_RULES and DELIVERY_RULES (verb, then category, then "*"), fallback
    by default.
    """
    by_verb, by_category = conf.verb_rules, conf.delivery_rules

    def setting_rule(channel: str) -> str | None:
        for rules in (by_verb.get(verb), by_category.get(category), by_category.get("*")):
            if isinstance(rules, dict) and channel in rules:
                return str(rules[channel])
        return None

    if channels is None:
        chosen = {name: setting_rule(name) or Rule.FALLBACK for name in conf.channels}
    elif isinstance(channels, dict):
        chosen = {str(name): str(rule) for name, rule in channels.items()}
    elif isinstance(channels, list | tuple | set | frozenset):
        chosen = {}
        for name in channels:
            rule = setting_rule(name) if isinstance(name, str) else None
            chosen[name] = Rule.FALLBACK if rule in (None, Rule.OFF) else rule
    else:
        raise ValueError(f"notify.send() channels must be a list of channel names or a dict; got {channels!r}.")
    known = known_channels()
    for name, rule in chosen.items():
        if name == ChannelName.INBOX:
            continue
        if name not in known:
            raise ValueError(f"notify.send() got an unknown channel {name!r}; known: {', '.join(known)}.")
        if rule not in Rule.ALL:
            raise ValueError(f"Unknown delivery rule {rule!r} for channel {name!r}; use one of {', '.join(Rule.ALL)}.")
    return {name: rule for name, rule in chosen.items() if rule != Rule.OFF and name != ChannelName.INBOX}
