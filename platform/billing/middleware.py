"""Meters API calls: every ``/api/v1/`` request made for a tenant (API key or signed-in
member) counts one ``api_calls``, in Redis (see ``billing.metering``). Over the plan's hard
limit the request is refused with 402 in the API's error format before any work is done."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from api.errors import service_error_response
from billing.exceptions import QuotaExceeded
from billing.metering import meter_consume
from billing.models import Meter

# Documentation is free.
UNMETERED_PREFIXES = ("/api/v1/schema/", "/api/v1/docs/")


class ApiCallMeteringMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (getattr(request, "tenant", None) is not None and request.path.startswith("/api/v1/")
                and not request.path.startswith(UNMETERED_PREFIXES)):
            try:
                meter_consume(meter=Meter.API_CALLS)
            except QuotaExceeded as refusal:
                return service_error_response(refusal)
        return self.get_response(request)
