"""Query-string parameters, validated by a serializer: a wrong one answers 400 naming it (the
API's one error format), like a wrong body field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


def query_params(serializer_class: type[serializers.Serializer],
                 request: Request) -> dict[str, Any]:
    """Every validated parameter, defaults included (``k``, ``days``, ...)."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def query_filters(serializer_class: type[serializers.Serializer],
                  request: Request) -> dict[str, Any]:
    """The parameters given, as queryset filters: empty and absent values are left out."""
    return {key: value for key, value in query_params(serializer_class, request).items()
            if value not in ("", None)}
