from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api.keys import ApiKeyViewSet
from api.views import MeView
from billing.api import InvoiceViewSet, PlanListView, SubscriptionView, UsageView
from jobs.api import DatasetViewSet, JobViewSet, ModelVersionViewSet
from webhooks.api import WebhookEndpointViewSet

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("jobs", JobViewSet, basename="job")
router.register("models", ModelVersionViewSet, basename="model-version")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("invoices", InvoiceViewSet, basename="invoice")

urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("usage", UsageView.as_view(), name="usage"),
    path("plans", PlanListView.as_view(), name="plans"),
    path("subscription", SubscriptionView.as_view(), name="subscription"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
         name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[],
                                                 authentication_classes=[]), name="docs"),
    *router.urls,
]
