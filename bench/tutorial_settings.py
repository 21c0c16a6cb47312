"""Settings for the tutorial baseline: the demo's, without this project's
apps. Its ASGI module (tutorial_asgi.py) turns on no daphne_compat part, so
daphne runs as shipped."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("notifications", "chat")]
