"""``/usage/`` and ``/billing/``: the billing pages of the dashboard (the API is in
``billing.api``, routed by ``api.urls``)."""

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("billing/", views.billing_overview, name="overview"),
    path("billing/plan/", views.plan_change, name="plan_change"),
    path("billing/plan/confirm/", views.plan_confirm, name="plan_confirm"),
    path("billing/invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    path("billing/invoices/<int:pk>/csv/", views.invoice_csv, name="invoice_csv"),
]
