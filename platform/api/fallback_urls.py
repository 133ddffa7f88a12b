"""Mounted last under ``/api/`` by ``config.urls``: any path no API view matched answers the
API's JSON 404 in every mode (with ``DEBUG`` on, Django's own 404 page is HTML listing the URL
patterns)."""

from django.urls import re_path

from api.errors import api_not_found

urlpatterns = [re_path(r"", api_not_found)]
