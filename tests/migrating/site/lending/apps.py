from django.apps import AppConfig


class LendingConfig(AppConfig):
    name = "lending"

    def ready(self) -> None:
        from lending import receivers  # noqa: F401
