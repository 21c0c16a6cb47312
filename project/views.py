from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from notifications.ratelimit import allow
from project import services
from project.forms import TaskForm
from project.models import Task

# What one user may assign in a minute.
TASKS_PER_MINUTE = 30


@login_required
def home(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Each task notifies its assignee: a burst of them is refused before
        # it becomes a burst of notifications.
        if not allow(f"tasks:{request.user.pk}", count=TASKS_PER_MINUTE, seconds=60):
            messages.error(request, "You assigned too many tasks in the last minute; try again in a moment.")
            return render(request, "project/home.html", {"form": form, "tasks": _tasks(request)}, status=429)
        task = services.task_create(
            created_by=request.user, assignee=form.cleaned_data["assignee"], title=form.cleaned_data["title"]
        )
        messages.success(request, f"Assigned “{task.title}” to {task.assignee}.")
        return redirect("home")
    return render(request, "project/home.html", {"form": form, "tasks": _tasks(request)})


def _tasks(request: HttpRequest) -> list[Task]:
    return list(
        Task.objects.filter(Q(assignee=request.user) | Q(created_by=request.user)).select_related(
            "assignee", "created_by"
        )[:50]
    )


@require_POST
@login_required
def complete(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        services.task_complete(user=request.user, task_id=task_id)
    except services.TaskNotFound:
        raise Http404("No such task.") from None
    return redirect("home")


@login_required
def compat(request: HttpRequest) -> HttpResponse:
    """django-notifications' widgets on a page, for people switching over."""
    refresh_period = request.GET.get("refresh_period", "15")
    ws_url = request.GET.get("ws_url", "/ws/notifications/")
    if not refresh_period.isdigit() or not ws_url.startswith("/"):
        raise Http404("Bad parameters.")
    return render(request, "project/compat.html", {"refresh_period": refresh_period, "ws_url": ws_url})
