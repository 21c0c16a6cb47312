from django.core.mail import send_mail
from django.db.models.signals import post_save
from django.dispatch import receiver

from notifications.models import Notification


@receiver(post_save, sender=Notification)
def email_the_recipient(sender, instance, created, **kwargs):
    """Every new notification is also an email, as this site always did."""
    if created and instance.recipient.email:
        send_mail(f"{instance.actor} {instance.verb}", instance.description or "", None, [instance.recipient.email])
