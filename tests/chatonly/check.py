"""Run as a script by tests/unit/test_chat_without_notifications.py."""

import asyncio
import sys

import django

django.setup()

from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from chat import routing, services  # noqa: E402

assert not apps.is_installed("notifications")
call_command("migrate", verbosity=0)
User = get_user_model()
alice = User.objects.create_user("alice", password="pw")
bob = User.objects.create_user("bob", password="pw")
room = services.room_create(name="General", slug="general", created_by=alice)
message, created = services.message_post(room=room, author=alice, body="hi @bob", client_id="1")
assert created

client = Client()
client.force_login(bob)
assert client.get("/chat/").status_code == 200
page = client.get("/chat/general/")
assert page.status_code == 200 and b'data-socket="/ws/chat/general/"' in page.content


async def chat() -> None:
    socket = WebsocketCommunicator(URLRouter(routing.websocket_urlpatterns), "/ws/chat/general/")
    socket.scope["user"] = bob
    assert (await socket.connect())[0]
    history = await socket.receive_json_from()
    assert [m["body"] for m in history["messages"]] == ["hi @bob"], history
    await socket.receive_json_from()  # presence
    await socket.send_json_to({"type": "message", "body": "hello @alice", "client_id": "2"})
    while (frame := await socket.receive_json_from())["type"] != "message":
        pass
    assert frame["message"]["body"] == "hello @alice"
    await socket.disconnect()
    from notifications.realtime.hub import close_hub

    await close_hub()


asyncio.run(chat())
print("chat works without notifications")
sys.exit(0)
