"""Small text helpers shared by the web tier and the workers (no model code)."""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from typing import Any

_WORDS = re.compile(r"\w+", re.UNICODE)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def word_count(text: str) -> int:
    return len(_WORDS.findall(text))


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_variables(template: str) -> list[str]:
    """The ``{name}`` variables a template uses (``ValueError`` when its braces are broken)."""
    names = []
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            if not field_name.isidentifier():
                raise ValueError(f"'{{{field_name}}}' is not a variable name; use {{name}}, or "
                                 "double the braces for a literal brace")
            names.append(field_name)
    return names


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Fill ``{name}`` variables; unknown ones are left as written, never an error."""
    return string.Formatter().vformat(template, (), _KeepMissing(
        {key: str(value) for key, value in variables.items()}))
