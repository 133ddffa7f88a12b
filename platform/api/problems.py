"""The API side of ``config.problems.RowsInvalid``: one response and one schema component for
every refused batch of rows (datasets, bot imports, recommendation batches, and finance's
documents once it adopts the type).

``api.errors.exception_handler`` answers a ``RowsInvalid`` that reaches it (its body is
``api.errors.rows_invalid_body``); a view that names the offending request fields
(``items[3].title``) answers :func:`rows_invalid_response` with ``problem_fields`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response

from api.errors import rows_invalid_body, service_error_status
from config.problems import Problem, RowsInvalid


class RowProblemSerializer(serializers.Serializer):
    # One problem (config.problems.Problem). No docstring: the schema would carry it.
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer):
    # The one error format (api.errors); problems and more only when rows were refused.
    code = serializers.CharField(help_text="validation_error, not_found, invalid_rows, ...")
    message = serializers.CharField()
    request_id = serializers.CharField(required=False)
    problems = RowProblemSerializer(many=True, required=False,
                                    help_text="Refused rows: the first problems found")
    more = serializers.IntegerField(required=False, min_value=0,
                                    help_text="Refused rows: how many problems are not listed")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Added here: "fields" is an attribute of every serializer.
        fields["fields"] = serializers.DictField(
            help_text="The offending input fields, each with its messages")
        return fields


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ROWS_INVALID_RESPONSE = OpenApiResponse(
    ErrorSerializer, description="Refused (invalid fields or rows); nothing stored")


def problem_fields(problems: Iterable[Problem], *, prefix: str | None) -> dict[str, list[str]]:
    """The problems keyed as request fields: ``prefix[row].column`` for a JSON batch named
    ``prefix``, ``row N.column`` for a file's rows (``prefix`` None); a problem without a row
    is keyed by its column, or ``file``."""
    fields: dict[str, list[str]] = {}
    for problem in problems:
        column = f".{problem.column}" if problem.column else ""
        if problem.row is None:
            key = problem.column or "file"
        elif prefix is None:
            key = f"row {problem.row}{column}"
        else:
            key = f"{prefix}[{problem.row}]{column}"
        fields.setdefault(key, []).append(problem.message)
    return fields


def rows_invalid_response(error: RowsInvalid,
                          fields: dict[str, list[str]] | None = None) -> Response:
    return Response(rows_invalid_body(error, fields), status=service_error_status(error))
