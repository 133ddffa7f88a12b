from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("console/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("api/v1/finance/", include("apps.finance_sentiment.urls")),
    path("api/v1/bot/", include("apps.support_bot.urls")),
    path("api/v1/", include("apps.recommendation.urls")),
    path("accounts/", include("accounts.urls")),
    path("finance/", include("apps.finance_sentiment.dashboard_urls")),
    path("bot/", include("apps.support_bot.dashboard_urls")),
    path("recommendations/", include("apps.recommendation.dashboard_urls")),
    path("", include("jobs.urls")),
    path("", include("billing.dashboard_urls")),
    path("", include("webhooks.dashboard_urls")),
    path("", include("dashboard.urls")),
]

handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
