"""django-notifications' settings module, kept for code that imports it."""

from typing import Any

from .conf import DEFAULTS as CONFIG_DEFAULTS
from .conf import conf

__all__ = ["CONFIG_DEFAULTS", "get_config"]


def get_config() -> dict[str, Any]:
    return conf.as_dict()
