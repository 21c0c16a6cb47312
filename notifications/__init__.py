"""Live notifications for Django: django-notifications' API, pushed over WebSocket."""

__version__ = "0.1.0"
