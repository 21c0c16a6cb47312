"""The quickstart's asgi.py as a site pastes it: the package's application
on stock daphne, with no daphne_compat part on (the demo's turns them on)."""

import os

from notifications.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
application = get_asgi_application()
