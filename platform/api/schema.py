"""The OpenAPI schema's answer to "what can go wrong": every operation documents the errors
the API's shared layers can give it, in the one error format (``api.problems.ErrorSerializer``).

drf-spectacular documents only the statuses a view declares, so a client (or schemathesis)
reading the schema learnt of no 400, 404 or 429 anywhere, though the authentication,
permissions, throttling, parsers and lookups give them on every route. ``ApiAutoSchema`` adds
them where they can happen, keeping any a view declares itself (a refused batch's 400 says
more):

- 400 (invalid input), 401 (no or a bad key), 403 (scope, suspended tenant), 429 (rate limit)
  on every operation;
- 404 on every operation too: a path id, a filter naming an object, an unknown route;
- 402 (quota) and 409 (conflict, idempotency) on writes.

Integer path ids get the bounds of a stored id (``api.lookups.MAX_ID``). It also gives a
viewset's ``write_serializer`` (the bot's intents and articles) as the body of
its create and update operations.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from api.lookups import MAX_ID
from api.problems import ErrorSerializer

ERRORS = {
    "400": "Invalid input; `fields` names each offending field",
    "401": "No API key, or one that is invalid, expired or revoked",
    "402": "A plan's quota would be exceeded",
    "403": "The key lacks the scope, or the tenant is suspended",
    "404": "No such object (another tenant's objects answer the same)",
    "409": "Conflicts with the current state, or an idempotency key reused with another body",
    "429": "Rate limited; retry after `Retry-After` seconds",
}
WRITE_ONLY_ERRORS = ("402", "409")
WRITE_ACTIONS = ("create", "update", "partial_update")


class ApiAutoSchema(AutoSchema):
    def _resolve_path_parameters(self, variables: Any) -> list[dict[str, Any]]:
        # An integer path id (``<int:pk>``) has the bounds of a stored id.
        parameters: list[dict[str, Any]] = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if schema.get("type") == "integer":
                schema.setdefault("minimum", 0)
                schema.setdefault("maximum", MAX_ID)
        return parameters

    def get_request_serializer(self) -> Any:
        # A viewset that writes through its own serializer (``write_serializer``, read back
        # with a read-only one) has that as its create and update body: the read-only
        # serializer alone left those operations without a request body in the schema.
        write = getattr(self.view, "write_serializer", None)
        if write is not None and getattr(self.view, "action", None) in WRITE_ACTIONS:
            return write
        return super().get_request_serializer()

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/"):
            return responses
        for code, description in ERRORS.items():
            if code in WRITE_ONLY_ERRORS and self.method in ("GET", "HEAD", "OPTIONS"):
                continue
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code,
                    media_types=["application/json"], direction=direction)
        return responses


# The answers of an operation that waits on an online worker (jobs.online), for its
# ``responses``: ``{200: ..., **INFERENCE_ERRORS}``.
INFERENCE_ERRORS = {
    502: OpenApiResponse(ErrorSerializer, description="The worker could not answer (e.g. no "
                                                      "model is installed)"),
    503: OpenApiResponse(ErrorSerializer, description="No inference worker answered in time"),
}
