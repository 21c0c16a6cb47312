"""The tutorial baseline: the Channels tutorial pattern, with every socket in
one channel-layer group and one group_send fanned out by the layer to one
consumer per socket, each calling send_json. Same server (daphne, as shipped)
and same layer settings as the product."""

import os

from django.core.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.tutorial_settings"
django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class TutorialConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add("bench-tutorial", self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard("bench-tutorial", self.channel_name)

    async def bench_message(self, event: dict) -> None:
        await self.send_json(event["frame"])


application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": URLRouter([path("ws/tutorial/", TutorialConsumer.as_asgi())])}
)
