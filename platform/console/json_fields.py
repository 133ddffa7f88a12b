"""JSON fields in the console: read-only and pretty-printed.

Django's admin shows a JSON field as one compact line (a job's parameters, a delivery's
payload) and, where the page is editable, as a textarea a staff member could break. The
console site (``ConsoleSite.register``) gives every model admin this mixin, so each JSON field
is a read-only ``<pre>`` of indented, key-sorted JSON, whatever app registered the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

SUFFIX = "_pretty"


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="console-json">{}</pre>', text)


def _display(field: models.JSONField) -> Callable[[Any], SafeString]:
    @admin.display(description=str(field.verbose_name))
    def show(obj: Any) -> SafeString:
        return pretty_json(getattr(obj, field.name))

    return show


class PrettyJSONAdminMixin:
    """Replaces each JSON field of the model by a read-only, pretty-printed display."""

    model: type[models.Model]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_fields = [field.name for field in self.model._meta.get_fields()
                            if isinstance(field, models.JSONField)]
        for field in self.model._meta.get_fields():
            if isinstance(field, models.JSONField):
                setattr(self, field.name + SUFFIX, _display(field))

    def _swap(self, names: Sequence[Any]) -> list[Any]:
        return [name + SUFFIX if isinstance(name, str) and name in self.json_fields else name
                for name in names]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        fields = self._swap(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return [*fields, *(name + SUFFIX for name in self.json_fields
                           if name + SUFFIX not in fields)]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        return [*(super().get_exclude(request, obj) or ()),  # type: ignore[misc]
                *self.json_fields]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[Any]:
        fields = self._swap(super().get_fields(request, obj))  # type: ignore[misc]
        return list(dict.fromkeys(fields))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = super().get_fieldsets(request, obj)  # type: ignore[misc]
        swapped = []
        for name, options in fieldsets:
            fields = [tuple(self._swap(row)) if isinstance(row, list | tuple) else
                      self._swap([row])[0] for row in options.get("fields", ())]
            swapped.append((name, {**options, "fields": list(dict.fromkeys(fields))}))
        return swapped
