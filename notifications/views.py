"""django-notifications' views and URLs, with the same names and JSON shapes.

State-changing views are POST-only with CSRF (GET gets 405), as in
django-notifications-community. Every write goes through the services, so
the change is pushed to the user's other tabs.
"""

from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.encoding import iri_to_uri
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import ListView, TemplateView

from notifications import protocol, selectors, services
from notifications.conf import conf
from notifications.consumers import NotificationConsumer
from notifications.helpers import get_notification_list, get_num_to_fetch, invalidate_unread_count_cache
from notifications.realtime import http as realtime_http
from notifications.realtime.frames import MAX_ID
from notifications.realtime.hub import get_hub
from notifications.realtime.origin import cross_site
from notifications.realtime.wire import ErrorCode
from notifications.utils import SLUG_OFFSET, slug2id


class NotificationViewList(LoginRequiredMixin, ListView):
    template_name = "notifications/list.html"
    context_object_name = "notifications"
    unread_only = False

    def get_paginate_by(self, queryset: Any) -> int:
        return conf.paginate_by

    def get_queryset(self) -> Any:
        if self.unread_only:
            queryset = selectors.unread_of(user=self.request.user, request=self.request)
        else:
            queryset = selectors.notifications_of(user=self.request.user, request=self.request)
        return selectors.with_related(queryset)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["unread_only"] = self.unread_only
        context["slug_offset"] = SLUG_OFFSET  # inbox.js builds the forms' URLs with it
        context["announcements"] = selectors.announcements_for(
            user=self.request.user, unread_only=self.unread_only, with_read_state=True
        )
        return context


class GroupedNotificationsList(LoginRequiredMixin, TemplateView):
    """The inbox with groups: "bob and 3 others commented on Design doc" is
    one entry (selectors.group_entries). ``?page=`` pages through entries;
    there is no page count, since counting entries means grouping all rows."""

    template_name = "notifications/groups.html"
    unread_only = False

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        try:
            page = max(1, int(self.request.GET.get("page", 1)))
        except ValueError:
            page = 1
        per_page = conf.paginate_by
        if (page - 1) * per_page > MAX_ID:
            # Beyond any database's row range: there is no such page.
            raise Http404("No such page.")
        entries = selectors.group_entries(
            user=self.request.user,
            unread_only=self.unread_only,
            offset=(page - 1) * per_page,
            limit=per_page + 1,
            request=self.request,
        )
        context.update(
            entries=entries[:per_page],
            page=page,
            has_next=len(entries) > per_page,
            unread_only=self.unread_only,
            slug_offset=SLUG_OFFSET,  # inbox.js builds the forms' URLs with it
        )
        return context


class UnreadGroupedNotificationsList(GroupedNotificationsList):
    unread_only = True


class GroupRowsList(LoginRequiredMixin, TemplateView):
    """One entry of the grouped inbox opened: the rows "bob and 3 others
    commented on Design doc" stands for, newest first, each with its own
    actions."""

    template_name = "notifications/group_rows.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        slug = kwargs["slug"]
        rows = selectors.group_rows(user=self.request.user, notification_id=slug2id(slug)) if slug <= MAX_ID else None
        notifications = list(selectors.with_related(rows.order_by("-timestamp", "-id"))) if rows is not None else []
        if not notifications:
            raise Http404("No such notification.")
        context.update(notifications=notifications, slug_offset=SLUG_OFFSET)
        return context


class AllNotificationsList(NotificationViewList):
    pass


class UnreadNotificationsList(NotificationViewList):
    unread_only = True


def _redirect_next(request: HttpRequest, default: str) -> HttpResponse:
    """Follow ``next`` only when it stays on this site."""
    target = request.POST.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(iri_to_uri(target))
    return redirect(default)


def _own_action(service: Any, default: str) -> Any:
    @require_POST
    @login_required
    def view(request: HttpRequest, slug: int) -> HttpResponse:
        try:
            service(user=request.user, notification_id=slug2id(slug))
        except services.NotificationNotFound:
            raise Http404("No such notification.") from None
        invalidate_unread_count_cache(request.user, request)
        return _redirect_next(request, default)

    return view


mark_as_read = _own_action(services.notification_mark_read, "notifications:unread")
mark_group_as_read = _own_action(services.notification_group_mark_read, "notifications:unread_groups")
mark_as_unread = _own_action(services.notification_mark_unread, "notifications:unread")
delete = _own_action(services.notification_delete, "notifications:all")


@require_POST
@login_required
def mark_all_as_read(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_all_read(user=request.user)
    invalidate_unread_count_cache(request.user, request)
    return _redirect_next(request, "notifications:unread")


@never_cache
def live_unread_notification_count(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"unread_count": 0})
    return JsonResponse({"unread_count": selectors.unread_count(user=request.user, request=request)})


@never_cache
def live_unread_notification_list(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"unread_count": 0, "unread_list": []})
    unread_list = get_notification_list(request, "unread")
    return JsonResponse(
        {
            "unread_count": selectors.unread_count(user=request.user, request=request),
            "unread_list": unread_list,
        }
    )


@never_cache
def live_unseen_notification_count(request: HttpRequest) -> JsonResponse:
    """The unseen count, beside django-notifications' unread count."""
    if not request.user.is_authenticated:
        return JsonResponse({"unseen_count": 0})
    return JsonResponse({"unseen_count": selectors.unseen_count(user=request.user, request=request)})


@never_cache
def live_notification_groups(request: HttpRequest) -> JsonResponse:
    """The newest ``?max=`` entries of the grouped inbox (``?unread=1``: of
    the unread ones): each a notification item, the newest of its group,
    with a ``group`` object, as ``sync`` items carry."""
    if not request.user.is_authenticated:
        return JsonResponse({"groups": []})
    entries = selectors.group_entries(
        user=request.user,
        unread_only=request.GET.get("unread") in {"1", "true"},
        offset=0,
        limit=get_num_to_fetch(request),
        request=request,
    )
    items = selectors.notification_payloads([entry.notification for entry in entries], request)
    return JsonResponse(
        {"groups": [{**item, "group": entry.as_group()} for entry, item in zip(entries, items, strict=True)]}
    )


@never_cache
def live_all_notification_count(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"all_count": 0})
    return JsonResponse({"all_count": selectors.notifications_of(user=request.user, request=request).count()})


@never_cache
def live_all_notification_list(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"all_count": 0, "all_list": []})
    all_list = get_notification_list(request)
    return JsonResponse(
        {
            "all_count": selectors.notifications_of(user=request.user, request=request).count(),
            "all_list": all_list,
        }
    )


@require_POST
@login_required
def announcement_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.announcement_dismiss(user=request.user, announcement_id=pk)
    except services.AnnouncementNotFound:
        raise Http404("No such announcement.") from None
    return _redirect_next(request, "notifications:all")


# When the WebSocket cannot open -------------------------------------------------------


@never_cache
async def events(request: HttpRequest) -> HttpResponse:
    """The socket's frames as Server-Sent Events: what the bell listens to
    when its WebSocket cannot open (docs/protocol.md, "Without a WebSocket"),
    on a site whose ASGI application is Django's own (the package's serves
    the stream beside Django). 503 without a channel layer or under WSGI:
    the client then polls ``frames``. 403 from another site's page."""
    if not isinstance(request, ASGIRequest):
        # Under WSGI Django would read the whole endless stream before
        # sending a byte, holding a worker for good: the client polls instead.
        return JsonResponse({"type": "error", "code": "unavailable", "message": "Served under WSGI."}, status=503)
    if cross_site(request):
        return JsonResponse({"type": "error", "code": "forbidden"}, status=403)
    user = await realtime_http.request_user(request)
    if not user.is_authenticated:
        return JsonResponse({"type": "error", "code": "not_logged_in"}, status=401)
    try:
        await get_hub()
    except RuntimeError as exc:  # no CHANNEL_LAYERS
        return JsonResponse({"type": "error", "code": "unavailable", "message": str(exc)}, status=503)
    response = StreamingHttpResponse(realtime_http.event_stream(NotificationConsumer, request, user))
    response["Content-Type"] = "text/event-stream"
    # nginx would hold the stream in its buffer.
    response["X-Accel-Buffering"] = "no"
    return response


@never_cache
@require_POST
async def frames(request: HttpRequest) -> JsonResponse:
    """One client frame, as the socket takes it (and ``get``, the whole of a
    stubbed notification), answered with the frames the socket would send
    back and the user's current ``heartbeat``: writes, syncs, and polling
    when there is no event stream."""
    user = await request.auser()
    if not user.is_authenticated:
        return JsonResponse([{"type": "error", "code": "not_logged_in"}], status=401, safe=False)
    if len(request.body) > conf.max_frame_bytes:
        return JsonResponse([{"type": "error", "code": "too_large"}], status=413, safe=False)
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        return JsonResponse([{"type": "error", "code": ErrorCode.BAD_JSON}], status=400, safe=False)
    answered = await realtime_http.answer(NotificationConsumer, request, user, text)
    snapshots = await database_sync_to_async(selectors.heartbeat_snapshots)(user_ids=[user.pk])
    answered.append(protocol.heartbeat(**snapshots[user.pk]))
    limited = any(f.get("type") == "error" and f.get("code") == ErrorCode.RATE_LIMITED for f in answered)
    return JsonResponse(answered, status=429 if limited else 200, safe=False)
