"""Small text helpers shared by the web tier and the workers (no model code)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

_WORDS = re.compile(r"\w+", re.UNICODE)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def word_count(text: str) -> int:
    return len(_WORDS.findall(text))


# ``{name}``, or a doubled brace for a literal one. Nothing else: no format specs
# (``{intent:>999999999}`` would allocate gigabytes), conversions, attributes or indexes
# (``{user.__class__}``), which ``str.format`` would all honour.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
# A reply is a chat message: the longest a template may render to, whatever the variables.
MAX_RENDERED_CHARS = 5000


def template_variables(template: str) -> list[str]:
    """The ``{name}`` variables a template uses (``ValueError`` for anything else in braces)."""
    names = []
    for match in _TEMPLATE_TOKEN.finditer(template):
        piece = match.group(0)
        if match.group(1) is not None:
            names.append(match.group(1))
        elif piece in ("{", "}"):
            end = template.find("}", match.start())
            shown = template[match.start():end + 1] if piece == "{" and end != -1 else piece
            raise ValueError(f"'{shown[:40]}' is not a variable: use {{name}} (letters, digits "
                             "and underscores only), or double the brace for a literal brace")
    return names


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Fill ``{name}`` variables; unknown ones are left as written, never an error. The
    result is cut at ``MAX_RENDERED_CHARS``."""

    def replace(match: re.Match[str]) -> str:
        piece = match.group(0)
        name = match.group(1)
        if name is not None:
            return str(variables[name]) if name in variables else piece
        return piece[0] if piece in ("{{", "}}") else piece

    rendered = _TEMPLATE_TOKEN.sub(replace, template)
    return rendered[:MAX_RENDERED_CHARS]


# A sentence ends at ., ! or ? followed by space and a character that is not a lower-case
# letter ("E.g. on Sundays" goes on), at a CJK full stop, or at a line break; decimals
# ("0.5%") never end one, no space follows their dot.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?![a-z])|(?<=[。！？])\s*|\n+")
SENTENCE_MAX_CHARS = 1_000
SENTENCES_PER_ARTICLE = 40


def sentences_split(text: str) -> list[str]:
    """The sentences of an article's answer, stripped, empty ones dropped, each cut at
    ``SENTENCE_MAX_CHARS`` and at most ``SENTENCES_PER_ARTICLE`` of them (a 20,000-character
    answer must not cost a thousand vectors)."""
    pieces = (" ".join(piece.split()) for piece in _SENTENCE_END.split(text))
    return [piece[:SENTENCE_MAX_CHARS] for piece in pieces if piece][:SENTENCES_PER_ARTICLE]
