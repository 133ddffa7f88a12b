"""Finds the user-visible text of a Django template that no translation tag covers.

The template is lexed by Django's own lexer: ``{% translate %}`` and whole
``{% blocktranslate %}…{% endblocktranslate %}`` blocks count as translated, comments are
dropped, every other tag or variable is an opaque value. What is left is HTML, read by
``html.parser``: its text (outside ``<script>``, ``<style>`` and code elements) and the
attributes a person reads or hears (``title``, ``placeholder``, ``aria-label``, ``alt``, a
button's ``value``) must contain no letters. String literals handed to ``{% include … with %}``
and to ``|default:`` are text too, unless wrapped in ``_()``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.template.base import Lexer, TokenType

TRANSLATED = "\x01"
OPAQUE = "\x02"
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description",
                      "data-confirm"}
# Not prose: markup, scripts and code samples keep their own language.
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "kbd", "samp"}
# Brand and metric names, the same in every language.
BRANDS = re.compile(r"\bAI Platform\b|^\s*AI\s*$|\b(NDCG|Recall|Precision)@\d+\b")
LETTER = re.compile(r"[^\W\d_]")
_TRANSLATION_BLOCKS = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans",
                       "comment": "endcomment"}
_LITERAL = re.compile(r"""(_\()?("[^"]*"|'[^']*')""")
_LITERAL_CARRIERS = re.compile(r"""(?:\bwith\b|\w+=|\|default(?:_if_none)?:)""")


# A CSS class a block hands to the layout ({% block nav_jobs %}is-active{% endblock %}).
CSS_CLASS = re.compile(r"\s*[a-z]+(-[a-z]+)+\s*")


def _has_letters(text: str) -> bool:
    return bool(LETTER.search(BRANDS.sub("", text))) and not CSS_CLASS.fullmatch(text)


def _literals(contents: str) -> list[str]:
    """Untranslated string literals a tag or variable shows: ``with label="Name"``,
    ``|default:"None"``; names of templates, URLs and CSS classes are not text."""
    if not _LITERAL_CARRIERS.search(contents):
        return []
    found = []
    for match in _LITERAL.finditer(contents):
        prefix = contents[: match.start()]
        if match.group(1) or not re.search(r"(\w+=|\|default(?:_if_none)?:)\s*$", prefix):
            continue
        text = match.group(2)[1:-1]
        if _has_letters(text) and (" " in text or text[:1].isupper()):
            found.append(text)
    return found


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.found: list[str] = []

    def _check(self, text: str | None, where: str = "") -> None:
        for piece in re.split(f"[{TRANSLATED}{OPAQUE}]", text or ""):
            if _has_letters(piece):
                self.found.append(f"{where}{' '.join(piece.split())}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES or (
                    name == "value" and tag in ("input", "button")
                    and attributes.get("type") in ("submit", "button", "reset")):
                self._check(value, f"<{tag} {name}> ")
        if tag in SKIPPED_ELEMENTS:
            self.skipping.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._check(data)


def untranslated_text(source: str) -> list[str]:
    """The pieces of ``source`` a reader would see in English whatever their language."""
    html: list[str] = []
    found: list[str] = []
    closing: str | None = None
    for token in Lexer(source).tokenize():
        if closing is not None:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == closing:
                html.append(TRANSLATED if closing != "endcomment" else "")
                closing = None
            continue
        if token.token_type == TokenType.TEXT:
            html.append(token.contents)
        elif token.token_type == TokenType.COMMENT:
            continue
        else:
            name = token.contents.split()[0] if token.contents.split() else ""
            if name in _TRANSLATION_BLOCKS:
                closing = _TRANSLATION_BLOCKS[name]
                continue
            translated = name in ("translate", "trans") or (
                token.token_type == TokenType.VAR and token.contents.startswith("_("))
            html.append(TRANSLATED if translated else OPAQUE)
            found.extend(f"{{literal}} {text}" for text in _literals(token.contents))
    parser = _VisibleText()
    parser.feed("".join(html))
    parser.close()
    return found + parser.found
