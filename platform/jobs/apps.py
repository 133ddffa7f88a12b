from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.sources import reserved_items_source_register, stored_bytes_source_register
        from jobs.selectors import reserved_items, stored_bytes

        # Billing is below jobs: it reads what jobs store and promise through these.
        stored_bytes_source_register(stored_bytes)
        reserved_items_source_register(reserved_items)
