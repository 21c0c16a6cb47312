from django.urls import path

from lending import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("items/<int:pk>/", views.item, name="item"),
]
