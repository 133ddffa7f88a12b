"""Refuses, before any view, an ``/api/`` query string with a NUL character.

PostgreSQL stores and compares no string holding NUL, so a query parameter read as it stands
(``/bot/articles?search=%00``) was a database error and a 500; parameters read through a
serializer were already refused by DRF's ``CharField``. One check here covers both, answering
the API's 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from api.errors import error_body
from api.parsers import NUL_MESSAGE


class QueryStringMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            bad = sorted({name for name, values in request.GET.lists()
                          if "\x00" in name or any("\x00" in value for value in values)})
            if bad:
                fields = {name.replace("\x00", "\\u0000"): [NUL_MESSAGE] for name in bad}
                return JsonResponse(error_body("validation_error", "Some query parameters are "
                                               "invalid: " + ", ".join(fields), fields),
                                    status=400)
        return self.get_response(request)
