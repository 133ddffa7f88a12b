"""``/settings/webhooks/``: the webhook settings pages (the API is ``webhooks.api``)."""

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("settings/webhooks/", views.endpoint_list, name="endpoints"),
    path("settings/webhooks/<int:pk>/", views.endpoint_detail, name="endpoint"),
    path("settings/webhooks/<int:pk>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("settings/webhooks/<int:pk>/rotate-secret/", views.endpoint_rotate_secret,
         name="endpoint_rotate_secret"),
    path("settings/webhooks/<int:pk>/deliveries/<int:delivery_pk>/retry/",
         views.delivery_retry, name="delivery_retry"),
]
