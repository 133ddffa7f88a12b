"""``manage.py makemessages -l zh_Hans``: Django's command over the platform's own code only.

The repository also holds datasets (``data/``, whose ``.txt`` files xgettext would read as
templates), benchmarks, tests and docs; none has user-visible text. Locations are written
per file, without line numbers, so that moving code does not rewrite the whole catalog, and
strings no longer in the code are dropped rather than kept as obsolete entries.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import makemessages

NOT_TRANSLATED = ["data", "bench", "docs", "docker", "static", "staticfiles", "tests"]


class Command(makemessages.Command):
    def handle(self, *args: Any, **options: Any) -> str | None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *NOT_TRANSLATED]
        options["no_obsolete"] = True
        if options.get("add_location") is None:
            options["add_location"] = "file"
        return super().handle(*args, **options)
