"""Public signals.

``notify``: django-notifications' signal. ``notify.send(actor, recipient=...,
verb=..., action_object=None, target=None, level="info", description=None,
public=True, timestamp=None, **extra)``. ``recipient`` is a user, a Group, a
QuerySet or a list of users; extra keyword arguments are stored in ``data``.
It returns ``[(notify_handler, [Notification, ...])]``.
"""

from django.dispatch import Signal

notify = Signal()
