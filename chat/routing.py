from django.urls import path

from chat import consumers

websocket_urlpatterns = [
    path("ws/chat/", consumers.RoomListConsumer.as_asgi()),
    path("ws/chat/<str:slug>/", consumers.RoomConsumer.as_asgi()),
]
