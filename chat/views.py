from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat import selectors, services
from chat.conf import conf
from chat.forms import RoomForm


@login_required
@require_http_methods(["GET", "POST"])
def rooms(request: HttpRequest) -> HttpResponse:
    """The room list, and the form that creates a room."""
    form = RoomForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            room = services.room_create(
                name=data["name"],
                slug=data["slug"],
                is_private=data["is_private"],
                created_by=request.user,
                members=data["members"] if data["is_private"] else (),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(room)
    status = 400 if form.errors else 200
    context = {"rooms": selectors.room_list(user=request.user), "form": form}
    return render(request, "chat/rooms.html", context, status=status)


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    """A room's page; 404 for a room that does not exist or is private to others."""
    found = selectors.room_for_user(user=request.user, slug=slug)
    if found is None:
        raise Http404("No such room.")
    context = {"room": found, "max_length": conf.max_message_length}
    return render(request, "chat/room.html", context)
