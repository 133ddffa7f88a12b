"""``manage.py compilemessages``: Django's command over the platform's catalogs only.

Django's walks the whole tree for ``locale`` folders, the virtual environment's packages
included (it would rewrite their ``.mo`` files); here hidden folders (``.venv``, ``.data``)
and the folders makemessages skips are left out.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import compilemessages

from console.management.commands.makemessages import NOT_TRANSLATED


class Command(compilemessages.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), ".*", *NOT_TRANSLATED]
        super().handle(*args, **options)
