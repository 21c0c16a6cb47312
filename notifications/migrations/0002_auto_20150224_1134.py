# Reproduces django-notifications' migration of the same name, so a site
# upgrading from django-notifications-hq (0009) or -community (0013) keeps its
# migration history and only applies what follows.
from django.db import models, migrations


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='notification',
            name='deleted',
            field=models.BooleanField(default=False),
            preserve_default=True,
        ),
        migrations.AddField(
            model_name='notification',
            name='emailed',
            field=models.BooleanField(default=False),
            preserve_default=True,
        ),
    ]
