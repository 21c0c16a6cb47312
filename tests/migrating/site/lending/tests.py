"""The library's own tests of what it built on django-notifications."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from lending.models import Item
from lending.services import loan_request, team_notice
from notifications.models import Notification


class LendingNotificationsTest(TestCase):
    def setUp(self):
        Member = get_user_model()
        self.owner = Member.objects.create_user("olga", "olga@example.com", "pw")
        self.borrower = Member.objects.create_user("bert", "bert@example.com", "pw")
        self.item = Item.objects.create(title="Ladder", owner=self.owner)

    def test_a_loan_request_notifies_and_emails_the_owner(self):
        loan = loan_request(item=self.item, borrower=self.borrower)
        [notification] = self.owner.notifications.unread()
        self.assertEqual((notification.verb, notification.target), ("asked to borrow", self.item))
        self.assertEqual(notification.data, {"loan": loan.pk})
        self.assertEqual([m.subject for m in mail.outbox], ["bert asked to borrow"])
        self.assertEqual(mail.outbox[0].to, ["olga@example.com"])

    def test_a_team_notice_emails_every_member_once(self):
        team = Group.objects.create(name="volunteers")
        members = [get_user_model().objects.create_user(f"v{i}", f"v{i}@example.com", "pw") for i in range(3)]
        team.user_set.add(*members)
        team_notice(sender=self.owner, team=team, text="Shelves on Saturday")
        self.assertEqual(Notification.objects.filter(verb="wrote to the team").count(), 3)
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), ["v0@example.com", "v1@example.com", "v2@example.com"])

    def test_the_inbox_lists_unread_requests_with_their_loan(self):
        loan = loan_request(item=self.item, borrower=self.borrower)
        self.client.force_login(self.owner)
        page = self.client.get(reverse("inbox")).content.decode()
        self.assertIn(f"bert asked to borrow Ladder (loan {loan.pk})", page)
        self.assertIn("1 loan request(s)", page)

    def test_the_badge_endpoint_and_mark_all_read(self):
        loan_request(item=self.item, borrower=self.borrower)
        self.client.force_login(self.owner)
        count = reverse("notifications:live_unread_notification_count")
        self.assertEqual(self.client.get(count).json(), {"unread_count": 1})
        [item] = self.client.get(reverse("notifications:live_unread_notification_list")).json()["unread_list"]
        self.assertEqual((item["verb"], item["actor"], item["target"]), ("asked to borrow", "bert", "Ladder"))
        self.client.post(reverse("notifications:mark_all_as_read"))
        self.assertEqual(self.client.get(count).json(), {"unread_count": 0})

    def test_logging_in_lands_on_the_inbox(self):
        response = self.client.post(reverse("account_login"), {"username": "olga", "password": "pw"})
        self.assertRedirects(response, reverse("inbox"))
