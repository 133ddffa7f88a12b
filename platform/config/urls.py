from django.contrib import admin
from django.urls import include, path, re_path

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
    # Any other /api/ path: the API's JSON 404 in every mode (DEBUG's technical 404 page is
    # HTML and lists the URL patterns).
    re_path(r"^api/", include("api.fallback_urls")),
]

handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"

# No media route, in any mode: uploaded datasets and model artefacts are private to their
# tenant and are read only through the download views (jobs.api), which check tenant and role.
