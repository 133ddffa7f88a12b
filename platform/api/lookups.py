"""Path ids: every numeric lookup matches ``ID_PATTERN`` and ids in bodies and queries stay at
most ``MAX_ID`` (PostgreSQL's bigint), so an out-of-range id is a 404 or a 400 naming the field,
never a database error.

A tenant's own ids (an ``external_id``) match :func:`external_id_pattern`: no longer than the
column that stores them and no control character. PostgreSQL refuses a NUL in any string, so
``/items/%00`` reached the database and answered 500; now it matches no route and is the API's
JSON 404, as is an id longer than any stored one.
"""

from __future__ import annotations

ID_PATTERN = r"[0-9]+"
MAX_ID = 2**63 - 1


def external_id_pattern(max_length: int) -> str:
    """The route pattern of an external id stored in a column of ``max_length``."""
    return rf"[^/\x00-\x1f\x7f]{{1,{max_length}}}"


def external_id_converter(max_length: int) -> type:
    """A path converter (``register_converter(..., "external_id")``) for ``path()`` routes."""

    class ExternalIdConverter:
        regex = external_id_pattern(max_length)

        def to_python(self, value: str) -> str:
            return value

        def to_url(self, value: str) -> str:
            return value

    return ExternalIdConverter
