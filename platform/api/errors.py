"""One error format for the whole API::

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]},
               "request_id": "6f1c..."}}

Some errors add keys beside these, e.g. a refused quota (402)::

    {"error": {"code": "quota_exceeded", "message": "...", "fields": {},
               "meter": "items_inferred", "used": "9990", "limit": "10000", "requested": "32"}}

``code`` is stable and machine-readable; ``message`` is for people; ``fields`` names the
offending input fields (empty when the error is not about a field); ``request_id`` is the
request's ``X-Request-ID`` (the caller's, or one made for it), the key to its log lines. It is
there on every error an HTTP request gets; a body built outside a request has none.

Every error under ``/api/`` answers in this format in every mode, ``DEBUG`` included: an
exception no handler expected is a 500 ``server_error`` whose message names nothing internal
(no exception text, traceback or path); the traceback goes to the log under the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from config.errors import ServiceError
from config.logging import current_request_id
from config.problems import RowsInvalid
from tenancy.context import TenantContextMissing

# Django's own logger of unhandled exceptions, so that they are logged as Django logs its own.
request_logger = logging.getLogger("django.request")

SERVER_ERROR_MESSAGE = "Internal server error."

_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "validation_error",
}


# The HTTP status of a service's refusal, by its code: services say what went wrong, the API
# alone says how HTTP spells it. A code not listed is a 400.
SERVICE_ERROR_STATUS = {
    "conflict": status.HTTP_409_CONFLICT,
    "idempotency_conflict": status.HTTP_409_CONFLICT,
    "nothing_to_score": status.HTTP_409_CONFLICT,
    "quota_exceeded": status.HTTP_402_PAYMENT_REQUIRED,
}


def service_error_status(error: ServiceError) -> int:
    return SERVICE_ERROR_STATUS.get(error.code, status.HTTP_400_BAD_REQUEST)


class ApiError(exceptions.APIException):
    """A domain error with its own code, e.g. ``ApiError(409, "conflict", "...")``."""

    def __init__(self, status_code: int, code: str, message: str,
                 fields: dict[str, Any] | None = None, *,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}
        self.details = details or {}  # extra keys beside code/message/fields (e.g. a quota's)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return {"error": body}


def service_error_response(error: ServiceError) -> JsonResponse:
    """A service's refusal answered outside a DRF view (a middleware): the same body and
    status as ``exception_handler`` gives it inside one."""
    body = error_body(error.code, str(error), error.fields)
    body["error"].update(error.details)
    return JsonResponse(body, status=service_error_status(error))


def rows_invalid_body(error: RowsInvalid,
                      fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The error body of refused rows: the one format plus ``problems`` and ``more``."""
    body = error_body(error.code, error.api_message, fields)
    body["error"]["problems"] = [problem.as_dict() for problem in error.problems]
    body["error"]["more"] = error.more
    return body


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TenantContextMissing):
        exc = exceptions.NotAuthenticated()
    elif isinstance(exc, RowsInvalid):  # refused rows: the problems beside the error
        set_rollback()
        return Response(rows_invalid_body(exc, exc.fields or None),
                        status=service_error_status(exc))
    elif isinstance(exc, ServiceError):  # a service's refusal: its code, status and fields
        exc = ApiError(service_error_status(exc), exc.code, str(exc), exc.fields,
                       details=exc.details)
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiError(400, "request_too_large",
                       "The request body is larger than this endpoint accepts; upload large "
                       "data as a file.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), exc.fields)
        response.data["error"].update(exc.details)
        return response
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        if isinstance(detail, dict):
            fields = {k: v for k, v in detail.items() if k != "non_field_errors"}
            general = detail.get("non_field_errors")
            message = general[0] if general else "Some fields are invalid: " + ", ".join(fields)
        else:
            fields, message = {}, "; ".join(detail) if isinstance(detail, list) else str(detail)
        response.data = error_body(code, message, fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, str(detail))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    return response


def _server_error(exc: Exception, context: dict[str, Any]) -> Response:
    """An exception no handler expected, raised in an API view: logged with its traceback, and
    announced the way Django announces its own (``got_request_exception``: error reporters,
    and the test client, which re-raises it), then answered as JSON in every mode; DEBUG's
    technical 500 page would be HTML full of paths and settings."""
    set_rollback()
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    path = getattr(django_request, "path", "")
    request_logger.error("Internal Server Error: %s", path, exc_info=exc,
                         extra={"status_code": 500, "request": django_request})
    got_request_exception.send(sender=None, request=django_request)
    return Response(error_body("server_error", SERVER_ERROR_MESSAGE),
                    status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


@csrf_exempt  # a POST to a mistyped path is a JSON 404, not the CSRF failure page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any /api/ path that no view matched (api.fallback_urls), in every mode."""
    return _json_error(404, "not_found", "Not found.")


# Django-level handlers (wired in config.urls): errors raised outside DRF views still answer
# in the API's format under /api/ (handler500 is Django's only with DEBUG off; API views'
# own exceptions are answered by exception_handler above in every mode).
def handler404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if request.path.startswith("/api/"):
        return _json_error(404, "not_found", "Not found.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> Any:
    if request.path.startswith("/api/"):
        return _json_error(500, "server_error", SERVER_ERROR_MESSAGE)
    from django.views.defaults import server_error

    return server_error(request)
