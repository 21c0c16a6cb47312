"""Pages and endpoints of the delivery channels: preferences (page and
JSON), one-click unsubscribe, and Web Push (service worker, subscriptions).
They parse input and call services; the notifications URLconf routes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from notifications.conf import conf
from notifications.outbound import registry, services
from notifications.outbound.constants import Frequency
from notifications.outbound.models import PushSubscription
from notifications.outbound.push_endpoints import RefusedEndpoint, check_endpoint
from notifications.outbound.selectors import preferences_of
from notifications.outbound.unsubscribe import BadToken, read_token

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "notifications" / "service-worker.js"


def _apply(user: Any, choices: dict[str, str]) -> list[str]:
    """Store each "<category>:<channel>" -> frequency; the errors, if any."""
    errors = []
    for key, frequency in choices.items():
        category, _, channel = key.partition(":")
        try:
            services.preference_set(user=user, category=category, channel=channel, frequency=frequency)
        except ValueError as exc:
            errors.append(str(exc))
    return errors


@never_cache
@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Per category and channel: immediately, a digest (email), or never."""
    errors: list[str] = []
    if request.method == "POST":
        choices = {k: v for k, v in request.POST.items() if ":" in k}
        errors = _apply(request.user, choices)
        if not errors:
            return redirect(f"{request.path}?saved=1")
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    current = preferences_of(user_id=request.user.pk)
    labels = dict(Frequency.choices)
    rows = [
        {
            "label": category["label"],
            "cells": [
                {
                    "name": f"{category['name']}:{channel['name']}",
                    "channel": channel["label"],
                    "value": category["frequencies"][channel["name"]],
                    "choices": [(choice, labels[choice]) for choice in channel["choices"]],
                }
                for channel in current["channels"]
            ],
        }
        for category in current["categories"]
    ]
    context = {
        "channels": current["channels"],
        "rows": rows,
        "errors": errors,
        "saved": request.GET.get("saved") == "1",
    }
    return render(request, "notifications/preferences.html", context, status=400 if errors else 200)


@never_cache
def preferences_json(request: HttpRequest) -> JsonResponse:
    """GET: the user's preferences. POST a JSON object {"<category>:<channel>":
    frequency, ...} (with the CSRF header) to change some."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Log in to see your preferences."}, status=401)
    if request.method == "POST":
        try:
            choices = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "The body must be a JSON object."}, status=400)
        if not isinstance(choices, dict) or not all(isinstance(v, str) for v in choices.values()):
            return JsonResponse({"error": 'Send {"<category>:<channel>": "<frequency>", ...}.'}, status=400)
        errors = _apply(request.user, choices)
        if errors:
            return JsonResponse({"error": " ".join(errors)}, status=400)
    elif request.method != "GET":
        return JsonResponse({"error": "Use GET or POST."}, status=405)
    return JsonResponse(preferences_of(user_id=request.user.pk))


@csrf_exempt  # RFC 8058: mail clients POST without a session; the signed token is the credential.
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirm page. POST (one click, from the mail client or the
    page): turn that category's email off."""
    try:
        target = read_token(token)
        user = get_user_model()._default_manager.get(pk=target.user_id)
    except (BadToken, get_user_model().DoesNotExist) as exc:
        message = str(exc) if isinstance(exc, BadToken) else "This unsubscribe link is not valid."
        return render(request, "notifications/unsubscribe_invalid.html", {"message": message}, status=400)
    context = {"category": registry.category_label(target.category), "channel": target.channel, "done": False}
    if request.method == "POST":
        try:
            services.preference_set(
                user=user, category=target.category, channel=target.channel, frequency=Frequency.NEVER
            )
        except ValueError as exc:
            return render(request, "notifications/unsubscribe_invalid.html", {"message": str(exc)}, status=400)
        context["done"] = True
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return render(request, "notifications/unsubscribe.html", context)


def service_worker(request: HttpRequest) -> HttpResponse:
    """The Web Push service worker, served from /notifications/ so that its
    scope covers the notifications pages."""
    response = HttpResponse(SERVICE_WORKER.read_text(), content_type="text/javascript")
    response["Cache-Control"] = "no-cache"
    return response


@never_cache
def push_subscription(request: HttpRequest) -> JsonResponse:
    """GET: the VAPID public key. POST a PushSubscription's JSON to save it,
    DELETE it (the same JSON, or {"endpoint": ...}) to drop it."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Log in to subscribe."}, status=401)
    if request.method == "GET":
        return JsonResponse({"public_key": conf.webpush.get("VAPID_PUBLIC_KEY", "")})
    try:
        body = json.loads(request.body or b"{}")
        endpoint = body["endpoint"]
        if not isinstance(endpoint, str) or len(endpoint) > PushSubscription._meta.get_field("endpoint").max_length:
            raise ValueError("endpoint")
        if request.method == "DELETE":
            services.push_subscription_delete(endpoint=endpoint, user=request.user)
            return JsonResponse({"subscribed": False})
        if request.method != "POST":
            return JsonResponse({"error": "Use GET, POST or DELETE."}, status=405)
        check_endpoint(endpoint)
        keys = body["keys"]
        p256dh, auth = keys["p256dh"], keys["auth"]
        for name, value in (("p256dh", p256dh), ("auth", auth)):
            if (
                not isinstance(value, str)
                or not value
                or len(value) > PushSubscription._meta.get_field(name).max_length
            ):
                raise ValueError(name)
        services.push_subscription_save(user=request.user, endpoint=endpoint, p256dh=p256dh, auth=auth)
    except RefusedEndpoint as exc:
        return JsonResponse({"error": f"Not a push service's endpoint: {exc}."}, status=400)
    except services.SubscriptionTaken:
        return JsonResponse({"error": "This endpoint belongs to another subscription."}, status=409)
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"error": 'Send a PushSubscription: {"endpoint": "https://...", "keys": {...}}.'}, status=400
        )
    return JsonResponse({"subscribed": True}, status=201)
