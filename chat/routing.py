# The chat consumer (/ws/chat/<room>/) is not built yet.
websocket_urlpatterns: list = []
