"""Settings for the tutorial baseline: the demo's, without this project's
apps, so daphne runs as shipped. (The notifications and chat apps adjust
daphne when they load: notifications/realtime/daphne_compat.py.)"""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("notifications", "chat")]
