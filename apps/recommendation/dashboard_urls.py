"""``/recommendations/``: the recommendation app's dashboard pages (the API is ``urls.py``)."""

from django.urls import path

from apps.recommendation import uploads, views
from apps.recommendation.experiments import views as experiments
from apps.recommendation.rules import views as rules

app_name = "recs"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/<int:pk>/", views.item_detail, name="item"),
    path("preview/", views.preview, name="preview"),
    path("train/", views.train, name="train"),
    path("upload/", uploads.csv_upload, name="upload"),
    path("experiments/", experiments.experiment_list, name="experiments"),
    path("experiments/<int:pk>/", experiments.experiment_detail, name="experiment"),
    path("experiments/<int:pk>/stop/", experiments.experiment_stop, name="experiment_stop"),
    path("experiments/<int:pk>/promote/", experiments.experiment_promote,
         name="experiment_promote"),
    path("rules/", rules.rule_list, name="rules"),
    path("rules/<int:pk>/delete/", rules.rule_delete, name="rule_delete"),
]
