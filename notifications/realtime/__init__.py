"""Real-time machinery shared by the notifications and chat apps.

Layers (docs/architecture.md): the wire (``wire``, ``frames``) at the
bottom, then this package's hub, consumer base, limits and publishing, then
the apps; a module imports only the layers below it.

Importing this package pulls in no models, so a site can use ``chat``
without ``notifications`` in INSTALLED_APPS, and settings modules can import
``redis_channel_layer`` before apps are loaded.
"""

from .config import redis_channel_layer, sentinel_hosts

__all__ = ["redis_channel_layer", "sentinel_hosts"]
