from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views import MeView

app_name = "api"

urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
         name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[],
                                                 authentication_classes=[]), name="docs"),
]
