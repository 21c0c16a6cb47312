"""Site shapes the suite runs on besides the demo's: a user model under
another name, one without ``PermissionsMixin`` (email login, UUID keys), and a
swapped-in notification model. ``SITE_SHAPE`` (tests/settings.py) picks one.
"""
