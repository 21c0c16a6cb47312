from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "tests.shapes.notes"
    label = "notes"
    default_auto_field = "django.db.models.AutoField"
