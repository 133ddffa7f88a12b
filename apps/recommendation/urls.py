"""``/api/v1/``: items, end users, events and serving (included by ``config.urls``; the
platform's API package does not import the applications)."""

from django.urls import path, register_converter
from rest_framework.routers import SimpleRouter

from api.lookups import external_id_converter
from apps.recommendation import api
from apps.recommendation.experiments.api import ExperimentViewSet
from apps.recommendation.models import EXTERNAL_ID_LENGTH
from apps.recommendation.rules.api import RuleViewSet

app_name = "recs_api"
register_converter(external_id_converter(EXTERNAL_ID_LENGTH), "external_id")

router = SimpleRouter(trailing_slash=False)
router.register("items", api.ItemViewSet, basename="item")
router.register("end-users", api.EndUserViewSet, basename="end-user")
router.register("recommendations/experiments", ExperimentViewSet, basename="experiment")
router.register("recommendations/rules", RuleViewSet, basename="rule")

urlpatterns = [
    path("events", api.EventsView.as_view(), name="events"),
    path("events/upload", api.EventsUploadView.as_view(), name="events_upload"),
    path("recommendations/users/<external_id:external_id>", api.UserRecommendationsView.as_view(),
         name="user_recommendations"),
    path("recommendations/rerank", api.RerankView.as_view(), name="rerank"),
    path("recommendations/trending", api.TrendingView.as_view(), name="trending"),
    path("recommendations/ctr", api.CtrView.as_view(), name="ctr"),
    *router.urls,
]
