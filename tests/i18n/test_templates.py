"""Every template's user-visible text is inside a translation tag (scanner.py says what counts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.i18n.scanner import untranslated_text

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
TEMPLATES = sorted(path.relative_to(TEMPLATES_DIR)
                   for path in TEMPLATES_DIR.rglob("*") if path.suffix in (".html", ".txt"))


@pytest.mark.parametrize("template", TEMPLATES, ids=str)
def test_template_text_is_marked_for_translation(template: Path) -> None:
    found = untranslated_text((TEMPLATES_DIR / template).read_text(encoding="utf-8"))
    assert not found, f"{template}: text outside {{% translate %}}: {found}"


def test_the_scanner_finds_unmarked_text_and_attributes() -> None:
    source = """{% load i18n %}<h1>Models</h1>
      <input placeholder="Search" value="{{ query }}"><img alt="Chart">
      <a title="{% translate 'Open' %}" href="/x">{{ name }}: Open</a>
      {% include "partials/field.html" with label="Expires on" %}{{ value|default:"None yet" }}"""
    assert untranslated_text(source) == [
        "{literal} Expires on", "{literal} None yet", "Models", "<input placeholder> Search",
        "<img alt> Chart", ": Open"]


def test_the_scanner_accepts_translated_text_code_scripts_and_brands() -> None:
    source = """{% load i18n %}{# a comment #}{% comment %}Draft{% endcomment %}
      <title>{% block title %}{% translate "Jobs" %}{% endblock %} · AI Platform</title>
      <p>{% blocktranslate trimmed count n=jobs|length %}One job{% plural %}{{ n }} jobs
      {% endblocktranslate %}</p><code>aip_key</code><pre>curl -H "Bearer"</pre>
      <script>const label = "Loss";</script><style>.x:after { content: "x"; }</style>
      {% include "partials/field.html" with field=form.name label=_("Name") %}
      <span class="badge {% if ok %}badge-success{% endif %}">{{ _("Done") }} · 42 %</span>"""
    assert untranslated_text(source) == []
