"""The API's JSON parser: refuses, as a 400, the bodies that parse but cannot be used.

- Nested deeper than ``MAX_DEPTH`` arrays and objects: Python's decoder recurses, so
  ``[`` × 5000 raised ``RecursionError`` (not a ``ValueError``, hence a 500), and what parses
  only just is recursed through again by every serializer and by ``json.dumps`` on the way to
  PostgreSQL. No body of this API nests deeper than a few levels; 64 leaves tenants' own
  attribute objects room.
- A NUL character in any string or key: PostgreSQL stores none (neither ``text`` nor
  ``jsonb``), so an attribute value or a context key with ``\\u0000`` became a database error.
  The refusal names the field, e.g. ``items[0].attributes.colour``; a key with a NUL is named
  by the object that holds it.

Both checks walk the parsed body once, without recursion.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_DEPTH = 64
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


def _too_deep() -> ParseError:
    return ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def check_json(data: Any) -> Any:
    """``data`` itself when it nests at most ``MAX_DEPTH`` levels and holds no NUL character;
    else a ``ParseError`` (depth) or a ``ValidationError`` naming the field (NUL)."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationError({path or "body": [NUL_MESSAGE]})
            continue
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for key, child in children:
            if isinstance(key, str) and "\x00" in key:
                raise ValidationError({path or "body": [f"a key {NUL_MESSAGE}"]})
            pending.append((child, _path(path, key), depth + 1))
    return data


def load_json(stream: Any, encoding: str = "utf-8") -> Any:
    """Parse a JSON request body and :func:`check_json` it."""
    try:
        data = json.load(codecs.getreader(encoding)(stream))
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ParseError(f"JSON parse error - {error}") from error
    return check_json(data)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with :func:`check_json`'s refusals."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        context = parser_context or {}
        return load_json(stream, context.get("encoding", settings.DEFAULT_CHARSET))
