"""django-notifications' views and URLs, with the same names and JSON shapes.

State-changing views are POST-only with CSRF (GET gets 405), as in
django-notifications-community. Every write goes through the services, so
the change is pushed to the user's other tabs.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.encoding import iri_to_uri
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import ListView, TemplateView

from notifications import selectors, services
from notifications.conf import conf
from notifications.helpers import get_notification_list, get_num_to_fetch, invalidate_unread_count_cache
from notifications.realtime.frames import MAX_ID
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
