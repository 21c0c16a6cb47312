"""Real-time machinery shared by the notifications and chat apps.

Importing this package pulls in no models, so a site can use ``chat``
without ``notifications`` in INSTALLED_APPS, and settings modules can import
``redis_channel_layer`` before apps are loaded.
"""

from .config import redis_channel_layer, sentinel_hosts

__all__ = ["redis_channel_layer", "sentinel_hosts"]
