from lending.models import Item, Loan
from notifications.signals import notify


def loan_request(*, item: Item, borrower) -> Loan:
    """Ask to borrow an item: its owner is notified, with the loan's id in data."""
    loan = Loan.objects.create(item=item, borrower=borrower)
    notify.send(borrower, recipient=item.owner, verb="asked to borrow", target=item, loan=loan.pk)
    return loan


def team_notice(*, sender, team, text: str) -> None:
    """A note to every member of a team (an auth group)."""
    notify.send(sender, recipient=team, verb="wrote to the team", description=text)
