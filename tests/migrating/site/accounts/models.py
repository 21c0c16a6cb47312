from django.contrib.auth.models import AbstractUser
from django.db import models


class Member(AbstractUser):
    """A library member; the site's own user model."""

    branch = models.CharField(max_length=100, blank=True)
