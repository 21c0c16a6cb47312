from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from lending.models import Item


@login_required
def inbox(request):
    """The site's own inbox: unread notifications, with each loan's id read from data."""
    unread = request.user.notifications.unread()
    rows = [(n, (n.data or {}).get("loan")) for n in unread]
    loans = unread.filter(data__contains='"loan"').count()
    return render(request, "lending/inbox.html", {"rows": rows, "loan_requests": loans})


def item(request, pk):
    return render(request, "lending/item.html", {"item": get_object_or_404(Item, pk=pk)})
