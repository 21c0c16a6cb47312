from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "tests.shapes.people"
    label = "people"
