"""The demo's ASGI application plus an echo route, /ws/echo/, for the
Autobahn conformance fuzzer (tests/system/conformance/test_autobahn.py). It runs
on the same daphne set-up and the same daphne_compat parts as the demo;
the echo route has no origin check or login, because the fuzzer sends
neither."""

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import path

from project.asgi import application as product


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


echo = URLRouter([path("ws/echo/", Echo.as_asgi())])


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] == "/ws/echo/":
        return await echo(scope, receive, send)
    return await product(scope, receive, send)


__all__ = ["application"]
