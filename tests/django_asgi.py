"""What `django-admin startproject` writes in asgi.py: Django alone, no
Channels routing (the bell then falls back to the event stream's view)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
application = get_asgi_application()
