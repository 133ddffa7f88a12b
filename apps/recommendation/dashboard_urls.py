"""``/recommendations/``: the recommendation app's dashboard pages (the API is ``urls.py``)."""

from django.urls import path

from apps.recommendation import views

app_name = "recs"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/<int:pk>/", views.item_detail, name="item"),
    path("preview/", views.preview, name="preview"),
    path("train/", views.train, name="train"),
]
