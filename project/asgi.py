"""The demo's ASGI application: notifications.asgi builds it (HTTP to Django,
static files under DEBUG, WebSockets to both apps behind the session auth and
the origin check), with every daphne_compat part on (docs/daphne.md) and
long-lived objects frozen out of the garbage collector's walk
(docs/deployment.md)."""

import os

from notifications.asgi import get_asgi_application
from notifications.realtime import daphne_compat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
daphne_compat.enable("all")
application = get_asgi_application(freeze_gc=True)
