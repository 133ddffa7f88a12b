from django.apps import AppConfig


class FinanceSentimentConfig(AppConfig):
    name = "apps.finance_sentiment"
    label = "finance_sentiment"
    verbose_name = "Finance sentiment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.finance_sentiment.spec import SPEC
        from jobs.registry import register_app

        register_app(SPEC)

        from apps.finance_sentiment.home import summary
        from dashboard.home import home_section_register

        home_section_register(SPEC.label, summary)
