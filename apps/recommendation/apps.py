from django.apps import AppConfig


class RecommendationConfig(AppConfig):
    name = "apps.recommendation"
    label = "recommendation"
    verbose_name = "Recommendation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.recommendation.spec import SPEC
        from jobs.registry import register_app

        register_app(SPEC)

        from apps.recommendation.home import summary
        from dashboard.home import home_section_register

        home_section_register(SPEC.label, summary)
