from django.apps import AppConfig


class SupportBotConfig(AppConfig):
    name = "apps.support_bot"
    label = "support_bot"
    verbose_name = "Customer-service bot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.support_bot.spec import SPEC
        from jobs.registry import register_app

        register_app(SPEC)

        from apps.support_bot.home import summary
        from dashboard.home import home_section_register

        home_section_register(SPEC.label, summary)
