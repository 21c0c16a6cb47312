# Reproduces django-notifications' migration of the same name, so a site
# upgrading from django-notifications-hq (0009) or -community (0013) keeps its
# migration history and only applies what follows.
from django.db import models, migrations
from django.utils import timezone


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0003_notification_data'),
    ]

    operations = [
        migrations.AlterField(
            model_name='notification',
            name='timestamp',
            field=models.DateTimeField(default=timezone.now),
        ),
    ]
