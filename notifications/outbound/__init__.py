"""Delivery channels beyond the inbox: email, Web Push and a site's own (docs/channels.md)."""
