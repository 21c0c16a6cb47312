from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The demo site's own models (tasks), pages and commands."""

    name = "project"
    verbose_name = "Demo site"
    default_auto_field = "django.db.models.BigAutoField"
