from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """Worker-side Django app: only its management commands (no models)."""

    name = "workers"
    label = "workers"
