"""The demo's ASGI application (project/asgi.py) with the daphne_compat parts
that BENCH_DAPHNE_COMPAT names: "none", a group ("fixes", "speedups", "all"),
part names separated by commas, or "all-<part>" for every part but one
(bench/compat.py)."""

import os

from notifications.asgi import get_asgi_application
from notifications.realtime import daphne_compat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
wanted = os.environ.get("BENCH_DAPHNE_COMPAT", "all")
if wanted.startswith("all-"):
    daphne_compat.enable(*(name for name in daphne_compat.PARTS if name != wanted[len("all-") :]))
elif wanted != "none":
    daphne_compat.enable(*wanted.split(","))
application = get_asgi_application(freeze_gc=True)
